"""Tests that fail on a broken product: the retrained trial's choice, verdicts, intervals, heartbeats, seed averages."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import make_reviews, write_csv
from sklearn.metrics import accuracy_score, roc_auc_score

from rnnsweep.tuning.evaluation import bootstrap_intervals, paired_difference

ROOT = Path(__file__).resolve().parents[1]


def _trials_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "architecture": ["gru1", "gru1", "gru1", "lstm", "lstm", "lstm"],
            "trial_id": ["0", "1", "2", "0", "1", "2"],
            "status": ["COMPLETED", "COMPLETED", "FAILED", "COMPLETED", "COMPLETED", "COMPLETED"],
            "objective": [0.61, 0.83, 0.99, 0.70, np.nan, 0.65],
        }
    )


def test_best_trials_follow_the_objectives_direction_and_skip_failed_and_missing_scores():
    from rnnsweep.tuning.trials import best_trials

    def picked(frame):
        return frame[["architecture", "trial_id"]].values.tolist()

    table = _trials_table()
    assert picked(best_trials(table, objective="val_auc")) == [["gru1", "1"], ["lstm", "0"]]
    assert picked(best_trials(table, objective="val_auc", top=2)) == [["gru1", "1"], ["lstm", "0"]]
    assert picked(best_trials(table, objective="val_auc", top=3)) == [["gru1", "1"], ["lstm", "0"], ["lstm", "2"]]
    # A loss is lower-is-better: the order turns round.
    assert picked(best_trials(table, objective="val_loss")) == [["gru1", "0"], ["lstm", "2"]]


def test_retrain_from_the_command_line_takes_the_best_trials_of_a_sweep(tiny_run, tmp_path, capfd):
    """`rnnsweep retrain RUN --top 2 --seeds 3`: the two best trials overall, by the search score."""
    from rnnsweep.tuning.cli import main

    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run, run_dir)
    shutil.rmtree(run_dir / "models")
    trials = pd.read_csv(run_dir / "trials.csv", dtype={"trial_id": str})
    gru = trials[trials["architecture"] == "gru1"].iloc[0]
    better = gru.copy()
    better["trial_id"], better["objective"], better["hp_units_1"] = "7", 0.99, 16
    worse = gru.copy()
    worse["trial_id"], worse["objective"], worse["hp_units_1"] = "8", 0.01, 12
    pd.concat([trials, pd.DataFrame([better, worse])]).to_csv(run_dir / "trials.csv", index=False)
    code = main(["-q", "retrain", str(run_dir), "--top", "2", "--epochs", "1", "--seeds", "3"])
    assert code == 0, capfd.readouterr().err
    assert capfd.readouterr().out.strip() == str(run_dir / "models")
    assert sorted(p.name for p in (run_dir / "models").iterdir()) == ["gru1_trial_0", "gru1_trial_7"]
    best = json.loads((run_dir / "models" / "gru1_trial_7" / "metrics.json").read_text())
    assert best["hyperparameters"]["units_1"] == 16 and best["search_score"] == 0.99
    assert set(best["seeds"]) == {"3"} and best["kept_seeds"] == [3]
    history = json.loads((run_dir / "models" / "gru1_trial_7" / "history.json").read_text())
    assert history["epochs"] == 1
    # The flags' values are the run's settings now; the search's are untouched.
    saved, before = (tomllib.loads((folder / "config.toml").read_text()) for folder in (run_dir, tiny_run))
    assert saved["retrain"] == {**before["retrain"], "top": 2, "epochs": 1, "seeds": [3]}
    assert saved["search"] == before["search"]


def _correlated_models(n=1500, seed=0):
    """Two models whose predictions share almost all their noise; B is a little better on
    every row, so only a paired comparison can tell them apart."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    shared = rng.normal(size=n) * 1.5
    score_a = (y * 2 - 1) * 0.8 + shared
    score_b = score_a + (y * 2 - 1) * 0.08
    as_proba = lambda s: np.stack([1 / (1 + np.exp(s)), 1 / (1 + np.exp(-s))], axis=1)  # noqa: E731
    return y, as_proba(score_a), as_proba(score_b)


