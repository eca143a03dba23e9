"""Training inputs: batches grouped by length and padded only to their own longest text."""

from __future__ import annotations

import math

import keras
import numpy as np

from rnnsweep.data_prep.prepare import PreparedData
from rnnsweep.models.head import encode_targets
from rnnsweep.models.spec import ModelSpec


def model_spec(data: PreparedData, *, bucket_by_length: bool, trainable: bool = False) -> ModelSpec:
    """The `ModelSpec` of prepared data (free sequence length when batches are bucketed)."""
    return ModelSpec(
        vocab_size=len(data.vocabulary),
        sequence_length=None if bucket_by_length else data.sequence_length,
        num_classes=data.num_classes,
        embedding_matrix=data.embedding_matrix,
        embedding_trainable=trainable,
    )


def fit_inputs(data: PreparedData, split: str, *, batch_size: int, bucket: bool, shuffle: bool, seed: int) -> dict:
    """Keyword arguments for `fit` holding one split's inputs.

    For validation, pass `x` alone (bucketed) or `(x, y)` as `validation_data`. Bucketed
    batches come as a `tf.data` pipeline on TensorFlow and as a `PyDataset` on other
    backends.
    """
    targets = encode_targets(data.y[split], data.num_classes)
    if bucket:
        batches = LengthBucketedBatches(data.x[split], targets, batch_size=batch_size, shuffle=shuffle, seed=seed)
        inputs = bucketed_tf_dataset(batches) if keras.backend.backend() == "tensorflow" else batches
        return {"x": inputs, "shuffle": False}  # the batches shuffle themselves; Keras would warn
    return {"x": data.x[split], "y": targets, "batch_size": batch_size, "shuffle": shuffle}


def validation_data(inputs: dict):
    """`fit`'s `validation_data` from `fit_inputs(...)` of the validation split."""
    return inputs["x"] if "y" not in inputs else (inputs["x"], inputs["y"])


def default_width_step() -> int:
    """Batch widths are rounded up to a multiple of this: 1 on TensorFlow, whose traced
    graph takes any width (rounding to 8 cost 10-20% on CPU), 8 on backends that compile
    once per input shape (JAX, PyTorch with compilation)."""
    return 1 if keras.backend.backend() == "tensorflow" else 8


class LengthBucketedBatches(keras.utils.PyDataset):
    """Batches of texts with similar lengths, each trimmed to its longest text.

    The arrays are end-padded, so trimming trailing zeros loses nothing. On CPU most
    of a fixed-length batch is padding, which these batches skip (BENCHMARKS.md
    measures the gain). Backend-neutral: it yields numpy arrays.

    Args:
        x: Token ids, shape (n, sequence_length), end-padded.
        y: Targets, first dimension n.
        batch_size: Texts per batch.
        shuffle: Reshuffle the batch order (and within length bands) every epoch
            (default True).
        seed: Seed for shuffling (default 0).
        sample_weight: Optional per-text weights.
        width_step: Round each batch's width up to a multiple of this (default None:
            `default_width_step()`).
    """

    def __init__(self, x, y, *, batch_size, shuffle=True, seed=0, sample_weight=None, width_step=None):
        super().__init__()
        self.width_step = width_step or default_width_step()
        self.x, self.y, self.sample_weight = x, y, sample_weight
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.lengths = (x != 0).sum(axis=1)
        self.rng = np.random.default_rng(seed)
        self._make_batches()

    def _make_batches(self):
        noise = self.rng.random(len(self.lengths)) if self.shuffle else np.zeros(len(self.lengths))
        order = np.lexsort((noise, self.lengths))
        batches = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        if self.shuffle:
            self.rng.shuffle(batches)
        # Keras infers the input signature from the first few batches: lead with the
        # longest and the shortest so the width is seen to vary (and a too-large model
        # fails on its first step, not mid-epoch).
        widths = [self.lengths[rows].max() for rows in batches]
        longest, shortest = batches[int(np.argmax(widths))], batches[int(np.argmin(widths))]
        if longest is not shortest:
            rest = [b for b in batches if b is not longest and b is not shortest]
            batches = [longest, shortest, *rest]
        self.batches = batches

    def __len__(self):
        return len(self.batches)

    def rows_and_width(self, index) -> tuple[np.ndarray, int]:
        """Row numbers of batch `index` and the width its token ids are trimmed to."""
        rows = self.batches[index]
        width = max(1, int(self.lengths[rows].max()))
        return rows, min(self.x.shape[1], math.ceil(width / self.width_step) * self.width_step)

    def __getitem__(self, index):
        rows, width = self.rows_and_width(index)
        batch = (self.x[rows, :width], self.y[rows])
        if self.sample_weight is not None:
            batch = (*batch, self.sample_weight[rows])
        return batch

    def on_epoch_end(self):
        if self.shuffle:
            self._make_batches()


def bucketed_tf_dataset(batches: LengthBucketedBatches):
    """The same batches as a `tf.data.Dataset` (TensorFlow backend only).

    Python hands over only each batch's row numbers and width; gathering and trimming run
    in TensorFlow and the next batch is prepared while the model trains on this one.
    Keras's `PyDataset` adapter converts each batch in Python instead; this was about 13%
    faster per batch on 2 CPU cores. Each pass after the first reshuffles, as
    `on_epoch_end` does for the `PyDataset`.

    Args:
        batches: The batches to serve, in their order.

    Returns:
        A dataset of `(x, y)` or `(x, y, sample_weight)` with known cardinality.
    """
    import tensorflow as tf

    tensors = [tf.constant(batches.x), tf.constant(batches.y)]
    if batches.sample_weight is not None:
        tensors.append(tf.constant(batches.sample_weight))
    passes = 0

    def plan():
        nonlocal passes
        if passes:
            batches.on_epoch_end()
        passes += 1
        for index in range(len(batches)):
            rows, width = batches.rows_and_width(index)
            yield rows, width

    def gather(rows, width):
        x, *rest = (tf.gather(tensor, rows) for tensor in tensors)
        return (x[:, :width], *rest)

    dataset = tf.data.Dataset.from_generator(
        plan, output_signature=(tf.TensorSpec((None,), tf.int64), tf.TensorSpec((), tf.int64))
    )
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(len(batches)))
    # With autotuning on, deleting an epoch's iterator waited for tf.data's tuning thread
    # to wake up: 2-4 s at the start of most epochs here (a 7 s LSTM epoch). Nothing in this
    # pipeline needs tuning.
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.map(gather).prefetch(2).with_options(options)
