"""Retrain the best trials with early stopping, evaluate them, and export raw-text models."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import keras
import keras_tuner
import numpy as np
import pandas as pd

from rnnsweep.data_prep import layout as files
from rnnsweep.data_prep.errors import InputError
from rnnsweep.data_prep.files import staged_directory, write_atomically
from rnnsweep.data_prep.layout import RunLayout, read_trials, with_probabilities
from rnnsweep.data_prep.prepare import SPLITS, PreparedData, cleaning_options, load_prepared
from rnnsweep.models import objective as objectives
from rnnsweep.models.architectures import resolve_architectures
from rnnsweep.models.builders import build_model
from rnnsweep.models.head import predict_proba
from rnnsweep.models.search_space import default_search_space
from rnnsweep.tuning.config import Config
from rnnsweep.tuning.devices import training_device
from rnnsweep.tuning.evaluation import bootstrap_intervals, classification_metrics, objective_score
from rnnsweep.tuning.exact_auc import ValidationAUC
from rnnsweep.tuning.export import export_text_model
from rnnsweep.tuning.inputs import fit_inputs, model_spec, validation_data
from rnnsweep.tuning.stopping import FailOnNonFiniteLoss
from rnnsweep.tuning.trials import best_trials

logger = logging.getLogger(__name__)


def hyperparameters_of(row: pd.Series) -> keras_tuner.HyperParameters:
    """Fixed hyperparameters from a trials-table row's `hp_*` columns."""
    hp = keras_tuner.HyperParameters()
    for column, value in row.items():
        if column.startswith("hp_") and not pd.isna(value):
            name = column[3:]
            if name.startswith("tuner/"):
                continue
            value = value.item() if hasattr(value, "item") else value
            if name.startswith("units_"):
                value = int(value)
            hp.Fixed(name, value)
    return hp


def _model_dir_name(row: pd.Series, top: int) -> str:
    return f"{row['architecture']}_trial_{row['trial_id']}" if top else str(row["architecture"])


class EpochLines(keras.callbacks.Callback):
    """One log line per retraining epoch: which model and seed, the epoch of the most, the validation figures."""

    def __init__(self, label: str, *, epochs: int):
        super().__init__()
        self.label, self.epochs = label, epochs

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        figures = ", ".join(f"{k} {logs[k]:.4f}" for k in ("val_loss", "val_auc") if k in logs)
        logger.info("  %s: epoch %d of at most %d, %s", self.label, epoch + 1, self.epochs, figures)


def fit_one(config: Config, data: PreparedData, row: pd.Series, *, seed: int, checkpoint: Path):
    """Build the trial's model and train it with early stopping and best-epoch checkpoints.

    Returns:
        The model with its best epoch's weights restored, and the `History`.
    """
    retrain, search = config.retrain, config.search
    architectures = resolve_architectures([row["architecture"]], search.custom_architectures)
    architecture = architectures[0]
    space = default_search_space(architecture.name, search.space)
    keras.utils.set_random_seed(seed)
    keras.backend.clear_session()
    spec = model_spec(data, bucket_by_length=search.bucket_by_length, trainable=config.data.embeddings_trainable)
    model = build_model(hyperparameters_of(row), spec=spec, architecture=architecture, space=space)
    mode = objectives.direction(retrain.monitor)
    bucket = search.bucket_by_length
    callbacks = [
        ValidationAUC(data.x["validation"], data.y["validation"], batch_size=retrain.batch_size, bucket=bucket),
        FailOnNonFiniteLoss(),
        keras.callbacks.EarlyStopping(retrain.monitor, mode=mode, patience=retrain.patience, restore_best_weights=True),
        keras.callbacks.ModelCheckpoint(str(checkpoint), monitor=retrain.monitor, mode=mode, save_best_only=True),
        EpochLines(f"{row['architecture']} (trial {row['trial_id']}) seed {seed}", epochs=retrain.epochs),
    ]
    train = fit_inputs(data, "train", batch_size=retrain.batch_size, bucket=bucket, shuffle=True, seed=seed)
    validation = fit_inputs(data, "validation", batch_size=retrain.batch_size, bucket=bucket, shuffle=False, seed=0)
    history = model.fit(
        **train,
        validation_data=validation_data(validation),
        epochs=retrain.epochs,
        class_weight=data.class_weight,
        callbacks=callbacks,
        verbose=0,
    )
    return model, history


