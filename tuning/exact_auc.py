"""The sweep's objective made exact: scikit-learn's macro AUC of each epoch's validation predictions."""

from __future__ import annotations

import time

import keras
import numpy as np

from rnnsweep.tuning.evaluation import macro_auc
from rnnsweep.tuning.inputs import LengthBucketedBatches, bucketed_tf_dataset


class ValidationAUC(keras.callbacks.Callback):
    """Put scikit-learn's macro one-vs-rest ROC AUC of the validation split in `logs["val_auc"]`.

    Keras's `AUC(multi_label=True)` approximates each class's ROC curve over fixed
    thresholds in [0, 1]; when a rare class's probabilities all sit below the first
    threshold (an imbalanced 5-star set early in training) it is off by 0.05-0.2. After
    each epoch this predicts the validation split once and replaces Keras's figure with
    the exact one (`tuning.evaluation.macro_auc`: the mean one-vs-rest AUC over the
    classes present, the positive class's AUC for two classes). It must come before the
    callbacks that read `val_auc` (early stopping, median stopping, keras-tuner's
    checkpoint and score); the History callback, which Keras appends last, records it.

    Args:
        x: Validation token ids, end-padded, shape (n, length).
        y: Validation class ids, shape (n,).
        batch_size: Prediction batch size.
        bucket: Predict in length-bucketed batches, as training does (default True).

    Attributes:
        seconds: Time spent predicting and scoring, summed over epochs.
    """

    def __init__(self, x, y, *, batch_size: int, bucket: bool = True):
        super().__init__()
        self.x, self.y, self.batch_size, self.bucket = x, np.asarray(y), batch_size, bucket
        self.seconds = 0.0
        self.inputs = None  # made when training starts: keras-tuner deep-copies callbacks per trial

    def on_train_begin(self, logs=None):
        if not self.bucket:
            self.order, self.inputs = np.arange(len(self.x)), self.x
            return
        batches = LengthBucketedBatches(self.x, np.zeros(len(self.x)), batch_size=self.batch_size, shuffle=False)
        self.order = np.concatenate(batches.batches)
        self.inputs = bucketed_tf_dataset(batches) if keras.backend.backend() == "tensorflow" else batches

    def on_train_end(self, logs=None):
        self.inputs = None

    def on_epoch_end(self, epoch, logs=None):
        if logs is None or "val_auc" not in logs:
            return
        started = time.monotonic()
        batch_size = None if self.bucket else self.batch_size  # bucketed inputs are batched already
        scores = np.asarray(self.model.predict(self.inputs, batch_size=batch_size, verbose=0), dtype="float64")
        proba = np.hstack([1 - scores, scores]) if scores.shape[1] == 1 else scores
        auc = macro_auc(self.y[self.order], proba)
        if auc is not None:
            logs["val_auc"] = auc
        self.seconds += time.monotonic() - started
