"""The original study's pipeline written plainly, the reference rnnsweep is measured against."""

from __future__ import annotations

import numpy as np


def pre_pad(x: np.ndarray, width: int) -> np.ndarray:
    """End-padded token ids re-padded at the front to `width`, as `pad_sequences` does by default."""
    lengths = (x != 0).sum(axis=1)
    out = np.zeros((len(x), width), dtype="int32")
    for i, (row, length) in enumerate(zip(x, lengths, strict=True)):
        length = min(length, width)  # a validation text may be longer than the longest training text
        out[i, width - length :] = row[:length]
    return out


def pre_padded(data) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation token ids pre-padded to the longest training text, as the study did."""
    longest = int((data.x["train"] != 0).sum(axis=1).max())
    return pre_pad(data.x["train"], longest), pre_pad(data.x["validation"], longest)


def build_reference_model(hp, *, architecture, space, vocab_size: int, num_classes: int):
    """The study's model: no mask, fixed-width pre-padded input, TensorFlow's default kernels.

    Declares the same hyperparameters, with the same names, values and order, as
    `models.build_model`, so a keras-tuner RandomSearch with the same seed tries the same
    configurations on both sides. Head, loss and AUC come from `models.head` (the study's
    `from_logits=True` on a softmax is not reproduced: it would mis-rank the trials).
    Keras's stock recurrent layers, not `models.recurrent`'s.
    """
    import keras

    from rnnsweep.models.head import compile_for_classes, output_layer
    from rnnsweep.models.recurrent import KERAS_CELL_LAYERS

    def dropout(name):
        return hp.Choice(name, list(space.dropout), default=space.default("dropout"))

    cell = KERAS_CELL_LAYERS[architecture.cell]
    layers = [
        keras.Input(shape=(None,), dtype="int32"),
        keras.layers.Embedding(vocab_size, space.embedding_dim),
        keras.layers.Dropout(dropout("dropout_embedding")),
    ]
    for depth in range(1, architecture.depth + 1):
        units = hp.Choice(f"units_{depth}", list(space.units), default=space.default("units"))
        last = depth == architecture.depth
        layer = cell(units, return_sequences=not last)
        layers.append(keras.layers.Bidirectional(layer) if architecture.bidirectional else layer)
        if not last:
            layers.append(keras.layers.Dropout(dropout(f"dropout_{depth}")))
    layers += [keras.layers.Dropout(dropout("dropout_output")), output_layer(num_classes)]
    learning_rate = hp.Choice("learning_rate", list(space.learning_rate), default=space.default("learning_rate"))
    return compile_for_classes(keras.Sequential(layers), num_classes=num_classes, learning_rate=learning_rate)