def _best_monitor_value(history, monitor: str) -> float:
    """A fit's best value of `monitor`: the lowest loss, else the highest score."""
    series = np.asarray(history.history.get(monitor) or [np.nan], dtype=float)
    return float(np.nanmin(series) if objectives.direction(monitor) == "min" else np.nanmax(series))


def _history_dict(history, monitor: str) -> dict:
    values = {k: [float(v) for v in vs] for k, vs in history.history.items()}
    series = values.get(monitor, [])
    pick = np.argmin if objectives.direction(monitor) == "min" else np.argmax
    best = int(pick(series)) if series else None
    return {"epochs": len(next(iter(values.values()), [])), "best_epoch": best, "monitor": monitor, "history": values}


def retrain_best(run_dir: Path, config: Config, *, data: PreparedData | None = None) -> dict[str, dict]:
    """Retrain the best trials of a run's sweep and evaluate them on every split.

    Each selected trial is trained once per seed in `[retrain] seeds`. The kept model is
    the one with the best validation score on the run's objective among the seeds' models
    and, with several seeds and `ensemble = true`, their average. For each selected trial
    writes `RUN_DIR/models/<name>/`: `model.keras` (token ids in), `export.keras` (raw text
    in, probabilities out), `history.json` (a seed's curves), `metrics.json` (per split for
    the kept model, see `classification_metrics`, plus the search score, the validation
    score that chose the kept model and those of the other candidates, 95% bootstrap
    intervals of the test figures, the device, per-seed test figures with their mean and
    spread, and the kept seeds),
    `predictions.csv` (row id, split, true and predicted class, probabilities) and the
    kept seeds' best-epoch checkpoints.

    Args:
        run_dir: The run directory (data and search stages done).
        config: The sweep configuration.
        data: The run's prepared data (default None: read from `RUN_DIR/data`).

    Returns:
        Metrics by model name.

    Raises:
        InputError: No trials table or no completed trial.
    """
    run_dir = Path(run_dir)
    data = load_prepared(run_dir) if data is None else data
    table = read_trials(run_dir)
    chosen = best_trials(table, objective=config.search.objective, top=config.retrain.top)
    if chosen.empty:
        raise InputError(f"{run_dir}: no completed trial to retrain; see trials.csv and run `rnnsweep tune` again")
    if config.retrain.mixed_precision and training_device().startswith("GPU"):
        keras.mixed_precision.set_global_policy("mixed_float16")
    device = training_device()
    results = {}
    for _, row in chosen.iterrows():
        name = _model_dir_name(row, config.retrain.top)
        logger.info("retraining %s (trial %s) on %s", name, row["trial_id"], device)
        # The scratch folder sits beside models/, so no half-written model is ever listed there.
        with staged_directory(RunLayout(run_dir).model(name), beside=run_dir) as scratch:
            results[name] = _retrain_one(config, data, row, name, scratch, device)
    keras.mixed_precision.set_global_policy("float32")
    return results


def average_models(models: list[keras.Model], *, name: str) -> keras.Model:
    """One model whose output is the mean of `models`' outputs (a seed ensemble).

    Built from stock layers only, so it saves as one `.keras` file and loads in safe mode.
    """
    for index, model in enumerate(models):
        model.name = f"{name}_member{index}"  # nested models need distinct names
    inputs = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    outputs = keras.layers.Average(name="seed_average")([model(inputs) for model in models])
    return keras.Model(inputs, outputs, name=name)


def _evaluate(model: keras.Model, data: PreparedData) -> tuple[dict, dict]:
    """Probabilities and `classification_metrics` of `model` on every split."""
    probabilities = {s: predict_proba(model, data.x[s], num_classes=data.num_classes) for s in SPLITS}
    return probabilities, {s: classification_metrics(data.y[s], probabilities[s], data.class_names) for s in SPLITS}


