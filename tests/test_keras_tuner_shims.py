"""Every use of keras-tuner's internals (rnnsweep.tuning.tuners), each checked against keras-tuner itself.

Each test fails if keras-tuner stops behaving the way its shim assumes, which is the moment
to revisit the shim (and the pin in pyproject.toml).
"""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path

import keras_tuner
import pandas as pd
import pytest
from test_tuning import prepared_run

from rnnsweep.data_prep.errors import InputError
from rnnsweep.data_prep.prepare import load_prepared
from rnnsweep.models import ARCHITECTURES
from rnnsweep.tuning import tuners
from rnnsweep.tuning.search import run_search

ONE_ARCHITECTURE = {"max_trials": 2, "space": {"units": [8, 16], "learning_rate": [1e-2]}}


def trial_state(run_dir: Path) -> dict[str, bytes]:
    """Every file of every trial folder, by path: what a re-run must leave alone."""
    return {
        str(p.relative_to(run_dir)): p.read_bytes() for p in sorted(run_dir.glob("search/*/trial_*/*")) if p.is_file()
    }


@pytest.mark.backend
def test_state_files_are_written_atomically_during_a_sweep_and_only_then(tmp_path, tiny_csv, monkeypatch):
    written = []
    real = tuners.write_atomically

    def recording(path, content):
        written.append(Path(path).name)
        real(path, content)

    monkeypatch.setattr(tuners, "write_atomically", recording)
    original = tuners._kt_utils.save_json
    config, run_dir = prepared_run(tmp_path, tiny_csv, **ONE_ARCHITECTURE)
    run_search(run_dir, config)
    # keras-tuner saved its oracle, each trial and the tuner through the atomic writer.
    assert {"oracle.json", "trial.json", "tuner0.json"} <= set(written)
    assert tuners._kt_utils.save_json is original  # put back after the sweep


def plain_keras_tuner(run_dir: Path) -> keras_tuner.RandomSearch:
    """keras-tuner's own tuner on the run's gru1 project, as keras-tuner alone would reload it."""
    return keras_tuner.RandomSearch(
        hypermodel=lambda hp: None,
        objective=keras_tuner.Objective("val_auc", "max"),
        max_trials=2,
        directory=str(run_dir / "search"),
        project_name="gru1",
        overwrite=False,
    )


def test_a_reloaded_chief_project_does_not_queue_its_finished_trials(tmp_path, tiny_csv):
    config, run_dir = prepared_run(tmp_path, tiny_csv, **ONE_ARCHITECTURE)
    run_search(run_dir, config)
    oracle_file = run_dir / "search" / "gru1" / "oracle.json"
    state = json.loads(oracle_file.read_text())
    # What keras-tuner's chief leaves behind after a sweep: the last trial still "ongoing"
    # (its end_trial saves oracle.json before it forgets the trial).
    state["ongoing_trials"] = {"tuner0": "1"}
    oracle_file.write_text(json.dumps(state))

    data = load_prepared(run_dir)
    plain = plain_keras_tuner(run_dir)
    assert plain.oracle._retry_queue == ["1"]  # keras-tuner itself would train trial 1 again
    tuner = tuners.make_tuner(config, ARCHITECTURES["gru1"], data, run_dir / "search")
    assert tuner.oracle._retry_queue == [] and tuner.oracle.trials["1"].status == "COMPLETED"


def test_a_chief_continues_the_project_a_single_process_made(tmp_path, tiny_csv, monkeypatch):
    config, run_dir = prepared_run(tmp_path, tiny_csv, **ONE_ARCHITECTURE)
    run_search(run_dir, config)  # one process: tuner id "tuner0", its tuner0.json in the project
    for name, value in {"KERASTUNER_TUNER_ID": "chief", "KERASTUNER_ORACLE_IP": "127.0.0.1"}.items():
        monkeypatch.setenv(name, value)  # what `keras_tuner_environment` sets for the chief
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", "1")
    plain = plain_keras_tuner(run_dir)
    assert plain.oracle.trials == {}  # keras-tuner's chief would train both trials again
    tuner = tuners.make_tuner(config, ARCHITECTURES["gru1"], load_prepared(run_dir), run_dir / "search")
    assert {trial.status for trial in tuner.oracle.trials.values()} == {"COMPLETED"}
    assert len(tuner.oracle.trials) == 2


