"""Median stopping: the rule on saved curves, inside a real fit, and wired into a sweep."""

from __future__ import annotations

import json
import types

import keras
import numpy as np
import pandas as pd
import pytest
from test_tuning import prepared_run

from rnnsweep.tuning.config import save_config
from rnnsweep.tuning.search import run_search
from rnnsweep.tuning.stopping import MedianStopping
from rnnsweep.tuning.trials import CURVE_FILE, read_curve


def finished_trial(project, trial_id, values, status="COMPLETED"):
    folder = project / f"trial_{trial_id}"
    folder.mkdir(parents=True)
    (folder / "trial.json").write_text(json.dumps({"trial_id": trial_id, "status": status}))
    (folder / CURVE_FILE).write_text(json.dumps({"objective": "val_auc", "values": values, "stopped_at_epoch": None}))


def stopping_for(project, *, direction="max", epochs=3, min_trials=3):
    callback = MedianStopping(
        trial_dir=project / "trial_09",
        project_dir=project,
        trial_id="09",
        objective="val_auc",
        direction=direction,
        epochs=epochs,
        min_trials=min_trials,
    )
    callback.set_model(types.SimpleNamespace(stop_training=False))
    callback.on_train_begin()
    return callback


@pytest.mark.parametrize(
    ("direction", "finished", "value", "stops"),
    [
        ("max", [[0.7], [0.8], [0.9]], 0.75, True),  # below the median 0.8
        ("max", [[0.7], [0.8], [0.9]], 0.8, False),  # equal to the median is not worse
        ("max", [[0.7], [0.8], [0.9]], 0.85, False),
        ("max", [[0.7], [0.8]], 0.1, False),  # fewer finished trials than min_trials
        ("min", [[0.5], [0.6], [0.7]], 0.65, True),  # a loss above the median
        ("min", [[0.5], [0.6], [0.7]], 0.55, False),
    ],
)
def test_median_rule_at_first_epoch(tmp_path, direction, finished, value, stops):
    for i, values in enumerate(finished):
        finished_trial(tmp_path, f"0{i}", values)
    callback = stopping_for(tmp_path, direction=direction)
    callback.on_epoch_end(0, {"val_auc": value})
    assert callback.model.stop_training is stops
    curve = read_curve(tmp_path / "trial_09")
    assert curve == {"objective": "val_auc", "values": [value], "stopped_at_epoch": 0 if stops else None}


def test_median_rule_uses_running_best_and_only_completed_trials(tmp_path):
    finished_trial(tmp_path, "00", [0.60, 0.70, 0.72])
    finished_trial(tmp_path, "01", [0.65, 0.66, 0.66])
    finished_trial(tmp_path, "02", [0.90])  # stopped or early-stopped: counts with its last best
    finished_trial(tmp_path, "03", [0.99, 0.99, 0.99], status="FAILED")
    callback = stopping_for(tmp_path)
    callback.on_epoch_end(0, {"val_auc": 0.68})  # median of 0.60, 0.65, 0.90 is 0.65
    assert callback.model.stop_training is False
    callback.on_epoch_end(1, {"val_auc": 0.60})  # best so far 0.68, median of 0.70, 0.66, 0.90 is 0.70
    assert callback.model.stop_training is True
    assert read_curve(tmp_path / "trial_09")["stopped_at_epoch"] == 1


def test_last_epoch_and_min_trials_zero_never_stop(tmp_path):
    for i in range(3):
        finished_trial(tmp_path, f"0{i}", [0.9, 0.9])
    last = stopping_for(tmp_path, epochs=1)
    last.on_epoch_end(0, {"val_auc": 0.1})
    assert last.model.stop_training is False
    recording_only = stopping_for(tmp_path, min_trials=0)
    recording_only.on_epoch_end(0, {"val_auc": 0.1})
    assert recording_only.model.stop_training is False
    assert read_curve(tmp_path / "trial_09")["values"] == [0.1]


@pytest.mark.backend
def test_median_stopping_ends_a_real_fit(tmp_path):
    for i in range(3):
        finished_trial(tmp_path, f"0{i}", [1.0, 1.0, 1.0])
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=[keras.metrics.AUC(name="auc")])
    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    y = np.eye(2, dtype="float32")[(x[:, 0] > 0).astype(int)]
    callback = stopping_for(tmp_path, epochs=5)  # fit gives it the real model
    history = model.fit(x, y, validation_data=(x, y), epochs=5, verbose=0, callbacks=[callback])
    assert len(history.history["val_auc"]) == 1
    assert read_curve(tmp_path / "trial_09")["stopped_at_epoch"] == 0


@pytest.mark.backend
@pytest.mark.slow
def test_sweep_stops_a_trial_below_the_median(tmp_path, tiny_csv):
    """The sweep records every trial's curve and stops (but completes) a trailing trial."""
    space = {"units": [8], "learning_rate": [1e-2]}
    config, run_dir = prepared_run(tmp_path, tiny_csv, max_trials=1, epochs=2, space=space)
    table = run_search(run_dir, config)
    assert table["epochs_trained"].tolist() == [2]
    assert table["stopped_at_epoch"].isna().all()
    # Make the finished trial unbeatable, then let the sweep run one more trial.
    first = next((run_dir / "search" / "gru1").glob("trial_*"))
    (first / CURVE_FILE).write_text(json.dumps({"objective": "val_auc", "values": [1.0, 1.0]}))
    config.search.max_trials = 2
    config.search.median_stopping_min_trials = 1
    save_config(config, run_dir / "config.toml")  # a deliberate change of the saved settings
    table = run_search(run_dir, config).sort_values("trial_id")
    second = table.iloc[1]
    assert second["status"] == "COMPLETED"
    assert second["epochs_trained"] == 1 and second["stopped_at_epoch"] == 0
    assert pd.read_csv(run_dir / "trials.csv")["stopped_at_epoch"].tolist()[1] == 0
