"""Baselines every run is judged against: tuned on the validation split like the RNNs, on the same texts and splits."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import joblib
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.dummy import DummyClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from rnnsweep.data_prep.files import write_atomically
from rnnsweep.data_prep.layout import PREDICTIONS, RunLayout, with_probabilities
from rnnsweep.data_prep.prepare import SPLITS, PreparedData, load_prepared
from rnnsweep.models import objective as objectives
from rnnsweep.tuning.evaluation import bootstrap_intervals, classification_metrics, objective_score
from rnnsweep.tuning.threads import available_cores

logger = logging.getLogger(__name__)

# Regularisation strengths tried on the validation split: a log grid around scikit-learn's
# default (1.0), wide enough that the chosen value was inside it on the review sets here.
C_GRID = {"tfidf_logreg": (0.25, 1.0, 4.0, 16.0), "tfidf_svm": (0.03, 0.1, 0.3, 1.0)}


def tfidf_features() -> TfidfVectorizer:
    """Word 1-2-grams seen in at least two training texts, sublinear term frequencies."""
    return TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)


def _linear_model(name: str, c: float, class_weight: str | None, seed: int):
    if name == "tfidf_logreg":
        return LogisticRegression(C=c, class_weight=class_weight, max_iter=2000)
    # Calibrated, so the SVM gives probabilities for AUC and for the paired comparison.
    svm = LinearSVC(C=c, class_weight=class_weight, random_state=seed)
    return CalibratedClassifierCV(svm, cv=3)


def _fit_and_score(settings: dict, model, x_train, y_train, x_validation, y_validation, objective: str):
    """Fit one candidate on the training split; score it on the validation split."""
    model.fit(x_train, y_train)
    return settings, objective_score(objective, y_validation, model.predict_proba(x_validation)), model


def class_weight_choices(balance: str) -> tuple[str | None, ...]:
    """Class weights the baselines may use: the RNNs' own when `balance` is "class_weight",
    else both "none" and "balanced", chosen on validation."""
    return ("balanced",) if balance == "class_weight" else (None, "balanced")


def run_baselines(
    run_dir: Path,
    *,
    data: PreparedData | None = None,
    objective: str = "val_auc",
    balance: str = "none",
    seed: int = 0,
) -> dict:
    """Tune every baseline on the validation split, then score it on all three splits.

    Baselines: the majority class; TF-IDF (word 1-2-grams) with logistic regression and
    with a calibrated linear SVM, each with C from `C_GRID` and class weights from
    `class_weight_choices`, chosen by the run's objective on the validation split (the same
    rule that ranks the RNNs). Features and models are fit on the training split only;
    with `balance = "undersample"` that split is already undersampled.

    Reads `RUN_DIR/data`; writes `RUN_DIR/baselines/metrics.json`
    ({baseline: {split: metrics, "settings", "validation_score", "grid", "test_intervals"}})
    and `RUN_DIR/baselines/predictions.csv` (row id, split, baseline, probabilities).

    Args:
        run_dir: The run directory (data stage done).
        data: The run's prepared data (default None: read from `RUN_DIR/data`).
        objective: The run's objective, which chooses the settings (default "val_auc").
        balance: The run's `[data] balance` (default "none"), see `class_weight_choices`.
        seed: Seed of the SVM and of the bootstrap intervals (default 0).

    Returns:
        The metrics dict.
    """
    layout = RunLayout(run_dir)
    data = load_prepared(run_dir) if data is None else data
    started = time.monotonic()
    texts = {s: data.rows.loc[data.rows["split"] == s, "clean_text"].tolist() for s in SPLITS}
    features = tfidf_features().fit(texts["train"])
    x = {s: features.transform(texts[s]) for s in SPLITS}
    better = objectives.is_better
    results, frames = {}, []
    candidates = {"majority": [({}, DummyClassifier(strategy="most_frequent"))]}
    for name, grid in C_GRID.items():
        candidates[name] = [
            ({"C": c, "class_weight": weight or "none"}, _linear_model(name, c, weight, seed))
            for c in grid
            for weight in class_weight_choices(balance)
        ]
    # Each candidate is fit from scratch (a warm-started path changed the larger Cs' fits
    # here), one process per core: about half the time on 2 cores.
    jobs = [(name, settings, model) for name, options in candidates.items() for settings, model in options]
    fitted = joblib.Parallel(n_jobs=min(len(jobs), available_cores()))(
        joblib.delayed(_fit_and_score)(
            settings, model, x["train"], data.y["train"], x["validation"], data.y["validation"], objective
        )
        for name, settings, model in jobs
    )
    for name in candidates:
        best, grid_scores = None, []
        for (job_name, *_), (settings, score, model) in zip(jobs, fitted, strict=True):
            if job_name != name:
                continue
            grid_scores.append({**settings, "validation_score": score})
            if best is None or better(score, best[0], objective):
                best = (score, settings, model)
        score, settings, model = best
        proba = {s: model.predict_proba(x[s]) for s in SPLITS}
        results[name] = {
            **{s: classification_metrics(data.y[s], proba[s], data.class_names) for s in SPLITS},
            "settings": settings,
            "selection_objective": objective,
            "validation_score": score,
            "chosen_on": "validation",
            "grid": grid_scores,
            "test_intervals": bootstrap_intervals(data.y["test"], proba["test"], seed=seed),
        }
        for split in SPLITS:
            frame = pd.DataFrame({"row_id": data.rows.loc[data.rows["split"] == split, "row_id"].to_numpy()})
            frame["split"], frame["baseline"] = split, name
            frames.append(with_probabilities(frame, data.class_names, proba[split]))
        test = results[name]["test"]
        logger.info(
            "baseline %-13s %s (validation %s %.4f): test macro AUC %s, weighted F1 %.4f, macro F1 %.4f",
            name,
            ", ".join(f"{k}={v}" for k, v in settings.items()) or "no settings",
            objective,
            score,
            f"{test['auc_macro']:.4f}" if test["auc_macro"] is not None else "n/a",
            test["f1_weighted"],
            test["f1_macro"],
        )
    logger.info("baselines tuned and scored in %.1f s", time.monotonic() - started)
    layout.baselines.mkdir(exist_ok=True)
    write_atomically(layout.baseline_metrics, json.dumps(results, indent=1))
    write_atomically(layout.baselines / PREDICTIONS, pd.concat(frames).to_csv(index=False))
    return results