@pytest.mark.backend
def test_rerunning_a_finished_sweep_in_process_trains_nothing(tmp_path, tiny_csv):
    config, run_dir = prepared_run(tmp_path, tiny_csv, **ONE_ARCHITECTURE)
    first = run_search(run_dir, config)
    before = trial_state(run_dir)
    again = run_search(run_dir, config)
    assert trial_state(run_dir) == before
    pd.testing.assert_frame_equal(first, again)


def test_consecutive_failures_are_read_from_the_oracle(tmp_path, tiny_csv, monkeypatch):
    """keras-tuner raises a RuntimeError at its failure limit; rnnsweep counts the oracle's
    own record of ended trials to tell it from any other RuntimeError."""
    from test_tuning import diverge_at_huge_rates

    diverge_at_huge_rates(monkeypatch)
    config, run_dir = prepared_run(
        tmp_path,
        tiny_csv,
        max_trials=5,
        space={"units": [8], "learning_rate": [1e30], "dropout": [0.0, 0.1, 0.2]},
        max_consecutive_failures=2,
    )
    seen = []
    real = tuners.consecutive_failures
    monkeypatch.setattr("rnnsweep.tuning.search.consecutive_failures", lambda o: seen.append(real(o)) or seen[-1])
    with pytest.raises(InputError, match="2 trials failed in a row"):
        run_search(run_dir, config)
    assert seen == [2]
    # Any other RuntimeError from the search is not dressed up as the failure limit.
    monkeypatch.setattr(
        "rnnsweep.tuning.search.make_tuner", functools.partial(_tuner_whose_search_raises, tuners.make_tuner)
    )
    (tmp_path / "fresh").mkdir()
    config, run_dir = prepared_run(tmp_path / "fresh", tiny_csv, **ONE_ARCHITECTURE)
    with pytest.raises(RuntimeError, match="something else"):
        run_search(run_dir, config)


def _tuner_whose_search_raises(make_tuner, *args, **kwargs):
    tuner = make_tuner(*args, **kwargs)

    def search(*_, **__):
        raise RuntimeError("something else went wrong")

    tuner.search = search
    return tuner


def test_a_fatal_error_stops_the_sweep(tmp_path, tiny_csv, monkeypatch):
    import rnnsweep.models.builders as builders

    original = builders.compile_for_classes

    def fatal_at_high_rates(model, *, num_classes, learning_rate):
        if learning_rate > 1e-3:  # the constructor's default build (1e-3) passes
            raise keras_tuner.errors.FatalValueError("this rate can never work here")
        return original(model, num_classes=num_classes, learning_rate=learning_rate)

    monkeypatch.setattr(builders, "compile_for_classes", fatal_at_high_rates)
    config, run_dir = prepared_run(
        tmp_path,
        tiny_csv,
        max_trials=4,
        max_consecutive_failures=5,
        space={"units": [8], "learning_rate": [1e-2, 1e-3], "dropout": [0.0, 0.1]},
    )
    with pytest.raises(InputError, match="stopped by keras-tuner: this rate can never work here"):
        run_search(run_dir, config)
    trials = pd.read_csv(run_dir / "trials.csv")
    assert "FAILED" not in set(trials["status"])  # not turned into an ordinary failed trial
    assert (trials["hp_learning_rate"] == 1e-2).sum() == 1  # the sweep ended at the first one


