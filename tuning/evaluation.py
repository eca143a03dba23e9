"""Classification metrics from predicted probabilities, computed with scikit-learn."""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm


def macro_auc(y_true: np.ndarray, proba: np.ndarray) -> float | None:
    """Macro one-vs-rest ROC AUC (positive-class AUC for 2 classes); None if undefined."""
    present = np.unique(y_true)
    if len(present) < 2:
        return None
    if proba.shape[1] == 2:
        return float(skm.roc_auc_score(y_true, proba[:, 1]))
    # Average over the classes present, so a class missing from a small split does not fail.
    scores = [skm.roc_auc_score(y_true == c, proba[:, c]) for c in present]
    return float(np.mean(scores))


def classification_metrics(y_true, proba, class_names: list[str]) -> dict:
    """Every figure the reports show for one split.

    Args:
        y_true: True class ids.
        proba: Predicted probabilities, shape (n, number of classes).
        class_names: Class names in id order.

    Returns:
        Plain dict: `n`, `accuracy`, `precision_weighted`, `recall_weighted`,
        `f1_weighted`, the same `_macro`, `auc_macro`, `per_class` (precision, recall,
        f1, support by class name), `confusion_matrix` (rows true, columns predicted),
        `confusion_matrix_normalized` (row-normalised), `true_proportions`,
        `predicted_proportions`.
    """
    y_true = np.asarray(y_true)
    proba = np.asarray(proba, dtype=float)
    predicted = proba.argmax(axis=1)
    labels = list(range(len(class_names)))
    result = {"n": int(len(y_true)), "accuracy": float(skm.accuracy_score(y_true, predicted))}
    for average in ("weighted", "macro"):
        p, r, f, _ = skm.precision_recall_fscore_support(
            y_true, predicted, labels=labels, average=average, zero_division=0
        )
        result |= {f"precision_{average}": float(p), f"recall_{average}": float(r), f"f1_{average}": float(f)}
    result["auc_macro"] = macro_auc(y_true, proba)
    p, r, f, support = skm.precision_recall_fscore_support(
        y_true, predicted, labels=labels, average=None, zero_division=0
    )
    result["per_class"] = {
        name: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(support[i])}
        for i, name in enumerate(class_names)
    }
    matrix = skm.confusion_matrix(y_true, predicted, labels=labels)
    with np.errstate(invalid="ignore", divide="ignore"):
        normalized = np.nan_to_num(matrix / matrix.sum(axis=1, keepdims=True))
    result["confusion_matrix"] = matrix.tolist()
    result["confusion_matrix_normalized"] = normalized.round(6).tolist()
    n = max(1, len(y_true))
    result["true_proportions"] = (np.bincount(y_true, minlength=len(labels)) / n).tolist()
    result["predicted_proportions"] = (np.bincount(predicted, minlength=len(labels)) / n).tolist()
    return result


# Figures reported with intervals everywhere (report, metrics.json, README, BENCHMARKS.md).
INTERVAL_METRICS = ("auc_macro", "f1_weighted", "f1_macro", "accuracy")


def objective_score(objective: str, y_true, proba) -> float | None:
    """A split's value of the sweep's objective, computed like the tuner's: `val_auc` is
    `macro_auc`, `val_accuracy` the accuracy, `val_loss` the cross-entropy."""
    y_true, proba = np.asarray(y_true), np.asarray(proba, dtype=float)
    if objective == "val_auc":
        return macro_auc(y_true, proba)
    if objective == "val_accuracy":
        return float(skm.accuracy_score(y_true, proba.argmax(axis=1)))
    if objective == "val_loss":
        return float(skm.log_loss(y_true, np.clip(proba, 1e-7, 1), labels=list(range(proba.shape[1]))))
    raise ValueError(f"Expected one of ['val_accuracy', 'val_auc', 'val_loss']. Received: objective={objective!r}")


def bootstrap_weights(y_true, *, resamples: int = 1000, seed: int = 0) -> np.ndarray:
    """How often each row is drawn in each stratified bootstrap resample.

    Each resample draws, within every class, as many rows as the class has, with
    replacement; so class counts stay those of the split (a rare class never vanishes from
    a resample). Returns an array of shape (resamples, rows).
    """
    y_true = np.asarray(y_true)
    rng = np.random.default_rng(seed)
    weights = np.zeros((resamples, len(y_true)))
    offsets = np.arange(resamples)[:, None] * len(y_true)
    for label in np.unique(y_true):
        rows = np.flatnonzero(y_true == label)
        drawn = rows[rng.integers(0, len(rows), size=(resamples, len(rows)))]
        weights += np.bincount((drawn + offsets).ravel(), minlength=weights.size).reshape(weights.shape)
    return weights


