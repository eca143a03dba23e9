"""Raw-text models: cleaning and vectorisation travel inside the saved `.keras` file.

Import this module before `keras.models.load_model` on an exported model: it registers
the two layers below and rnnsweep's recurrent layers (`models.recurrent`; safe mode stays
on; no Python code is stored in the file).
String inputs need the TensorFlow backend.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import keras

from rnnsweep.data_prep.clean import CleaningOptions
from rnnsweep.data_prep.errors import InputError
from rnnsweep.models.recurrent import PACKAGE  # importing it registers the recurrent layers saved models hold


@keras.saving.register_keras_serializable(package=PACKAGE)
class TextCleaning(keras.layers.Layer):
    """`data_prep.clean.clean_text` as string ops, so exported models clean text alike.

    Args:
        options: `CleaningOptions` fields as a dict.
    """

    def __init__(self, options: dict, **kwargs):
        kwargs.pop("trainable", None)  # always frozen; saved configs carry the key
        super().__init__(trainable=False, **kwargs)
        self.options = dict(options)
        cleaning = CleaningOptions.from_config(self.options)
        self._pre_steps = cleaning.pre_steps()
        self._steps = cleaning.steps()
        self._lowercase = cleaning.lowercase

    def call(self, texts):
        import tensorflow as tf

        for pattern, replacement in self._pre_steps:
            texts = tf.strings.regex_replace(texts, pattern, replacement)
        if self._lowercase:
            texts = tf.strings.lower(texts, encoding="utf-8")
        for pattern, replacement in self._steps:
            texts = tf.strings.regex_replace(texts, pattern, replacement)
        texts = tf.strings.regex_replace(texts, r"\s+", " ")
        return tf.strings.strip(texts)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "options": self.options}


@keras.saving.register_keras_serializable(package=PACKAGE)
class ClassProbabilities(keras.layers.Layer):
    """Turn the model's head into probabilities over named classes.

    A sigmoid head's (n, 1) output becomes (n, 2); a softmax passes through. The class
    names are stored in the layer's config, so they travel with the model.

    Args:
        class_names: Class names in output order.
    """

    def __init__(self, class_names: list[str], **kwargs):
        kwargs.pop("trainable", None)  # always frozen; saved configs carry the key
        super().__init__(trainable=False, **kwargs)
        self.class_names = list(class_names)

    def call(self, scores):
        if len(self.class_names) == 2:
            return keras.ops.concatenate([1 - scores, scores], axis=-1)
        return scores

    def compute_output_shape(self, input_shape):
        return (input_shape[0], len(self.class_names))

    def get_config(self):
        return {**super().get_config(), "class_names": self.class_names}


def build_text_model(
    model: keras.Model, *, vocabulary: list[str], sequence_length: int, class_names, cleaning: CleaningOptions
) -> keras.Model:
    """Wrap a trained token-id model into one that takes raw review strings.

    Args:
        model: The trained model (token ids in, head out).
        vocabulary: The data stage's vocabulary (index 0 padding, 1 OOV).
        sequence_length: Longest token sequence, as in training.
        class_names: Class names in id order.
        cleaning: The data stage's cleaning options.

    Returns:
        A model from a (batch,) string tensor to (batch, classes) probabilities.
    """
    texts = keras.Input(shape=(), dtype="string", name="review_text")
    cleaned = TextCleaning(cleaning.to_config(), name="text_cleaning")(texts)
    vectorize = keras.layers.TextVectorization(
        standardize=None,
        split="whitespace",
        vocabulary=vocabulary[2:],  # the layer adds padding and OOV itself
        output_sequence_length=sequence_length,
        name="text_vectorization",
    )
    probabilities = ClassProbabilities(list(class_names), name="class_probabilities")(model(vectorize(cleaned)))
    return keras.Model(texts, probabilities, name=f"{model.name}_text")


def export_text_model(
    model: keras.Model,
    path: Path,
    *,
    saved_model: Path,
    vocabulary: list[str],
    sequence_length: int,
    class_names,
    cleaning: CleaningOptions,
) -> None:
    """Save `build_text_model(model, ...)` to `path`, in a TensorFlow process when this one runs
    another Keras backend (string inputs need TensorFlow; the weights are the same on any backend).

    Args:
        saved_model: Where `model` is already saved (`.keras`); the TensorFlow process reads it.

    Raises:
        RuntimeError: The TensorFlow process failed (its last line of error in the message).
    """
    options = {"vocabulary": vocabulary, "sequence_length": sequence_length, "class_names": list(class_names)}
    if keras.backend.backend() == "tensorflow":
        build_text_model(model, cleaning=cleaning, **options).save(path)
        return
    with tempfile.TemporaryDirectory(dir=Path(path).parent) as scratch:
        spec = Path(scratch) / "export.json"
        spec.write_text(
            json.dumps({**options, "cleaning": cleaning.to_config(), "model": str(saved_model), "output": str(path)})
        )
        done = subprocess.run(
            [sys.executable, "-P", "-m", "rnnsweep.tuning.export", str(spec)],
            env={**os.environ, "KERAS_BACKEND": "tensorflow"},
            capture_output=True,
            text=True,
        )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"building {path} in a TensorFlow process failed: {last}")


def _export_from_spec(spec_path: Path) -> None:
    """The TensorFlow process's side of `export_text_model`."""
    spec = json.loads(Path(spec_path).read_text())
    model = keras.models.load_model(spec["model"], safe_mode=True)
    text_model = build_text_model(
        model,
        vocabulary=spec["vocabulary"],
        sequence_length=spec["sequence_length"],
        class_names=spec["class_names"],
        cleaning=CleaningOptions.from_config(spec["cleaning"]),
    )
    text_model.save(spec["output"])


