"""The sweep engine: one keras-tuner project per architecture, resumable, failure-tolerant."""

from __future__ import annotations

import functools
import gc
import json
import logging
import math
import os
import time
from pathlib import Path

import keras
import keras_tuner
import numpy as np
from keras_tuner.src import utils as kt_utils

from data_prep.errors import InputError
from data_prep.prepare import PreparedData, load_prepared
from models.architectures import Architecture, resolve_architectures
from models.builders import build_model
from models.head import encode_targets
from models.search_space import default_search_space
from models.spec import ModelSpec
from tuning.config import Config, check_same_settings
from tuning.inputs import LengthBucketedBatches
from tuning.trials import collect_trials, record_duration, write_trials

logger = logging.getLogger("rnnsweep")


def _save_json_atomically(path, obj):
    # keras-tuner writes its state files in place; a kill mid-write leaves truncated JSON
    # that no reload recovers from. Writing a sibling file and renaming it is atomic.
    text = json.dumps(obj)
    partial = f"{path}.partial"
    with open(partial, "w") as handle:
        handle.write(text)
    os.replace(partial, path)
    return text


kt_utils.save_json = _save_json_atomically


class NonFiniteLossError(keras_tuner.errors.FailedTrialError):
    """A trial's loss became NaN or infinite."""


class FailOnNonFiniteLoss(keras.callbacks.Callback):
    """Fail the trial when the loss stops being finite.

    keras-tuner records a NaN-loss trial with a `val_auc` objective as COMPLETED with
    AUC 0.0; raising `FailedTrialError` makes it FAILED with this reason instead.
    """

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise NonFiniteLossError(f"non-finite loss ({loss}) at batch {batch}")


def model_spec(data: PreparedData, *, bucket_by_length: bool, trainable: bool = False) -> ModelSpec:
    """The `ModelSpec` of prepared data (free sequence length when batches are bucketed)."""
    return ModelSpec(
        vocab_size=len(data.vocabulary),
        sequence_length=None if bucket_by_length else data.sequence_length,
        num_classes=data.num_classes,
        embedding_matrix=data.embedding_matrix,
        embedding_trainable=trainable,
    )


def fit_inputs(data: PreparedData, split: str, *, batch_size: int, bucket: bool, shuffle: bool, seed: int):
    """Keyword arguments for `fit`/`evaluate` holding one split's inputs."""
    targets = encode_targets(data.y[split], data.num_classes)
    if bucket:
        return {"x": LengthBucketedBatches(data.x[split], targets, batch_size=batch_size, shuffle=shuffle, seed=seed)}
    return {"x": data.x[split], "y": targets, "batch_size": batch_size}


class SweepTuner:
    """Behaviour every rnnsweep tuner adds to keras-tuner's (mixed in before it).

    - any exception in a trial fails that trial at once with its reason (keras-tuner
      would retry deterministic failures with the same values);
    - a progress line after each trial.
    """

    progress = None  # set by run_search: called with the finished trial

    def on_trial_begin(self, trial):
        super().on_trial_begin(trial)
        self._trial_started = time.monotonic()

    def run_trial(self, trial, *args, **kwargs):
        try:
            return super().run_trial(trial, *args, **kwargs)
        except keras_tuner.errors.FailedTrialError:
            raise
        except Exception as error:  # noqa: BLE001 - every other error fails just this trial
            name = type(error).__name__
            if "ResourceExhausted" in name or isinstance(error, MemoryError):
                raise keras_tuner.errors.FailedTrialError(f"out of memory: {error}") from error
            raise keras_tuner.errors.FailedTrialError(f"{name}: {error}") from error
        finally:
            gc.collect()

    def on_trial_end(self, trial):
        record_duration(self.project_dir, trial.trial_id, time.monotonic() - self._trial_started)
        super().on_trial_end(trial)
        if self.progress:
            self.progress(trial)


TUNER_CLASSES = {
    "random": type("RandomSweep", (SweepTuner, keras_tuner.RandomSearch), {}),
    "hyperband": type("HyperbandSweep", (SweepTuner, keras_tuner.Hyperband), {}),
    "bayesian": type("BayesianSweep", (SweepTuner, keras_tuner.BayesianOptimization), {}),
}


def make_tuner(
    config: Config, architecture: Architecture, data: PreparedData, project_root: Path, **tuner_options
) -> keras_tuner.Tuner:
    """A keras-tuner tuner for one architecture, resuming its project if one exists.

    Args:
        config: The sweep configuration.
        architecture: The architecture to tune.
        data: The prepared data (for vocabulary, length and classes).
        project_root: Folder holding one project per architecture.
        **tuner_options: Passed on to the tuner (e.g. `distribution_strategy`).

    Returns:
        The tuner; `overwrite=False`, so completed trials are kept.
    """
    search = config.search
    spec = model_spec(data, bucket_by_length=search.bucket_by_length, trainable=config.data.embeddings_trainable)
    space = default_search_space(architecture.name, search.space)
    hypermodel = functools.partial(build_model, spec=spec, architecture=architecture, space=space)
    direction = "min" if search.objective == "val_loss" else "max"
    options = {
        "hypermodel": hypermodel,
        "objective": keras_tuner.Objective(search.objective, direction),
        "seed": search.seed,
        "executions_per_trial": search.executions_per_trial,
        "max_consecutive_failed_trials": search.max_consecutive_failures,
        "directory": str(project_root),
        "project_name": architecture.name,
        "overwrite": False,
        **tuner_options,
    }
    if search.tuner == "hyperband":
        options["max_epochs"] = search.epochs
        # Hyperband sizes its own budget from max_epochs; cap it with max_trials as well.
        options["hyperband_iterations"] = 1
    else:
        options["max_trials"] = search.max_trials
    return TUNER_CLASSES[search.tuner](**options)