def _weighted_auc(weights: np.ndarray, positive: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """One-vs-rest ROC AUC of `scores` for each row of `weights` (ties count one half)."""
    order = np.argsort(scores, kind="mergesort")
    _, starts = np.unique(scores[order], return_index=True)
    w = weights[:, order]
    pos = np.add.reduceat(w * positive[order], starts, axis=1)
    neg = np.add.reduceat(w * ~positive[order], starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg
    pairs = pos.sum(axis=1) * neg.sum(axis=1)
    return (pos * (below + 0.5 * neg)).sum(axis=1) / pairs


def bootstrap_metrics(y_true, proba, weights: np.ndarray) -> dict[str, np.ndarray]:
    """`INTERVAL_METRICS` of one model in every resample of `weights` (see `bootstrap_weights`).

    Equal, resample by resample, to `classification_metrics` on the resampled rows: the
    same macro AUC (`macro_auc`), weighted and macro F1 and accuracy.
    """
    y_true = np.asarray(y_true)
    proba = np.asarray(proba, dtype=float)
    classes = proba.shape[1]
    predicted = proba.argmax(axis=1)
    present = np.unique(y_true)
    if classes == 2:
        auc = _weighted_auc(weights, y_true == 1, proba[:, 1])
    else:
        auc = np.mean([_weighted_auc(weights, y_true == c, proba[:, c]) for c in present], axis=0)
    pairs = np.zeros((len(y_true), classes * classes))
    pairs[np.arange(len(y_true)), y_true * classes + predicted] = 1
    confusion = (weights @ pairs).reshape(-1, classes, classes)  # resample, true, predicted
    true_counts, predicted_counts = confusion.sum(axis=2), confusion.sum(axis=1)
    hits = np.diagonal(confusion, axis1=1, axis2=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.nan_to_num(2 * hits / (true_counts + predicted_counts))
    total = true_counts.sum(axis=1)
    return {
        "auc_macro": auc,
        "f1_weighted": (f1 * true_counts).sum(axis=1) / total,
        "f1_macro": f1.mean(axis=1),
        "accuracy": hits.sum(axis=1) / total,
    }


def _interval(values: np.ndarray, level: float) -> list[float]:
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return [float(low), float(high)]


def bootstrap_intervals(y_true, proba, *, resamples: int = 1000, seed: int = 0, level: float = 0.95) -> dict:
    """Percentile intervals of `INTERVAL_METRICS` over stratified bootstrap resamples of the rows.

    Args:
        y_true: True class ids.
        proba: Predicted probabilities, shape (n, number of classes).
        resamples: Bootstrap resamples (default 1000).
        seed: Seed of the resampling (default 0: every model of a run is resampled alike).
        level: Coverage of the intervals (default 0.95).

    Returns:
        {metric: [low, high]}.
    """
    values = bootstrap_metrics(y_true, proba, bootstrap_weights(y_true, resamples=resamples, seed=seed))
    return {name: _interval(values[name], level) for name in INTERVAL_METRICS}


def paired_difference(
    y_true, proba_a, proba_b, *, resamples: int = 1000, seed: int = 0, level: float = 0.95
) -> dict[str, dict]:
    """Model A minus model B on the same rows: each metric's difference with a paired bootstrap interval.

    Both models are scored on the same resamples, so what the rows have in common cancels.

    Returns:
        {metric: {"difference", "interval": [low, high], "verdict"}}, where verdict is
        "beats" when the whole interval is above zero, "is behind" when it is below zero,
        else "is level with".
    """
    weights = bootstrap_weights(y_true, resamples=resamples, seed=seed)
    a, b = bootstrap_metrics(y_true, proba_a, weights), bootstrap_metrics(y_true, proba_b, weights)
    every_row_once = np.ones((1, len(y_true)))  # the figures on the rows themselves
    point_a, point_b = (bootstrap_metrics(y_true, p, every_row_once) for p in (proba_a, proba_b))
    result = {}
    for name in INTERVAL_METRICS:
        low, high = _interval(a[name] - b[name], level)
        verdict = "beats" if low > 0 else "is behind" if high < 0 else "is level with"
        difference = float(point_a[name][0] - point_b[name][0])
        result[name] = {"difference": difference, "interval": [low, high], "verdict": verdict}
    return result
