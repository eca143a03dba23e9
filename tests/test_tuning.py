"""The sweep engine: tuners, trials table, failing trials, resume guard, configuration."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import keras
import keras_tuner
import numpy as np
import pandas as pd
import pytest
from conftest import TINY_OVERRIDES

from rnnsweep.data_prep.errors import InputError
from rnnsweep.data_prep.prepare import prepare_data
from rnnsweep.tuning.config import load_config, open_run
from rnnsweep.tuning.search import run_search


def tiny_config(csv, **search):
    overrides = {
        "data": {**TINY_OVERRIDES["data"], "path": str(csv)},
        "search": {**TINY_OVERRIDES["search"], "architectures": ["gru1"], **search},
    }
    return load_config(None, overrides)


def prepared_run(tmp_path, csv, **search):
    config = tiny_config(csv, **search)
    run_dir = open_run(tmp_path / "run", config)
    prepare_data(config.data, run_dir)
    return config, run_dir


@pytest.mark.backend
@pytest.mark.parametrize("tuner", ["random", "hyperband", "bayesian"])
def test_tiny_sweep_per_tuner(tmp_path, tiny_csv, tuner):
    config, run_dir = prepared_run(
        tmp_path, tiny_csv, tuner=tuner, max_trials=2, epochs=2, space={"units": [8, 16], "learning_rate": [1e-2]}
    )
    table = run_search(run_dir, config)
    assert (table["status"] == "COMPLETED").sum() >= 2
    assert table["objective"].between(0, 1).all()
    saved = pd.read_csv(run_dir / "trials.csv")
    assert list(saved.columns[:9]) == [
        "architecture",
        "trial_id",
        "status",
        "objective_name",
        "objective",
        "best_epoch",
        "duration_s",
        "backend",
        "reason",
    ]
    assert (saved["backend"] == keras.backend.backend()).all() and (saved["lease_expiries"] == 0).all()
    assert {"hp_units_1", "hp_learning_rate", "history_val_auc"} <= set(saved.columns)
    assert len(json.loads((run_dir / "trials.json").read_text())) == len(saved)
    if tuner == "random":
        # The project stays loadable by plain keras-tuner, given the same builder.
        import functools

        from rnnsweep.models import ARCHITECTURES, ModelSpec, build_model, default_search_space

        builder = functools.partial(
            build_model,
            spec=ModelSpec(vocab_size=100, sequence_length=None, num_classes=5),
            architecture=ARCHITECTURES["gru1"],
            space=default_search_space("gru1", {"units": [8, 16]}),
        )
        reloaded = keras_tuner.RandomSearch(
            hypermodel=builder,
            objective=keras_tuner.Objective("val_auc", "max"),
            max_trials=2,
            directory=str(run_dir / "search"),
            project_name="gru1",
            overwrite=False,
        )
        best = reloaded.get_best_hyperparameters(1)[0]
        assert best.values["units_1"] in (8, 16)
        assert len(reloaded.oracle.trials) == len(saved[saved["architecture"] == "gru1"])


@pytest.mark.backend
def test_resume_keeps_completed_trials(tmp_path, tiny_csv):
    config, run_dir = prepared_run(tmp_path, tiny_csv, max_trials=1, space={"units": [8, 16], "learning_rate": [1e-2]})
    first = run_search(run_dir, config)
    assert len(first) == 1
    more = tiny_config(tiny_csv, max_trials=1, space={"units": [8, 16], "learning_rate": [1e-2]})
    again = run_search(run_dir, more)
    pd.testing.assert_frame_equal(first.drop(columns="duration_s"), again.drop(columns="duration_s"))


def test_tensorboard_logs_every_trial(tmp_path, tiny_csv):
    config, run_dir = prepared_run(tmp_path, tiny_csv, max_trials=2, tensorboard=True, space={"units": [8, 16]})
    run_search(run_dir, config)
    events = list((run_dir / "tensorboard").rglob("events.out.tfevents.*"))
    assert len({p.relative_to(run_dir / "tensorboard").parts[0] for p in events}) == 2  # one folder per trial


def test_changed_settings_are_refused(tmp_path, tiny_csv):
    config, run_dir = prepared_run(tmp_path, tiny_csv)
    other = tiny_config(tiny_csv, tuner="bayesian")
    with pytest.raises(InputError, match=r"search.tuner differ.*--overwrite.*--name"):
        open_run(run_dir, other)
    # A lease length changes no result: the run resumes with another one, data kept.
    open_run(run_dir, tiny_config(tiny_csv, worker_timeout=45))
    assert (run_dir / "data").exists()
    open_run(run_dir, other, overwrite=True)
    assert not (run_dir / "data").exists()


def diverge_at_huge_rates(patch):
    """Models compiled with a learning rate above 1 get NaN output weights: a diverged model
    whose loss is NaN from the first batch (a huge rate alone does not reliably give NaN)."""
    import rnnsweep.models.builders as builders

    original = builders.compile_for_classes

    def diverged(model, *, num_classes, learning_rate):
        if learning_rate > 1:
            output = model.get_layer("output")
            output.set_weights([np.full_like(w, np.nan) for w in output.get_weights()])
        return original(model, num_classes=num_classes, learning_rate=learning_rate)

    patch.setattr(builders, "compile_for_classes", diverged)


@pytest.mark.backend
def test_failing_trials_are_recorded_and_the_sweep_goes_on(tmp_path, tiny_csv):
    # Units 3 raises in the builder below; learning rate 1e30 diverges.
    config, run_dir = prepared_run(
        tmp_path,
        tiny_csv,
        max_trials=6,
        space={"units": [8, 3], "learning_rate": [1e-2, 1e30], "dropout": [0.0]},
        max_consecutive_failures=10,
    )
    import rnnsweep.models.builders as builders

    original = builders.recurrent_layer

    def fragile(cell, units, **kwargs):
        if units == 3:
            raise RuntimeError("three units are not allowed here")
        return original(cell, units, **kwargs)

    import pytest as _pytest

    with _pytest.MonkeyPatch.context() as patch:
        patch.setattr(builders, "recurrent_layer", fragile)
        diverge_at_huge_rates(patch)
        table = run_search(run_dir, config)
    assert len(table) == 4  # the space has 4 combinations; RandomSearch stops when they are used up
    failed = table[table["status"] == "FAILED"]
    assert len(failed) == 3
    assert failed["reason"].str.contains("three units are not allowed|non-finite loss").all()
    assert failed["reason"].str.contains("non-finite loss").any()
    completed = table[table["status"] == "COMPLETED"]
    assert len(completed) == 1 and math.isfinite(completed["objective"].iloc[0])
    from rnnsweep.tuning.trials import best_trials

    assert (best_trials(table, objective="val_auc")["status"] == "COMPLETED").all()


def test_isolated_trials_run_one_process_each(tmp_path, tiny_csv, monkeypatch):
    import subprocess

    import rnnsweep.tuning.trial_process as trial_process

    calls = []
    real_run = subprocess.run

    def counting_run(command, *args, **kwargs):
        calls.append(command)
        return real_run(command, *args, **kwargs)

    monkeypatch.setattr(trial_process.subprocess, "run", counting_run)
    config, run_dir = prepared_run(
        tmp_path, tiny_csv, max_trials=2, isolate_trials=True, space={"units": [8, 16], "learning_rate": [1e-2]}
    )
    table = run_search(run_dir, config)
    assert len(table) == 2 and (table["status"] == "COMPLETED").all()
    assert [c[-1] for c in calls] == ["1", "2"]
    assert all(c[1:4] == ["-P", "-m", "rnnsweep.tuning.trial_process"] for c in calls)


def test_multi_gpu_needs_two_gpus(tmp_path, tiny_csv):
    import tensorflow as tf

    config, run_dir = prepared_run(tmp_path, tiny_csv, multi_gpu=True)
    if len(tf.config.list_physical_devices("GPU")) >= 2:
        table = run_search(run_dir, config)  # a GPU machine: the strategy really trains
        assert (table["status"] == "COMPLETED").all()
    else:
        with pytest.raises(InputError, match="multi_gpu needs two or more GPUs"):
            run_search(run_dir, config)


@pytest.mark.parametrize(
    "values,pattern",
    [
        (
            {"search": {"tuner": "grid"}},
            r"Expected one of \['bayesian', 'hyperband', 'random'\]. Received: tuner='grid'",
        ),
        ({"search": {"max_trial": 3}}, r"unknown key 'max_trial' in \[search\]; valid keys are .*'max_trials'"),
        ({"serach": {}}, r"unknown section \[serach\]"),
        ({"search": {"max_trials": 0}}, "max_trials must be a whole number greater than 0"),
        (
            {"search": {"median_stopping_min_trials": 0}},
            "median_stopping_min_trials must be a whole number greater than 0. Received: median_stopping_min_trials=0",
        ),
        ({"retrain": {"seeds": []}}, "seeds must list at least one"),
        ({"search": {"isolate_trials": True, "tuner": "hyperband"}}, "isolate_trials works with the random"),
        ({"data": {"labels": "stars5"}}, r"Received: labels='stars5'"),
        ({"search": {"worker_timeout": 5}}, r"worker_timeout must be at least 30 s \(three heartbeats\). Received: 5"),
        ({"search": {"worker_timeout": "5m"}}, r"worker_timeout must be a number. Received: worker_timeout='5m'"),
    ],
)
def test_bad_configuration_table(values, pattern):
    with pytest.raises(InputError, match=pattern):
        load_config(None, values)


def test_config_file_and_flag_precedence(tmp_path):
    path = tmp_path / "sweep.toml"
    path.write_text('[search]\nmax_trials = 7\ntuner = "bayesian"\n[data]\nvocab_size = 300\n')
    config = load_config(path, {"search": {"max_trials": 3}})
    assert (config.search.max_trials, config.search.tuner, config.data.vocab_size) == (3, "bayesian", 300)
    (tmp_path / "bad.toml").write_text("[search\n")
    with pytest.raises(InputError, match="not valid TOML"):
        load_config(tmp_path / "bad.toml")


@pytest.mark.backend
def test_length_buckets_cover_every_row_once():
    from rnnsweep.tuning.inputs import LengthBucketedBatches, default_width_step

    step = default_width_step()  # 1 on TensorFlow; 8 where each batch shape is compiled (JAX)
    rng = np.random.default_rng(0)
    x = np.zeros((103, 40), dtype="int32")
    for i, n in enumerate(rng.integers(1, 40, 103)):
        x[i, :n] = 5
    batches = LengthBucketedBatches(x, np.arange(103), batch_size=16, seed=1)
    seen = np.concatenate([batches[i][1] for i in range(len(batches))])
    assert sorted(seen) == list(range(103))
    for i in range(len(batches)):
        xb, yb = batches[i]
        longest = (x[yb] != 0).sum(axis=1).max()
        assert xb.shape[1] == min(40, math.ceil(longest / step) * step)  # no padding beyond the longest, rounded
        assert (x[yb][:, xb.shape[1] :] == 0).all()  # only padding was cut
    assert batches[0][0].shape[1] != batches[1][0].shape[1]
    rounded = LengthBucketedBatches(x, np.arange(103), batch_size=16, seed=1, width_step=8)
    assert all(rounded[i][0].shape[1] % 8 == 0 or rounded[i][0].shape[1] == 40 for i in range(len(rounded)))


def test_tf_dataset_serves_the_same_batches_and_reshuffles_each_pass():
    from rnnsweep.tuning.inputs import LengthBucketedBatches, bucketed_tf_dataset

    rng = np.random.default_rng(0)
    x = np.zeros((70, 30), dtype="int32")
    for i, n in enumerate(rng.integers(1, 30, 70)):
        x[i, :n] = i + 1
    y, weights = np.arange(70, dtype="float32"), rng.random(70).astype("float32")

    def batches():
        return LengthBucketedBatches(x, y, batch_size=8, seed=3, sample_weight=weights)

    expected = batches()
    dataset = bucketed_tf_dataset(batches())
    assert int(dataset.cardinality()) == len(expected)
    for _ in range(2):  # a pass, then a reshuffled pass, like the PyDataset's epochs
        served = [tuple(np.asarray(t) for t in batch) for batch in dataset]
        assert len(served) == len(expected)
        for index, (xb, yb, wb) in enumerate(served):
            want = expected[index]
            np.testing.assert_array_equal(xb, want[0])
            np.testing.assert_array_equal(yb, want[1])
            np.testing.assert_array_equal(wb, want[2])
        expected.on_epoch_end()
    fixed = LengthBucketedBatches(x, y, batch_size=8, shuffle=False)
    passes = [[np.asarray(b[1]).tolist() for b in bucketed_tf_dataset(fixed)] for _ in range(2)]
    assert passes[0] == passes[1]


def test_recurrent_thread_settings(monkeypatch):
    from rnnsweep.tuning.threads import configure_threads, recurrent_thread_settings

    assert recurrent_thread_settings(2) == {
        "TF_NUM_INTRAOP_THREADS": "1",
        "TF_NUM_INTEROP_THREADS": "2",
        "OMP_NUM_THREADS": "1",
    }
    assert recurrent_thread_settings(0)["TF_NUM_INTEROP_THREADS"] == "1"
    monkeypatch.setenv("TF_NUM_INTEROP_THREADS", "7")  # a value the user set wins
    monkeypatch.delenv("TF_NUM_INTRAOP_THREADS", raising=False)
    configure_threads()
    assert os.environ["TF_NUM_INTEROP_THREADS"] == "7"
    assert os.environ["TF_NUM_INTRAOP_THREADS"] == "1"


IMPORT_EVERYTHING = (
    # JAX, which Keras imports when it is installed, sets TF_CPP_MIN_LOG_LEVEL on import: the
    # libraries' own changes are in `before`, so that only rnnsweep's would show.
    "import os, json, keras, keras_tuner, tensorflow; before = dict(os.environ);"
    "import rnnsweep, rnnsweep.tuning.cli, rnnsweep.tuning.pipeline, rnnsweep.reports.build, rnnsweep.tuning.search;"
    "rnnsweep.run_all, rnnsweep.load_config;"
    "print(json.dumps({k: v for k, v in os.environ.items() if before.get(k) != v}))"
)


def test_importing_rnnsweep_changes_no_environment_variable():
    # Without the variables rnnsweep's entry points set, so that setting one would show.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "OMP_", "KERAS"))}
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERYTHING], capture_output=True, text=True, check=True, env=env
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {}


def test_the_command_sets_thread_variables_before_tensorflow(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_NUM_", "OMP_NUM"))}
    code = (
        "import os, sys; from rnnsweep.tuning.cli import main; main(['report', 'nowhere']);"
        "import tensorflow as tf; tf.constant(1);"
        "print(*(os.environ[k] for k in ('TF_NUM_INTRAOP_THREADS', 'TF_NUM_INTEROP_THREADS', 'OMP_NUM_THREADS')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert out.stdout.split() == ["1", str(len(os.sched_getaffinity(0))), "1"]


def test_workers_get_their_share_of_threads_and_keep_the_users_values(monkeypatch):
    from rnnsweep.tuning import distributed, threads

    for key in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(threads, "_defaulted", set())
    monkeypatch.setenv("TF_NUM_INTEROP_THREADS", "5")  # the user's own
    assert threads.configure_threads(cores=8) == {"TF_NUM_INTRAOP_THREADS": "1", "OMP_NUM_THREADS": "1"}
    env = distributed._thread_env(2, None, "token")
    assert env["TF_NUM_INTEROP_THREADS"] == "5"  # the user's value, not the worker's share of 2
    assert env["TF_NUM_INTRAOP_THREADS"] == "1"
    assert env["RNNSWEEP_TOKEN"] == "token"  # the sweep's secret, in the environment only
    monkeypatch.delenv("TF_NUM_INTEROP_THREADS")
    threads.configure_threads(cores=8)  # now rnnsweep's own default for the launcher: 8
    assert distributed._thread_env(2, None, "token")["TF_NUM_INTEROP_THREADS"] == "2"  # the worker's share wins over it


@pytest.mark.parametrize("disguise", ["TypeError", "swallowed"])
def test_ctrl_c_a_library_disguised_stops_the_sweep_and_resumes(tmp_path, tiny_csv, disguise):
    # TensorFlow's C++ tensor conversion turns a SIGINT landing inside it into a TypeError
    # (seen in CI); a library may also swallow it whole. Either way the sweep stops, the
    # trial is not counted as failed, and the same call resumes it.
    from conftest import interrupt_inside_fit

    from rnnsweep.tuning import interrupts
    from rnnsweep.tuning.trials import FAILURE_FILE

    config, run_dir = prepared_run(tmp_path, tiny_csv, max_trials=1, space={"units": [8]})
    with pytest.MonkeyPatch.context() as patch, interrupts.watched():
        interrupt_inside_fit(patch, disguise=disguise == "TypeError")
        with pytest.raises(KeyboardInterrupt):
            run_search(run_dir, config)
    assert not interrupts.requested()  # forgotten once the command ends
    assert not list(run_dir.rglob(FAILURE_FILE))
    table = run_search(run_dir, config)
    assert table["status"].tolist() == ["COMPLETED"]
