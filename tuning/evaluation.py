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
