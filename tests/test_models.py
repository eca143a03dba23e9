"""Model builders, search spaces and the head/loss/metric choice."""

from __future__ import annotations

import keras
import keras_tuner
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from rnnsweep.data_prep.errors import InputError
from rnnsweep.models import ARCHITECTURES, ModelSpec, build_model, default_search_space, encode_targets, predict_proba
from rnnsweep.models.architectures import resolve_architectures
from rnnsweep.models.recurrent import KERAS_CELL_LAYERS

SPEC = ModelSpec(vocab_size=50, sequence_length=12, num_classes=5)
PINNED = {"units": 8, "dropout": 0.1, "learning_rate": 1e-2}


def pinned_hp(architecture) -> keras_tuner.HyperParameters:
    hp = keras_tuner.HyperParameters()
    hp.Fixed("dropout_embedding", PINNED["dropout"])
    for depth in range(1, architecture.depth + 1):
        hp.Fixed(f"units_{depth}", PINNED["units"])
        hp.Fixed(f"dropout_{depth}", PINNED["dropout"])
    hp.Fixed("dropout_output", PINNED["dropout"])
    hp.Fixed("learning_rate", PINNED["learning_rate"])
    return hp


def recurrent_layers(model):
    layers = []
    for layer in model.layers:
        inner = layer.forward_layer if isinstance(layer, keras.layers.Bidirectional) else layer
        if isinstance(inner, keras.layers.RNN):
            layers.append((layer, inner))
    return layers


@pytest.mark.backend
@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_builder_with_pinned_hyperparameters(name):
    architecture = ARCHITECTURES[name]
    space = default_search_space(name)
    model = build_model(pinned_hp(architecture), spec=SPEC, architecture=architecture, space=space)
    assert model.output_shape == (None, 5)
    layers = recurrent_layers(model)
    assert len(layers) == architecture.depth
    expected = KERAS_CELL_LAYERS[architecture.cell]
    for wrapper, inner in layers:
        assert isinstance(inner, expected) and inner.units == 8
        assert isinstance(wrapper, keras.layers.Bidirectional) == architecture.bidirectional
    assert model.get_layer("embedding").mask_zero
    x = np.random.default_rng(0).integers(1, 50, size=(16, 12)).astype("int32")
    y = encode_targets(np.arange(16) % 5, 5)
    before = [w.copy() for w in model.get_weights()]
    logs = model.train_on_batch(x, y, return_dict=True)
    assert np.isfinite(logs["loss"]) and set(logs) >= {"loss", "auc", "accuracy"}
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights(), strict=True))


@pytest.mark.backend
@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="tf.function tracing")
def test_training_step_is_traced_once():
    # An optimizer that creates its variables inside the first traced step makes
    # TensorFlow trace that step twice (seconds per trial); the builder builds it first.
    architecture = ARCHITECTURES["lstm"]
    model = build_model(
        pinned_hp(architecture), spec=SPEC, architecture=architecture, space=default_search_space("lstm")
    )
    assert model.optimizer.built
    traced = []
    train_step = model.train_step
    model.train_step = lambda data: traced.append(1) or train_step(data)
    x = np.random.default_rng(0).integers(1, 50, size=(32, 12)).astype("int32")
    model.fit(x, encode_targets(np.arange(32) % 5, 5), batch_size=8, epochs=2, verbose=0)
    assert len(traced) == 1


@pytest.mark.backend
@pytest.mark.parametrize("name", ["lstm", "gru2", "bilstm"])
def test_recurrent_layers_stay_cudnn_eligible(name):
    architecture = ARCHITECTURES[name]
    model = build_model(
        keras_tuner.HyperParameters(), spec=SPEC, architecture=architecture, space=default_search_space(name)
    )
    for _, layer in recurrent_layers(model):
        cell = layer.cell
        assert cell.activation is keras.activations.tanh
        assert cell.recurrent_activation is keras.activations.sigmoid
        assert cell.recurrent_dropout == 0 and not layer.unroll and cell.use_bias
        if isinstance(layer, keras.layers.GRU):
            assert cell.reset_after


