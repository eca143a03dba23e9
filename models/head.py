"""The one place that decides output layer, loss and metrics from the number of classes."""

from __future__ import annotations

import keras
import numpy as np

# Keras approximates AUC over thresholds; 1000 keeps it within ~0.005 of scikit-learn's.
AUC_THRESHOLDS = 1000


def output_layer(num_classes: int) -> keras.layers.Dense:
    """Sigmoid unit for 2 classes, softmax over `num_classes` otherwise; float32 even under
    mixed precision, so probabilities stay exact enough for AUC."""
    if num_classes == 2:
        return keras.layers.Dense(1, activation="sigmoid", name="output", dtype="float32")
    return keras.layers.Dense(num_classes, activation="softmax", name="output", dtype="float32")


def compile_for_classes(model: keras.Model, *, num_classes: int, learning_rate: float) -> keras.Model:
    """Compile with Adam, the matching loss and an AUC named "auc" on probabilities.

    Two classes: binary cross-entropy and ROC AUC of the positive class. More:
    categorical cross-entropy and `AUC(multi_label=True, num_labels=C)`, the macro
    average of one-vs-rest AUCs. The outputs are probabilities, so `from_logits` stays
    False (the original study set it True on a softmax and under-reported AUC).

    Returns:
        The model, compiled.
    """
    if num_classes == 2:
        loss = keras.losses.BinaryCrossentropy()
        auc = keras.metrics.AUC(name="auc", num_thresholds=AUC_THRESHOLDS)
    else:
        loss = keras.losses.CategoricalCrossentropy()
        auc = keras.metrics.AUC(name="auc", multi_label=True, num_labels=num_classes, num_thresholds=AUC_THRESHOLDS)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss=loss,
        metrics=[auc, keras.metrics.CategoricalAccuracy(name="accuracy")]
        if num_classes > 2
        else [auc, keras.metrics.BinaryAccuracy(name="accuracy")],
    )
    return model


def encode_targets(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Class ids as the head expects them: (n, 1) floats for 2 classes, one-hot otherwise."""
    labels = np.asarray(labels)
    if num_classes == 2:
        return labels.astype("float32").reshape(-1, 1)
    return np.eye(num_classes, dtype="float32")[labels]


def predict_proba(model: keras.Model, x, *, num_classes: int, batch_size: int = 256) -> np.ndarray:
    """Class probabilities, shape (n, num_classes), whatever the head."""
    scores = np.asarray(model.predict(x, batch_size=batch_size, verbose=0), dtype="float64")
    if num_classes == 2:
        scores = scores.reshape(-1, 1)
        return np.hstack([1 - scores, scores])
    return scores