def test_a_silent_workers_trial_is_taken_back_and_given_to_the_next_worker(tmp_path):
    hyperparameters = keras_tuner.HyperParameters()
    hyperparameters.Choice("units", [8, 16, 32])
    oracle = keras_tuner.oracles.RandomSearchOracle(
        objective=keras_tuner.Objective("val_auc", "max"), max_trials=2, hyperparameters=hyperparameters, seed=1
    )
    oracle._set_project_dir(str(tmp_path), "project")
    held = oracle.create_trial("tuner1")
    assert held.status == "RUNNING"
    assert not tuners.chief_may_exit(oracle)  # keras-tuner alone waits for tuner1 for ever

    assert tuners.take_back_trial(oracle, "tuner1") == held.trial_id
    assert "tuner1" not in oracle.tuner_ids and "tuner1" not in oracle.ongoing_trials
    assert tuners.queued_retries(oracle) == [held.trial_id]
    assert not tuners.chief_may_exit(oracle)  # a trial waits for a retry
    assert tuners.take_back_trial(oracle, "tuner1") is None  # nothing left to take

    again = oracle.create_trial("tuner2")  # the next worker to ask gets it, same values
    assert again.trial_id == held.trial_id and again.hyperparameters.values == held.hyperparameters.values
    again.status = "COMPLETED"
    oracle.update_trial(again.trial_id, {"val_auc": 0.8})
    oracle.end_trial(again)
    other = oracle.create_trial("tuner2")
    other.status = "COMPLETED"
    oracle.update_trial(other.trial_id, {"val_auc": 0.7})
    oracle.end_trial(other)
    assert oracle.create_trial("tuner2").status == "STOPPED"
    assert tuners.chief_may_exit(oracle)
    assert json.loads((tmp_path / "project" / "oracle.json").read_text())["run_times"] == {"0": 1, "1": 1}


def test_no_trial_starts_after_the_deadline_and_the_oracle_says_it_cut_the_search(tmp_path):
    hyperparameters = keras_tuner.HyperParameters()
    hyperparameters.Choice("units", [8, 16, 32])
    oracle = keras_tuner.oracles.RandomSearchOracle(
        objective=keras_tuner.Objective("val_auc", "max"), max_trials=2, hyperparameters=hyperparameters
    )
    oracle._set_project_dir(str(tmp_path), "project")
    tuners.stop_starting_trials_at(oracle, time.time() + 60)
    first = oracle.create_trial("tuner0")
    assert first.status == "RUNNING" and not oracle.cut_by_time and not tuners.past_deadline(oracle)
    oracle.rnnsweep_deadline = time.time() - 1  # the budget has run out
    assert oracle.create_trial("tuner0") is first  # the running trial is this tuner's still
    assert oracle.create_trial("tuner1").status == "STOPPED"
    assert oracle.cut_by_time and "tuner1" not in oracle.tuner_ids and len(oracle.trials) == 1
    # At max_trials, a stop is keras-tuner's own, not the budget's.
    full = keras_tuner.oracles.RandomSearchOracle(
        objective=keras_tuner.Objective("val_auc", "max"), max_trials=1, hyperparameters=hyperparameters
    )
    full._set_project_dir(str(tmp_path), "full")
    full.create_trial("tuner0")
    tuners.stop_starting_trials_at(full, time.time() - 1)
    assert full.create_trial("tuner1").status == "STOPPED" and not full.cut_by_time


def test_queued_values_go_to_the_first_new_trials_once(tmp_path):
    hyperparameters = keras_tuner.HyperParameters()
    hyperparameters.Choice("units", [8, 16, 32], default=16)
    hyperparameters.Choice("learning_rate", [0.01, 0.001], default=0.001)
    oracle = keras_tuner.oracles.RandomSearchOracle(
        objective=keras_tuner.Objective("val_auc", "max"), max_trials=5, hyperparameters=hyperparameters, seed=1
    )
    oracle._set_project_dir(str(tmp_path), "project")
    queue = [{"values": {"units": 32}, "source": "a"}, {"values": {"units": 32}, "source": "same again"}]
    tuners.try_queued_first(oracle, queue)
    first = oracle.create_trial("tuner0")
    assert first.hyperparameters.values == {"units": 32, "learning_rate": 0.001}  # the rest: defaults
    marker = json.loads((tmp_path / "project" / f"trial_{first.trial_id}" / "rnnsweep_enqueued.json").read_text())
    assert marker == {"source": "a", "values": {"units": 32}}
    second = oracle.create_trial("tuner1")  # the duplicate is skipped: the tuner's own choice
    assert second.hyperparameters.values != first.hyperparameters.values
    assert not (tmp_path / "project" / f"trial_{second.trial_id}" / "rnnsweep_enqueued.json").exists()