def load_text_model(path: Path) -> keras.Model:
    """Load an exported raw-text model with safe mode on.

    Raises:
        InputError: Missing file, not a model exported by rnnsweep, or Keras running on
            another backend than TensorFlow (the export's text cleaning is TensorFlow string
            ops, whichever backend trained the weights).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such model file; pass a RUN_DIR/models/<architecture>/export.keras")
    # Only the Keras v3 format, whose safe mode refuses code in the file; Keras ignores safe mode
    # for the legacy HDF5 format (.h5), so such a file could run its code here.
    if path.suffix != ".keras" or not zipfile.is_zipfile(path):
        raise InputError(
            f"{path}: not a .keras model file (rnnsweep loads only the Keras v3 format, in safe mode); "
            "pass an export.keras written by `rnnsweep retrain`"
        )
    if keras.backend.backend() != "tensorflow":
        raise InputError(
            f"{path}: an exported model runs on Keras's TensorFlow backend (its text cleaning is TensorFlow string "
            f"ops), and Keras is running on {keras.backend.backend()}: load it in a process started with "
            "KERAS_BACKEND=tensorflow, or use `rnnsweep predict`"
        )
    try:
        model = keras.models.load_model(path, safe_mode=True)
    except Exception as error:  # noqa: BLE001 - any load failure means "not one of ours"
        # Safe mode refuses a Lambda layer (code in the file) with a ValueError, before running it.
        refused = "safe_mode" in str(error)
        problem = (
            "holds code (a Lambda layer), which safe mode refuses to run"
            if refused
            else f"cannot be loaded as a Keras model ({type(error).__name__})"
        )
        raise InputError(f"{path}: {problem}; pass an export.keras written by `rnnsweep retrain`") from None
    if not any(isinstance(layer, ClassProbabilities) for layer in model.layers):
        raise InputError(
            f"{path}: is a Keras model but not an rnnsweep export; pass an export.keras written by `rnnsweep retrain`"
        )
    return model


def class_names_of(model: keras.Model) -> list[str]:
    """The class names stored in an exported model."""
    return next(layer.class_names for layer in model.layers if isinstance(layer, ClassProbabilities))


if __name__ == "__main__":
    _export_from_spec(Path(sys.argv[1]))
