"""Predict classes of raw review texts with an exported model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from rnnsweep.data_prep.errors import InputError
from rnnsweep.data_prep.files import write_atomically
from rnnsweep.data_prep.layout import with_probabilities
from rnnsweep.data_prep.sources import read_table_file
from rnnsweep.tuning.export import class_names_of, load_text_model


def predict_texts(model_path: Path, texts: list[str], *, batch_size: int = 256) -> pd.DataFrame:
    """Label and class probabilities for each text.

    Args:
        model_path: An `export.keras` written by `rnnsweep retrain`.
        texts: Raw review texts.
        batch_size: Texts per prediction batch (default 256).

    Returns:
        Columns `text`, `label`, and `p_<class>` for each class.

    Raises:
        InputError: Missing or foreign model file, or no texts.
    """
    if not texts:
        raise InputError("no texts to predict; pass texts as arguments or --input FILE")
    import tensorflow as tf

    model = load_text_model(model_path)
    names = class_names_of(model)
    probabilities = np.asarray(model.predict(tf.constant(list(texts)), batch_size=batch_size, verbose=0))
    frame = pd.DataFrame({"text": list(texts), "label": [names[i] for i in probabilities.argmax(axis=1)]})
    return with_probabilities(frame, names, probabilities)


def predict_file(
    model_path: Path, input_path: Path, *, text_column: str, output_path: Path | None = None
) -> pd.DataFrame:
    """Predict every row of a CSV/TSV/JSON Lines file; write the result as CSV if asked.

    Raises:
        InputError: Bad model, unreadable input, or no column `text_column`.
    """
    frame, _ = read_table_file(Path(input_path))
    if text_column not in frame.columns:
        raise InputError(
            f"{input_path}: no text column {text_column!r}; the columns are {list(frame.columns)}: pass --text-column"
        )
    result = predict_texts(model_path, frame[text_column].fillna("").astype(str).tolist())
    if output_path is not None:
        write_atomically(output_path, result.to_csv(index=False))
    return result
