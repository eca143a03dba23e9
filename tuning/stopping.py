"""Callbacks that end training early: median stopping of trailing trials, non-finite losses, trials taken back."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import keras
import keras_tuner

from rnnsweep.data_prep.files import write_atomically
from rnnsweep.tuning.trials import CURVE_FILE, read_curve, trial_files


class NonFiniteLossError(keras_tuner.errors.FailedTrialError):
    """A trial's loss became NaN or infinite."""


class FailOnNonFiniteLoss(keras.callbacks.Callback):
    """Fail the trial (or retraining) when the loss stops being finite.

    keras-tuner records a NaN-loss trial with a `val_auc` objective as COMPLETED with
    AUC 0.0; raising `FailedTrialError` makes it FAILED with this reason instead.
    """

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise NonFiniteLossError(f"non-finite loss ({loss}) at batch {batch}")


class TrialTakenBackError(RuntimeError):
    """The chief gave this worker's trial to another worker (the lease ran out)."""


class StopWhenTakenBack(keras.callbacks.Callback):
    """End the trial as soon as `taken_back()` says the chief gave it to another worker.

    Args:
        taken_back: Called after each batch; True once the trial is no longer this worker's.
    """

    def __init__(self, taken_back):
        super().__init__()
        self.taken_back = taken_back

    def __deepcopy__(self, memo):
        # keras-tuner deep-copies a trial's callbacks; this one keeps no state and its
        # function reaches the worker's heartbeat thread, which cannot be copied.
        return self

    def on_train_batch_end(self, batch, logs=None):
        if self.taken_back():
            raise TrialTakenBackError("the chief gave this trial to another worker (this worker's lease ran out)")


def _running_best(values: list[float], upto: int, direction: str) -> float:
    best = max if direction == "max" else min
    return best(values[: upto + 1])


def finished_curves(project_dir: Path, *, exclude: str) -> list[list[float]]:
    """Objective curves of the project's completed trials other than `exclude`.

    Read from the trial folders, so trials finished by other processes of a distributed or
    isolated sweep count as well.
    """
    curves = []
    for trial in trial_files(project_dir):
        if trial["trial_id"] == exclude or trial["status"] != "COMPLETED":
            continue
        curve = read_curve(Path(project_dir) / f"trial_{trial['trial_id']}")
        if curve and curve["values"]:
            curves.append(curve["values"])
    return curves


class MedianStopping(keras.callbacks.Callback):
    """Stop a trial whose best objective so far is worse than the finished trials' median.

    After each epoch but the last, the trial's best objective value up to that epoch is
    compared with the median of the same quantity (best up to the same epoch) over the
    project's completed trials; when there are at least `min_trials` of them and this
    trial is worse than their median, training stops. The trial still completes,
    scored by its best epoch, so it cannot displace a better trial: the rule only skips
    epochs of trials that are unlikely to win (a variant of the "median stopping rule" of Google Vizier,
    Golovin et al., 2017). Every trial's curve is saved in its folder (`CURVE_FILE`), the
    record later trials are judged against.

    Args:
        trial_dir: The trial's folder.
        project_dir: The architecture's keras-tuner project folder.
        trial_id: The trial's id.
        objective: Name of the objective, e.g. "val_auc".
        direction: "max" or "min".
        epochs: Epochs the trial would train at most.
        min_trials: Completed trials needed before any trial is stopped; 0 records the
            curve and never stops.
    """

    def __init__(self, *, trial_dir, project_dir, trial_id, objective, direction, epochs, min_trials):
        super().__init__()
        self.trial_dir, self.project_dir = Path(trial_dir), Path(project_dir)
        self.trial_id, self.objective, self.direction = str(trial_id), objective, direction
        self.epochs, self.min_trials = epochs, min_trials
        self.values: list[float] = []

    def on_train_begin(self, logs=None):
        self.values = []  # one curve per execution; a later execution starts afresh

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.objective)
        if value is None or not math.isfinite(float(value)):
            return  # a non-finite loss fails the trial elsewhere
        self.values.append(float(value))
        stopped = epoch < self.epochs - 1 and self._trails_median(epoch)
        if stopped:
            self.model.stop_training = True
        self.trial_dir.mkdir(parents=True, exist_ok=True)
        record = {"objective": self.objective, "values": self.values, "stopped_at_epoch": epoch if stopped else None}
        write_atomically(self.trial_dir / CURVE_FILE, json.dumps(record))

    def _trails_median(self, epoch: int) -> bool:
        if not self.min_trials:
            return False
        # A finished trial that stopped before this epoch counts with its last best value,
        # which keeps the median, and so the rule, on the cautious side.
        others = [
            _running_best(curve, epoch, self.direction)
            for curve in finished_curves(self.project_dir, exclude=self.trial_id)
        ]
        if len(others) < self.min_trials:
            return False
        median = statistics.median(others)
        mine = _running_best(self.values, epoch, self.direction)
        return mine < median if self.direction == "max" else mine > median
