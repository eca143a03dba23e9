"""Every flag has the effect it names: seen in config.toml, trials.csv, metrics.json or the output, not just exit 0."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pandas as pd
import pytest
from conftest import interrupt_inside_fit, make_reviews, write_csv

from rnnsweep.tuning import trial_process
from rnnsweep.tuning.cli import main

FIXTURES = Path(__file__).parent / "fixtures"
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}


@pytest.mark.slow
def test_run_flags_reach_the_settings_the_sweep_and_the_retraining(tmp_path, monkeypatch, capfd):
    monkeypatch.chdir(tmp_path)
    write_csv(tmp_path / "r.csv", make_reviews(300))
    isolated = []
    real_run = trial_process.subprocess.run

    def recording_run(command, *args, **kwargs):
        isolated.append(command)
        return real_run(command, *args, **kwargs)

    monkeypatch.setattr(trial_process.subprocess, "run", recording_run)
    argv = [
        "-q",
        "run",
        "--data",
        "r.csv",
        "--preset",
        "womens-clothing",
        "--embeddings",
        "learned",
        "--name",
        "flagged",
        "--architectures",
        "gru1",
        "--max-trials",
        "1",
        "--epochs",
        "1",
        "--max-rows",
        "200",
        "--objective",
        "val_loss",
        "--batch-size",
        "16",
        "--seed",
        "7",
        "--tensorboard",
        "--isolate-trials",
        "--workers",
        "1",
        "--retrain-top",
        "1",
        "--retrain-epochs",
        "2",
        "--retrain-patience",
        "1",
        "--retrain-seeds",
        "1,2",
        "--retrain-no-ensemble",
    ]
    capfd.readouterr()
    assert main(argv) == 0
    out, err = capfd.readouterr()
    run_dir = tmp_path / "runs" / "flagged"  # --name
    assert out.strip() == str(Path("runs") / "flagged" / "report" / "index.html")
    assert err == ""  # -q: warnings and errors only
    config = tomllib.loads((run_dir / "config.toml").read_text())
    assert config["data"]["max_rows"] == 200
    assert {k: config["search"][k] for k in ("objective", "batch_size", "seed", "tensorboard", "isolate_trials")} == {
        "objective": "val_loss",
        "batch_size": 16,
        "seed": 7,
        "tensorboard": True,
        "isolate_trials": True,
    }
    assert {k: config["retrain"][k] for k in ("top", "epochs", "patience", "seeds", "ensemble")} == {
        "top": 1,
        "epochs": 2,
        "patience": 1,
        "seeds": [1, 2],
        "ensemble": False,
    }
    summary = json.loads((run_dir / "data" / "summary.json").read_text())
    assert summary["rows_used"] == 200 < summary["rows_read"] and summary["rows_dropped"]["sampled_out"] > 0
    trials = pd.read_csv(run_dir / "trials.csv")
    assert trials["objective_name"].tolist() == ["val_loss"]
    assert trials["objective"].iloc[0] == pytest.approx(json.loads(trials["history_val_loss"].iloc[0])[0])
    # The trial ran in its own process (the other subprocesses draw the live report's pages).
    assert len([command for command in isolated if trial_process.MODULE in command]) == 1
    assert any((run_dir / "tensorboard").rglob("events.out.tfevents.*"))
    (model,) = (run_dir / "models").iterdir()  # --retrain-top 1: one model, named by its trial
    assert model.name == "gru1_trial_0"
    metrics = json.loads((model / "metrics.json").read_text())
    assert set(metrics["seeds"]) == {"1", "2"} and metrics["ensemble"] is False
    assert set(metrics["candidates_validation_scores"]) == {"seed 1", "seed 2"}  # no average
    assert metrics["selection_objective"] == "val_loss"
    history = json.loads((model / "history.json").read_text())
    assert history["epochs"] <= 2


@pytest.mark.slow
def test_predict_text_column_and_verbose_and_quiet(tmp_path):
    source = tmp_path / "in.csv"
    pd.DataFrame({"body": ["great lovely dress", "awful cheap"], "id": [1, 2]}).to_csv(source, index=False)
    export = str(FIXTURES / "legacy_export.keras")
    base = [sys.executable, "-m", "rnnsweep"]
    env = {**ENV, "TF_CPP_MIN_LOG_LEVEL": "0"}  # TensorFlow's own start-up lines, for -v to show
    quiet = subprocess.run([*base, "predict", export, "--input", str(source), "--text-column", "body"], **_run(env))
    assert quiet.returncode == 0, quiet.stderr
    printed = pd.read_csv(pd.io.common.StringIO(quiet.stdout))
    assert printed["text"].tolist() == ["great lovely dress", "awful cheap"]  # the body column's texts
    assert quiet.stderr == ""  # the libraries' lines went to no terminal
    verbose = subprocess.run([*base, "-v", "predict", export, "lovely"], **_run(env))
    assert verbose.returncode == 0 and "I0000" in verbose.stderr  # -v: TensorFlow's C++ lines shown
    write_csv(tmp_path / "r.csv", make_reviews(60))
    data = ["data", "--data", str(tmp_path / "r.csv"), "--preset", "womens-clothing", "--embeddings", "learned"]
    loud = subprocess.run([*base, *data, "--output", str(tmp_path / "a")], **_run(ENV))
    hushed = subprocess.run([*base, "-q", *data, "--output", str(tmp_path / "b")], **_run(ENV))
    assert "data: 60 rows read" in loud.stderr and hushed.stderr == ""  # -q: no progress lines


def _run(env):
    return {"capture_output": True, "text": True, "env": env, "timeout": 300}


@pytest.mark.slow
def test_ctrl_c_mid_trial_exits_130_and_the_same_command_resumes(tmp_path):
    write_csv(tmp_path / "r.csv", make_reviews(300))
    command = [sys.executable, "-m", "rnnsweep", "tune", "--data", str(tmp_path / "r.csv"), "--preset"]
    command += ["womens-clothing", "--embeddings", "learned", "--architectures", "gru1", "--max-trials", "2"]
    command += ["--epochs", "30", "--workers", "1", "--output", str(tmp_path / "run")]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not list((tmp_path / "run" / "search" / "gru1").glob("trial_*")):
        time.sleep(0.2)
    time.sleep(2)  # inside the first trial's epochs
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err[-2000:]
    assert err.strip().splitlines()[-1] == "rnnsweep: interrupted; re-run the same command to resume"
    assert "Traceback" not in err
    resumed = subprocess.run(command, **_run(ENV))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    trials = pd.read_csv(tmp_path / "run" / "trials.csv")
    assert trials["status"].tolist() == ["COMPLETED", "COMPLETED"]  # the interrupted trial was not failed


def test_the_command_answers_a_disguised_ctrl_c_with_130(tmp_path, monkeypatch, capfd):
    # A SIGINT landing in TensorFlow's C++ tensor conversion comes out as a TypeError: the
    # command still stops with 130, and the trial is not counted as failed.
    monkeypatch.chdir(tmp_path)
    write_csv(tmp_path / "r.csv", make_reviews(120))
    interrupt_inside_fit(monkeypatch, disguise=True)
    argv = ["tune", "--data", "r.csv", "--preset", "womens-clothing", "--embeddings", "learned"]
    argv += ["--architectures", "gru1", "--max-trials", "1", "--epochs", "1", "--workers", "1", "--output", "run"]
    assert main(argv) == 130
    err = capfd.readouterr().err
    assert err.strip().splitlines()[-1] == "rnnsweep: interrupted; re-run the same command to resume"
    assert "failed" not in err


@pytest.mark.slow
@pytest.mark.parametrize("objective", ["val_accuracy"])
def test_a_sweep_ranks_by_another_objective(tmp_path, objective):
    from rnnsweep.tuning.config import load_config
    from rnnsweep.tuning.pipeline import tune_stage

    path = write_csv(tmp_path / "r.csv", make_reviews(200))
    values = {"data": {"preset": "womens-clothing", "path": str(path), "embeddings": "learned"}}
    search = {"architectures": ["gru1"], "max_trials": 2, "epochs": 1, "objective": objective}
    search["space"] = {"units": [8], "learning_rate": [0.01, 0.001]}
    table = tune_stage(load_config(None, {**values, "search": search}), tmp_path / "run", workers=1)
    assert (table["objective_name"] == objective).all()
    for _, row in table.iterrows():  # the score is the best epoch's validation accuracy
        assert row["objective"] == pytest.approx(max(json.loads(row[f"history_{objective}"])))