def test_the_verdict_is_paired_where_independent_intervals_overlap():
    y, a, b = _correlated_models()
    apart_a, apart_b = bootstrap_intervals(y, a)["auc_macro"], bootstrap_intervals(y, b, seed=1)["auc_macro"]
    assert apart_b[0] < apart_a[1]  # each model's own interval overlaps the other's
    paired = paired_difference(y, b, a)["auc_macro"]
    assert paired["verdict"] == "beats" and paired["interval"][0] > 0
    assert paired_difference(y, a, b)["auc_macro"]["verdict"] == "is behind"
    expected = roc_auc_score(y, b[:, 1]) - roc_auc_score(y, a[:, 1])
    assert paired["difference"] == pytest.approx(expected, abs=1e-12)
    # Resampling B on other rows than A (an unpaired comparison) cannot see the difference.
    from rnnsweep.tuning.evaluation import bootstrap_metrics, bootstrap_weights

    values_a = bootstrap_metrics(y, a, bootstrap_weights(y, seed=0))["auc_macro"]
    values_b = bootstrap_metrics(y, b, bootstrap_weights(y, seed=1))["auc_macro"]
    assert np.percentile(values_b - values_a, 2.5) < 0 < paired["interval"][0]


def test_the_interval_is_a_95_percent_bootstrap_interval():
    """Accuracy's interval matches the normal approximation's width; AUC's matches an
    independent bootstrap with scikit-learn (another seed). A 50% interval, or point +- 1, fails."""
    y, a, _ = _correlated_models(n=2000)
    intervals = bootstrap_intervals(y, a)
    accuracy = accuracy_score(y, a.argmax(1))
    low, high = intervals["accuracy"]
    normal = 2 * 1.96 * np.sqrt(accuracy * (1 - accuracy) / len(y))
    assert low < accuracy < high
    assert 0.8 * normal < high - low < 1.2 * normal
    rng = np.random.default_rng(7)
    aucs = []
    for _ in range(400):
        rows = np.concatenate([rng.choice(np.flatnonzero(y == c), (y == c).sum()) for c in (0, 1)])
        aucs.append(roc_auc_score(y[rows], a[rows, 1]))
    reference = np.percentile(aucs, [2.5, 97.5])
    assert intervals["auc_macro"] == pytest.approx(list(reference), abs=0.006)


def test_the_verdict_sentence_says_what_the_comparison_found(tmp_path):
    from test_verdicts import _fake_run, imbalanced_probabilities

    from rnnsweep.tuning.leaderboard import build_leaderboard

    y, good = imbalanced_probabilities()
    weak = good + np.random.default_rng(2).random(good.shape)
    weak /= weak.sum(axis=1, keepdims=True)
    for rnn, baseline, word in ((good, weak, "beats"), (weak, good, "is behind"), (good, good, "is level with")):
        folder = tmp_path / word.replace(" ", "-")
        data = _fake_run(folder, y, models={"lstm": (0.9, rnn)}, baselines={"tfidf_logreg": (0.8, baseline)})
        board = build_leaderboard(folder, data=data, objective="val_auc")
        assert board["comparison"]["auc_macro"]["verdict"] == word
        assert f"lstm (the tuned RNN with the best validation score) {word} tfidf_logreg" in board["verdict"]


def test_heartbeats_alone_keep_a_workers_lease(monkeypatch):
    """A worker whose epochs outlast the lease says nothing but its heartbeat: the lease holds
    while it beats and runs out once it stops."""
    from concurrent import futures

    import grpc

    from rnnsweep.tuning import leases as lease_module
    from rnnsweep.tuning.chief import _Gate
    from rnnsweep.tuning.distributed import Role, free_ports

    monkeypatch.setattr(lease_module, "HEARTBEAT_S", 0.2)
    leases = lease_module.Leases(timeout_s=1.0)
    port = free_ports(1)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), interceptors=[_Gate("tok", leases)])
    server.add_generic_rpc_handlers((lease_module.sweep_service(leases, lambda tuner_id: {"done": True}),))
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    try:
        role = Role("worker", "127.0.0.1", port, "1", "tok")
        leases.give(0, "00", role.tuner_id)  # it holds a trial, then trains in silence
        with lease_module.Heartbeat(role):
            time.sleep(2.5)
            assert leases.expire() == []
            assert role.tuner_id in leases.seen
        time.sleep(1.6)
        assert [tuner_id for tuner_id, _ in leases.expire()] == [role.tuner_id]
    finally:
        server.stop(grace=None)