class Progress:
    """One log line per finished trial, with the sweep's ETA."""

    def __init__(self, total_trials: int, objective: str):
        self.total = total_trials
        self.objective = objective
        self.done = 0
        self.started = time.monotonic()
        self.best: dict[str, float] = {}

    def __call__(self, architecture: str, tuner, trial) -> None:
        self.done += 1
        elapsed = time.monotonic() - self.started
        remaining = max(0, self.total - self.done)
        eta = elapsed / self.done * remaining
        status = trial.status
        score = trial.score
        text = f"{status.lower()}: {trial.message.strip().splitlines()[-1][:120]}" if status != "COMPLETED" else ""
        if status == "COMPLETED" and score is not None:
            better = max if self.objective != "val_loss" else min
            self.best[architecture] = better(score, self.best.get(architecture, score))
            text = f"{self.objective} {score:.4f}, best {self.best[architecture]:.4f}"
        logger.info(
            "%s trial %d of %d: %s | elapsed %s, ETA %s",
            architecture, self.done, self.total, text, _clock(elapsed), _clock(eta),
        )  # fmt: skip


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}m{seconds:02d}s"


def run_search(run_dir: Path, config: Config, *, tuner_options: dict | None = None) -> "pandas.DataFrame":  # noqa: F821
    """Run (or resume) the sweep over every configured architecture.

    Reads `RUN_DIR/data`, writes `RUN_DIR/search/<architecture>/` (keras-tuner
    projects) and `trials.csv`/`trials.json`.

    Args:
        run_dir: The run directory (its data stage must have run).
        config: The sweep configuration.
        tuner_options: Extra keyword arguments for each tuner (default None).

    Returns:
        The trials table.

    Raises:
        InputError: Missing data, settings that differ from the saved search, or a
            sweep stopped by too many consecutive failed trials.
    """
    run_dir = Path(run_dir)
    search = config.search
    data = load_prepared(run_dir)
    check_same_settings(run_dir, config)
    project_root = run_dir / "search"
    project_root.mkdir(parents=True, exist_ok=True)

    architectures = resolve_architectures(search.architectures, search.custom_architectures)
    keras.utils.set_random_seed(search.seed)
    progress = Progress(search.max_trials * len(architectures), search.objective)
    bucket = search.bucket_by_length
    callbacks = [FailOnNonFiniteLoss()]
    if search.early_stopping_patience:
        mode = "min" if search.objective == "val_loss" else "max"
        callbacks.append(
            keras.callbacks.EarlyStopping(search.objective, patience=search.early_stopping_patience, mode=mode)
        )
    if search.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(run_dir / "tensorboard")))
    train = fit_inputs(data, "train", batch_size=search.batch_size, bucket=bucket, shuffle=True, seed=search.seed)
    validation = fit_inputs(data, "validation", batch_size=search.batch_size, bucket=bucket, shuffle=False, seed=0)
    validation_data = validation["x"] if bucket else (validation["x"], validation["y"])
    try:
        for architecture in architectures:
            tuner = make_tuner(config, architecture, data, project_root, **(tuner_options or {}))
            tuner.progress = functools.partial(progress, architecture.name, tuner)
            finished = sum(t.status in ("COMPLETED", "FAILED", "INVALID") for t in tuner.oracle.trials.values())
            progress.done += min(finished, search.max_trials)
            tuner.search(
                **train,
                validation_data=validation_data,
                epochs=search.epochs,
                class_weight=data.class_weight,
                callbacks=callbacks,
                verbose=0,
            )
    except RuntimeError as error:
        if "consecutive failures" not in str(error):
            raise
        # keras-tuner raises before writing the last failed trial's file; write them all.
        for trial in tuner.oracle.trials.values():
            tuner.oracle._save_trial(trial)
        write_trials(run_dir, collect_trials(run_dir, architectures, search.objective))
        reason = str(error).strip().splitlines()[-1][:200]
        raise InputError(
            f"sweep stopped: {search.max_consecutive_failures} trials failed in a row (last: {reason}); "
            "see trials.csv, fix the search space, or raise max_consecutive_failures"
        ) from None
    table = collect_trials(run_dir, architectures, search.objective)
    write_trials(run_dir, table)
    _log_leaderboard(table, search.objective)
    return table


def _log_leaderboard(table, objective: str) -> None:
    completed = table[table["status"] == "COMPLETED"]
    if completed.empty:
        logger.info("no trial completed")
        return
    ascending = objective == "val_loss"
    best = completed.sort_values("objective", ascending=ascending).groupby("architecture").head(1)
    logger.info("leaderboard (best trial per architecture, %s):", objective)
    for rank, row in enumerate(best.itertuples(), start=1):
        logger.info("  %d. %-12s %.4f  (trial %s)", rank, row.architecture, row.objective, row.trial_id)


def best_trials(table, *, objective: str, top: int = 0):
    """Best completed trials: one per architecture (top=0) or the `top` best overall."""
    completed = table[table["status"] == "COMPLETED"].copy()
    completed = completed[np.isfinite(completed["objective"].astype(float))]
    ascending = objective == "val_loss"
    completed = completed.sort_values("objective", ascending=ascending)
    if top:
        return completed.head(top)
    return completed.groupby("architecture", sort=False).head(1)
