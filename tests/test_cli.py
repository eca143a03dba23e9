"""The command line: help, exit codes, end to end on tiny data, and kill-and-resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import make_reviews, write_csv

from rnnsweep.tuning.cli import build_parser, main

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}


def rnnsweep(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "rnnsweep", *args], capture_output=True, text=True, env=ENV, **kwargs)


def test_help_lists_every_option_with_defaults(capsys):
    parser = build_parser()
    for command in ("data", "tune", "retrain", "report", "predict", "run"):
        with pytest.raises(SystemExit) as exit_info:
            parser.parse_args([command, "--help"])
        assert exit_info.value.code == 0
        text = capsys.readouterr().out
        assert "usage: rnnsweep " + command in text
        assert "(default: None)" not in text, text
        if command in ("tune", "run"):
            assert "(default: auto)" in text and "(default: 3)" in text
    parser.parse_args(["tune", "--max-trials", "3"])  # parses
    with pytest.raises(SystemExit):
        parser.parse_args(["tune", "--tuner", "grid"])


@pytest.mark.parametrize(
    "argv,message",
    [
        (["data", "--data", "missing.csv"], "missing.csv: no such file"),
        (
            ["tune", "--data", "r.csv", "--preset", "womens-clothing", "--architectures", "lstm,transformer"],
            "Received: architectures='transformer'",
        ),
        (["data", "--data", "r.csv", "--text-column", "body"], "no text column 'body'"),
        (["data", "--config", "nope.toml"], "nope.toml: no such config file"),
        (["report", "no_run_here"], "no data/summary.json"),
        (["retrain", "no_run_here"], "no config.toml"),
        (["predict", "none.keras", "some text"], "no such model file"),
        (["tune", "--data", "r.csv", "--preset", "womens-clothing", "--workers", "0"], "Received: workers=0"),
        (["run", "--data", "r.csv", "--preset", "womens-clothing", "--workers", "many"], "Received: workers='many'"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    write_csv(tmp_path / "r.csv", make_reviews(60))
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and "Traceback" not in err[0]
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("data/summary.json"))


def test_run_end_to_end_in_a_subprocess(tmp_path):
    data = write_csv(tmp_path / "reviews.csv", make_reviews(300))
    config = tmp_path / "sweep.toml"
    config.write_text(
        '[data]\npreset = "womens-clothing"\n'
        '[search]\narchitectures = ["lstm", "bilstm"]\nmax_trials = 1\nepochs = 1\n'
        "[search.space]\nunits = [8]\nlearning_rate = [0.01]\n"
        "[retrain]\nepochs = 1\npatience = 1\n"
    )
    result = rnnsweep(
        "run", "--config", str(config), "--data", str(data), "--output", str(tmp_path / "run"), timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    index = Path(result.stdout.strip().splitlines()[-1])
    assert index == tmp_path / "run" / "report" / "index.html" and index.is_file()
    assert "lstm trial 1 of 2" in result.stderr and "leaderboard" in result.stderr
    trials = pd.read_csv(tmp_path / "run" / "trials.csv")
    assert sorted(trials["architecture"]) == ["bilstm", "lstm"] and (trials["status"] == "COMPLETED").all()
    for name in ("lstm", "bilstm"):
        metrics = json.loads((tmp_path / "run" / "models" / name / "metrics.json").read_text())
        assert 0.5 < metrics["test"]["auc_macro"] <= 1
    assert len(list(index.parent.glob("*.png"))) >= 8
    # predict with the export, from the command line
    out = rnnsweep("predict", str(tmp_path / "run" / "models" / "lstm" / "export.keras"), "lovely soft dress", "awful")
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.strip().splitlines()
    assert lines[0] == "text,label,p_1,p_2,p_3,p_4,p_5" and len(lines) == 3
    # report alone works again from saved artifacts
    again = rnnsweep("report", str(tmp_path / "run"))
    assert again.returncode == 0 and Path(again.stdout.strip()) == index


def test_sigkill_mid_trial_then_resume(tmp_path):
    """A sweep killed in the middle of a trial resumes: no completed trial is lost or repeated."""
    data = write_csv(tmp_path / "reviews.csv", make_reviews(300))
    run_dir = tmp_path / "run"
    config = tmp_path / "sweep.toml"
    config.write_text(
        '[data]\npreset = "womens-clothing"\n'
        '[search]\narchitectures = ["gru1"]\nmax_trials = 4\nepochs = 4\nearly_stopping_patience = 0\n'
        "[search.space]\nunits = [8, 16]\nlearning_rate = [0.01, 0.001]\ndropout = [0.0]\n"
    )
    command = [
        sys.executable,
        "-m",
        "rnnsweep",
        "tune",
        "--config",
        str(config),
        "--data",
        str(data),
        "--output",
        str(run_dir),
        "--workers",
        "1",  # keras-tuner's own resume in one process; tests/test_distributed.py kills a launcher of workers
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    target = run_dir / "search" / "gru1" / "trial_2" / "trial.json"
    deadline = time.monotonic() + 240
    while not target.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    assert target.exists(), "the sweep never reached its third trial"
    time.sleep(1.0)  # inside trial 2's training
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert json.loads(target.read_text())["status"] == "RUNNING"
    before = {i: json.loads((run_dir / "search" / "gru1" / f"trial_{i}" / "trial.json").read_text()) for i in (0, 1)}
    assert all(t["status"] == "COMPLETED" for t in before.values())

    result = subprocess.run(command, capture_output=True, text=True, env=ENV, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    trials = pd.read_csv(run_dir / "trials.csv")
    assert len(trials) == 4 and (trials["status"] == "COMPLETED").all()
    assert trials["trial_id"].astype(str).is_unique
    for i, trial in before.items():
        after = json.loads((run_dir / "search" / "gru1" / f"trial_{i}" / "trial.json").read_text())
        assert after["score"] == trial["score"] and after["hyperparameters"] == trial["hyperparameters"]
    combos = {(r.hp_units_1, r.hp_learning_rate) for r in trials.itertuples()}
    assert len(combos) == 4  # every combination once: nothing repeated