@pytest.mark.backend
@pytest.mark.parametrize("cell", ["lstm", "gru", "simple_rnn"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_recurrent_layers_equal_keras_with_and_without_padding(cell, bidirectional):
    from rnnsweep.models import recurrent

    def model(layer_class, mask_zero=True):
        layer = layer_class(6, return_sequences=False)
        layers = [
            keras.Input((None,), dtype="int32"),
            keras.layers.Embedding(20, 4, mask_zero=mask_zero),
            keras.layers.Bidirectional(layer) if bidirectional else layer,
        ]
        return keras.Sequential(layers)

    ours = model(recurrent.CELL_LAYERS[cell])
    keras_class = KERAS_CELL_LAYERS[cell]
    stock, stock_without_mask = model(keras_class), model(keras_class, mask_zero=False)
    stock.set_weights(ours.get_weights())
    stock_without_mask.set_weights(ours.get_weights())
    unpadded = np.random.default_rng(0).integers(1, 20, size=(4, 7)).astype("int32")
    padded = unpadded.copy()
    padded[1:, 4:] = 0  # three texts end early: the mask is needed
    for x in (unpadded, padded):
        np.testing.assert_allclose(ours.predict(x, verbose=0), stock.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(ours(x), stock(x), rtol=1e-5, atol=1e-6)
    # Without the mask the padded texts would read their padding: the masked branch ran.
    assert not np.allclose(stock_without_mask(padded), ours(padded), atol=1e-4)


def _space_of(name):
    hp = keras_tuner.HyperParameters()
    architecture = ARCHITECTURES[name]
    build_model(hp, spec=SPEC, architecture=architecture, space=default_search_space(name))
    return {p.name: list(p.values) for p in hp.space}


UNITS = [8, 16, 32, 64, 128]
DROPOUT = [0.0, 0.1, 0.2, 0.3, 0.4]
RATES = [1e-2, 1e-3, 1e-4, 1e-5]


@pytest.mark.parametrize(
    "name,expected",
    [
        (
            "lstm",
            {
                "dropout_embedding": DROPOUT,
                "units_1": UNITS,
                "dropout_1": DROPOUT,
                "units_2": UNITS,
                "dropout_output": DROPOUT,
                "learning_rate": RATES,
            },
        ),
        (
            "gru1",
            {
                "dropout_embedding": DROPOUT,
                "units_1": UNITS + [256, 512],
                "dropout_output": DROPOUT,
                "learning_rate": RATES,
            },
        ),
        (
            "gru2",
            {
                "dropout_embedding": DROPOUT,
                "units_1": UNITS,
                "dropout_1": DROPOUT,
                "units_2": UNITS,
                "dropout_output": DROPOUT,
                "learning_rate": RATES,
            },
        ),
        (
            "gru4",
            {
                "dropout_embedding": DROPOUT,
                **{f"units_{i}": UNITS for i in range(1, 5)},
                **{f"dropout_{i}": DROPOUT for i in range(1, 4)},
                "dropout_output": DROPOUT,
                "learning_rate": RATES,
            },
        ),
        (
            "simple_rnn",
            {"dropout_embedding": DROPOUT, "units_1": UNITS, "dropout_output": DROPOUT, "learning_rate": RATES},
        ),
        ("bilstm", {"dropout_embedding": DROPOUT, "units_1": UNITS, "dropout_output": DROPOUT, "learning_rate": RATES}),
    ],
)
def test_default_search_spaces_are_locked(name, expected):
    assert _space_of(name) == expected


def test_space_overrides_and_bad_values():
    assert default_search_space("lstm", {"units": [4]}).units == (4,)
    with pytest.raises(InputError, match=r"unknown search space key\(s\) \['unit'\]"):
        default_search_space("lstm", {"unit": [4]})
    with pytest.raises(InputError, match="dropout must be in"):
        default_search_space("lstm", {"dropout": [1.5]})


def test_custom_architecture_and_unknown_name():
    (bigru,) = resolve_architectures(["bigru2"], {"bigru2": {"cell": "gru", "depth": 2, "bidirectional": True}})
    model = build_model(
        keras_tuner.HyperParameters(), spec=SPEC, architecture=bigru, space=default_search_space("bigru2")
    )
    assert len(recurrent_layers(model)) == 2
    with pytest.raises(InputError, match=r"Expected one of .*Received: architectures='transformer'"):
        resolve_architectures(["transformer"])
    with pytest.raises(InputError, match=r"Received: architectures.x.cell='conv'"):
        resolve_architectures(["x"], {"x": {"cell": "conv", "depth": 1}})


@pytest.mark.backend
def test_binary_head_gives_two_class_probabilities():
    spec = ModelSpec(vocab_size=30, sequence_length=6, num_classes=2)
    model = build_model(
        keras_tuner.HyperParameters(), spec=spec, architecture=ARCHITECTURES["gru1"], space=default_search_space("gru1")
    )
    assert model.output_shape == (None, 1)
    proba = predict_proba(model, np.ones((3, 6), dtype="int32"), num_classes=2)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-6)


@pytest.mark.backend
@pytest.mark.parametrize("num_classes", [2, 5])
def test_keras_auc_agrees_with_scikit_learn(num_classes):
    """The objective the tuner maximises is scikit-learn's macro one-vs-rest AUC."""
    rng = np.random.default_rng(0)
    n = 3000
    y = rng.integers(0, num_classes, n)
    logits = rng.normal(size=(n, num_classes)) + 1.2 * np.eye(num_classes)[y]
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    model = keras.Sequential([keras.Input((num_classes,)), keras.layers.Identity()])
    from rnnsweep.models.head import compile_for_classes

    compile_for_classes(model, num_classes=num_classes, learning_rate=1e-3)
    inputs = proba[:, 1:] if num_classes == 2 else proba
    keras_auc = model.evaluate(inputs, encode_targets(y, num_classes), verbose=0, return_dict=True)["auc"]
    sk_auc = (
        roc_auc_score(y, proba[:, 1])
        if num_classes == 2
        else roc_auc_score(y, proba, multi_class="ovr", average="macro")
    )
    assert abs(keras_auc - sk_auc) < 0.01
