"""The recurrent model builder that keras-tuner calls with a `HyperParameters` object."""

from __future__ import annotations

import keras

from rnnsweep.models.architectures import Architecture
from rnnsweep.models.head import compile_for_classes, output_layer
from rnnsweep.models.recurrent import CELL_LAYERS
from rnnsweep.models.search_space import SearchSpace
from rnnsweep.models.spec import ModelSpec


def recurrent_layer(cell: str, units: int, *, return_sequences: bool, name: str) -> keras.layers.Layer:
    """A recurrent layer that stays eligible for cuDNN's fused kernels.

    tanh/sigmoid activations, no recurrent dropout, no unrolling and (GRU)
    `reset_after=True` are the conditions Keras checks before using cuDNN. The layers
    are Keras's, skipping the mask on batches without padding (`models.recurrent`).
    """
    options = {"units": units, "return_sequences": return_sequences, "name": name}
    if cell != "simple_rnn":
        options |= {"activation": "tanh", "recurrent_activation": "sigmoid", "recurrent_dropout": 0.0}
    if cell == "gru":
        options["reset_after"] = True
    return CELL_LAYERS[cell](unroll=False, **options)


def build_model(hp, *, spec: ModelSpec, architecture: Architecture, space: SearchSpace) -> keras.Model:
    """Build and compile one recurrent text classifier.

    Layers: Embedding (`mask_zero=True`, so end-padding is skipped) -> dropout ->
    `architecture.depth` recurrent layers with dropout between them -> dropout ->
    pooling ("last": the final state; "mean": the masked average of every step's output)
    -> output head. Hyperparameters: `dropout_embedding`, `units_1`..`units_N`,
    `dropout_1`..`dropout_{N-1}` (between layers), `dropout_output`, `learning_rate`, and
    `pooling` when the space offers more than "last".

    Args:
        hp: keras-tuner `HyperParameters`.
        spec: Vocabulary size, sequence length, classes, optional pretrained vectors.
        architecture: Cell type, depth and direction.
        space: Value sets for the hyperparameters.

    Returns:
        A compiled `keras.Model` named after the architecture, its optimizer built.
    """

    def dropout(name: str):
        return hp.Choice(name, list(space.dropout), default=space.default("dropout"))

    inputs = keras.Input(shape=(spec.sequence_length,), dtype="int32", name="token_ids")
    pretrained = spec.embedding_matrix is not None
    embedding = keras.layers.Embedding(
        spec.vocab_size,
        spec.embedding_matrix.shape[1] if pretrained else space.embedding_dim,
        mask_zero=True,
        trainable=spec.embedding_trainable or not pretrained,
        name="embedding",
    )
    x = embedding(inputs)
    if pretrained:
        embedding.set_weights([spec.embedding_matrix])
    x = keras.layers.Dropout(dropout("dropout_embedding"), name="dropout_embedding")(x)
    pooling = "last" if space.pooling == ("last",) else hp.Choice("pooling", list(space.pooling))
    for depth in range(1, architecture.depth + 1):
        units = hp.Choice(f"units_{depth}", list(space.units), default=space.default("units"))
        last = depth == architecture.depth
        layer = recurrent_layer(
            architecture.cell,
            units,
            return_sequences=not last or pooling != "last",
            name=f"{architecture.cell}_{depth}",
        )
        if architecture.bidirectional:
            layer = keras.layers.Bidirectional(layer, name=f"bidirectional_{depth}")
        x = layer(x)
        if not last:
            x = keras.layers.Dropout(dropout(f"dropout_{depth}"), name=f"dropout_{depth}")(x)
    if pooling == "mean":  # Keras's average honours the mask: padding steps are left out
        x = keras.layers.GlobalAveragePooling1D(name="mean_pooling")(x)
    x = keras.layers.Dropout(dropout("dropout_output"), name="dropout_output")(x)
    outputs = output_layer(spec.num_classes)(x)
    model = keras.Model(inputs, outputs, name=architecture.name)
    learning_rate = hp.Choice("learning_rate", list(space.learning_rate), default=space.default("learning_rate"))
    compile_for_classes(model, num_classes=spec.num_classes, learning_rate=learning_rate)
    # Adam creates its slot variables on its first update, which on TensorFlow falls inside
    # the first traced training step, and tf.function traces a function that created
    # variables a second time: about 2 s more per trial on 2 CPU cores. Created now, the
    # step is traced once.
    model.optimizer.build(model.trainable_variables)
    return model