def _retrain_one(config: Config, data: PreparedData, row: pd.Series, name: str, folder: Path, device: str) -> dict:
    retrain = config.retrain
    runs = []
    for seed in retrain.seeds:
        model, history = fit_one(config, data, row, seed=seed, checkpoint=folder / f"checkpoint_seed{seed}.keras")
        runs.append((seed, model, history, *_evaluate(model, data)))
    # Candidates: each seed's model, and with several seeds their average (`ensemble`).
    # The one kept is chosen by the run's objective on the validation split, like every
    # other choice; test figures are only reported.
    objective = config.search.objective
    candidates = {f"seed {run[0]}": run for run in runs}
    if len(runs) > 1 and retrain.ensemble:
        average = average_models([model for _, model, *_ in runs], name=str(row["architecture"]))
        # The curves shown for the average are the first seed's.
        candidates["average of seeds"] = (None, average, runs[0][2], *_evaluate(average, data))
    validation_scores = {
        label: objective_score(objective, data.y["validation"], candidate[3]["validation"])
        for label, candidate in candidates.items()
    }
    kept = objectives.best(validation_scores, objective, key=validation_scores.get)
    seed, model, history, probabilities, metrics = candidates[kept]
    kept_seeds = [s for s, *_ in runs] if seed is None else [seed]
    seed = runs[0][0] if seed is None else seed
    model.save(folder / files.MODEL)
    options, _ = cleaning_options(config.data)
    export_text_model(
        model,
        folder / files.EXPORT,
        saved_model=folder / files.MODEL,  # read by the TensorFlow process that builds it on another backend
        vocabulary=data.vocabulary,
        sequence_length=data.sequence_length,
        class_names=data.class_names,
        cleaning=options,
    )
    history_record = {**_history_dict(history, retrain.monitor), "seed": seed}
    write_atomically(folder / files.HISTORY, json.dumps(history_record, indent=1))
    per_seed = {
        str(s): {
            **{k: m["test"][k] for k in ("accuracy", "f1_weighted", "f1_macro", "auc_macro")},
            f"best_{retrain.monitor}": _best_monitor_value(h, retrain.monitor),
        }
        for s, _, h, _, m in runs
    }
    spread = {
        key: {
            "mean": float(np.mean([v[key] for v in per_seed.values() if v[key] is not None] or [np.nan])),
            "std": float(np.std([v[key] for v in per_seed.values() if v[key] is not None] or [np.nan])),
        }
        for key in ("accuracy", "f1_weighted", "f1_macro", "auc_macro")
    }
    payload = {
        "name": name,
        "architecture": row["architecture"],
        "trial_id": str(row["trial_id"]),
        "hyperparameters": {k[3:]: row[k] for k in row.index if k.startswith("hp_") and not pd.isna(row[k])},
        "search_objective": config.search.objective,
        "search_score": float(row["objective"]),
        "selection_objective": objective,
        "validation_score": validation_scores[kept],
        "chosen_on": "validation",
        "kept": kept,
        "candidates_validation_scores": validation_scores,
        "test_intervals": bootstrap_intervals(data.y["test"], probabilities["test"], seed=config.data.seed),
        "device": device,
        "backend": keras.backend.backend(),
        "seeds": per_seed,
        "kept_seeds": kept_seeds,
        "ensemble": kept == "average of seeds",
        "test_mean_std": spread,
        "class_names": data.class_names,
        **metrics,
    }
    write_atomically(folder / files.METRICS, json.dumps(payload, indent=1))

    frames = []
    for split in SPLITS:
        part = data.rows[data.rows["split"] == split]
        frame = pd.DataFrame(
            {
                "row_id": part["row_id"].to_numpy(),
                "split": split,
                "true": data.y[split],
                "predicted": probabilities[split].argmax(axis=1),
            }
        )
        frames.append(with_probabilities(frame, data.class_names, probabilities[split]))
    pd.concat(frames).to_csv(folder / files.PREDICTIONS, index=False)
    for path in folder.glob("checkpoint_seed*.keras"):
        if path.name not in {f"checkpoint_seed{s}.keras" for s in kept_seeds}:
            path.unlink()
    test = metrics["test"]
    logger.info(
        "%s: test weighted F1 %.4f, macro AUC %s (search %s %.4f)",
        name,
        test["f1_weighted"],
        f"{test['auc_macro']:.4f}" if test["auc_macro"] is not None else "n/a",
        config.search.objective,
        row["objective"],
    )
    return payload