@pytest.mark.backend
def test_the_seed_average_is_the_mean_of_its_members():
    import keras

    from rnnsweep.tuning.retrain import average_models

    inputs = keras.Input((None,), dtype="int32")
    members = []
    for seed in (1, 2, 3):
        keras.utils.set_random_seed(seed)
        hidden = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(20, 4)(inputs))
        members.append(keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(hidden)))
    x = np.random.default_rng(0).integers(0, 20, (16, 5)).astype("int32")
    outputs = [np.asarray(m.predict(x, verbose=0)) for m in members]
    assert not np.allclose(outputs[0], outputs[1])  # the members differ
    average = average_models(members, name="gru1")
    np.testing.assert_allclose(average.predict(x, verbose=0), np.mean(outputs, axis=0), rtol=1e-5, atol=1e-6)


@pytest.mark.backend
def test_this_session_runs_on_the_backend_it_was_asked_for(tiny_run):
    """The README's second pass sets KERAS_BACKEND=jax: it must train on JAX, not silently on TensorFlow."""
    import keras
    from conftest import REQUESTED_BACKEND as wanted

    assert keras.backend.backend() == wanted
    assert set(pd.read_csv(tiny_run / "trials.csv")["backend"]) == {wanted}
    assert json.loads((tiny_run / "models" / "gru1" / "metrics.json").read_text())["backend"] == wanted


def test_bad_data_of_every_kind_is_answered_before_tensorflow_is_imported(tmp_path):
    """Every data-stage row of the CLI's bad-input table, in one fresh process that has not imported Keras."""
    script = f"""
import sys, os, json, tempfile
sys.path.insert(0, {str(ROOT / "tests")!r})
os.environ.pop("RNNSWEEP_TOKEN", None)
import test_cli as table
from pathlib import Path
results = {{}}
for case, (files, argv, message) in table.BAD_INPUTS.items():
    if argv[0] != "data" or "invalid choice" in message:
        continue
    folder = Path(tempfile.mkdtemp(dir={str(tmp_path)!r}))
    os.chdir(folder)
    table.write_csv(folder / "r.csv", table.GOOD)
    if isinstance(files, str):
        files = table._special_files(files, folder)
    for name, content in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content) if isinstance(content, bytes) else table.write_csv(folder / name, content)
    code = table.main(["-q", *argv, "--output", "run"])
    results[case] = [code, "tensorflow" in sys.modules or "keras" in sys.modules]
print(json.dumps(results))
"""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(results) >= 25
    # "prepared"/"existing" rows run a good data stage first, which needs no TensorFlow either.
    assert {case: r for case, r in results.items() if r != [2, False]} == {}


def test_every_tuner_flag_builds_that_tuner(tmp_path):
    import keras_tuner

    from rnnsweep.data_prep.prepare import load_prepared, prepare_data
    from rnnsweep.models import ARCHITECTURES
    from rnnsweep.tuning.config import load_config
    from rnnsweep.tuning.tuners import make_tuner

    path = write_csv(tmp_path / "r.csv", make_reviews(120))
    expected = {
        "random": (keras_tuner.RandomSearch, keras_tuner.oracles.RandomSearchOracle),
        "hyperband": (keras_tuner.Hyperband, keras_tuner.oracles.HyperbandOracle),
        "bayesian": (keras_tuner.BayesianOptimization, keras_tuner.oracles.BayesianOptimizationOracle),
    }
    for tuner_name, (tuner_class, oracle_class) in expected.items():
        values = {"data": {"preset": "womens-clothing", "path": str(path), "embeddings": "learned"}}
        config = load_config(None, {**values, "search": {"tuner": tuner_name}})
        run_dir = tmp_path / tuner_name
        prepare_data(config.data, run_dir)
        tuner = make_tuner(config, ARCHITECTURES["gru1"], load_prepared(run_dir), run_dir / "search")
        assert isinstance(tuner, tuner_class) and type(tuner.oracle) is oracle_class, tuner_name


@pytest.mark.parametrize("example", sorted((ROOT / "examples").glob("*.toml")), ids=lambda p: p.name)
def test_every_example_config_loads(example):
    from rnnsweep.tuning.config import load_config

    config = load_config(example)
    text = example.read_text()
    for section, values in tomllib.loads(text).items():
        for key, value in values.items():
            if not isinstance(value, dict):
                assert getattr(getattr(config, section), key) == value, (example.name, section, key)


def _next_step_run(scores: list[float]) -> dict:
    trials = pd.DataFrame(
        {
            "architecture": "gru1",
            "trial_id": [str(i) for i in range(len(scores))],
            "status": "COMPLETED",
            "objective": scores,
        }
    )
    return {
        "run_dir": Path("runs/my run"),
        "config": {"search": {"max_trials": len(scores)}, "retrain": {"seeds": [1, 2]}},
        "leaderboard": {"best_rnn": "gru1"},
        "trials": trials,
        "models": {"gru1": {"metrics": {"architecture": "gru1"}}},
    }


def test_the_reports_next_step_names_what_the_trials_show():
    from rnnsweep.reports.build import next_step

    assert next_step(_next_step_run([0.7, 0.8]), "val_auc") == (
        "Next: gru1 has only 2 completed trial(s); run more before trusting the choice of "
        "its hyperparameters: rnnsweep run --output 'runs/my run' --max-trials 4"
    )
    assert next_step(_next_step_run([0.7, 0.75, 0.8]), "val_auc") == (
        "Next: more trials would help: gru1's best trial is the last of its 3: "
        "rnnsweep run --output 'runs/my run' --max-trials 6"
    )
    assert next_step(_next_step_run([0.9, 0.75, 0.8, 0.7]), "val_auc") == (
        "Next: the search of gru1 looks converged: its best trial is number 1 of 4, and the 3 after it did not "
        "beat it; more retraining seeds give a steadier model: rnnsweep run --output 'runs/my run' "
        "--retrain-seeds 1,2,3,4"
    )
    # For a loss the best is the lowest.
    assert "best trial is the last of its 3" in next_step(_next_step_run([0.9, 0.8, 0.1]), "val_loss")


def test_the_reports_comparison_counts_each_models_right_and_wrong_answers(tiny_run):
    from rnnsweep.reports.build import _error_analysis, leaderboard, load_run

    run = load_run(tiny_run)
    found = _error_analysis(run, leaderboard(run), 3, ["simple_rnn", "gru1"])["comparison"]
    frames = {}
    for name in ("simple_rnn", "gru1"):
        frame = pd.read_csv(tiny_run / "models" / name / "predictions.csv").query("split == 'test'")
        frames[name] = frame.set_index("row_id")["true"] == frame.set_index("row_id")["predicted"]
    a, b = frames["simple_rnn"], frames["gru1"].reindex(frames["simple_rnn"].index)
    assert (found["a"], found["b"]) == ("simple_rnn", "gru1")
    assert found["both_right"] == (a & b).sum() and found["both_wrong"] == (~a & ~b).sum()
    assert found["only_a"] == (a & ~b).sum() and found["only_b"] == (~a & b).sum()
    assert len(found["examples_a"]) == min(3, found["only_a"])


def test_parallel_coordinates_draw_one_line_per_completed_trial():
    from rnnsweep.reports.plots import plot_parallel_coordinates

    trials = pd.DataFrame(
        {
            "status": ["COMPLETED"] * 4 + ["FAILED"],
            "objective": [0.6, 0.7, 0.8, 0.9, np.nan],
            "hp_units_1": [8, 16, 32, 64, 128],
            "hp_learning_rate": [0.01, 0.001, 0.01, 0.001, 0.01],
        }
    )
    fig = plot_parallel_coordinates(trials, ["hp_units_1", "hp_learning_rate"], "val_auc")
    ax = fig.axes[0]
    lines = [line for line in ax.get_lines() if len(line.get_xdata()) == 3]
    assert len(lines) == 4  # the failed trial is left out
    # Each line ends at its trial's objective on the objective's axis (lowest 0, highest 1).
    assert sorted(round(float(line.get_ydata()[-1]), 6) for line in lines) == [0.0, 0.333333, 0.666667, 1.0]
