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


# A cell a spreadsheet would read as a formula starts with one of these (OWASP's CSV injection
# rule); a leading apostrophe makes Excel, LibreOffice and Google Sheets show it as text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(frame: pd.DataFrame, columns=("text", "label")) -> pd.DataFrame:
    """`frame` with each text cell of `columns` that a spreadsheet would run as a formula
    prefixed with `'` ("=1+1" becomes "'=1+1"); other cells and columns unchanged."""
    safe = frame.copy()
    for column in columns:
        safe[column] = [f"'{cell}" if str(cell).startswith(FORMULA_STARTS) else cell for cell in safe[column]]
    return safe


def predictions_csv(frame: pd.DataFrame) -> str:
    """Predictions as CSV text for people to open: texts and labels made `spreadsheet_safe`."""
    return spreadsheet_safe(frame).to_csv(index=False)


def check_output_path(output_path: Path | None, *, overwrite: bool = False) -> None:
    """Raise `InputError` unless a predictions file may be written at `output_path`.

    Raises:
        InputError: The path is a folder, its folder is missing, or a file is there and
            `overwrite` is False (rnnsweep replaces no file of the user's unasked).
    """
    if output_path is None:
        return
    output_path = Path(output_path)
    if output_path.is_dir():
        raise InputError(f"{output_path}: is a folder; pass --output a file name for the predictions CSV")
    if not output_path.parent.is_dir():
        raise InputError(
            f"{output_path}: the folder {output_path.parent} does not exist; create it or pass another --output"
        )
    if output_path.exists() and not overwrite:
        raise InputError(f"{output_path}: exists; pass --overwrite to replace it, or another --output")


def predict_file(
    model_path: Path,
    input_path: Path,
    *,
    text_column: str,
    output_path: Path | None = None,
    overwrite: bool = False,
) -> pd.DataFrame:
    """Predict every row of a CSV/TSV/JSON Lines file; write the result as CSV if asked.

    The CSV's texts and labels are `spreadsheet_safe`; the returned frame keeps them as read.

    Args:
        model_path: An `export.keras` written by `rnnsweep retrain`.
        input_path: The file of texts.
        text_column: Its text column.
        output_path: Where to write the predictions CSV (default None: nowhere).
        overwrite: Replace a file already at `output_path` (default False: refuse).

    Raises:
        InputError: Bad model, unreadable input, no column `text_column`, or an output
            path that is taken (`check_output_path`).
    """
    check_output_path(output_path, overwrite=overwrite)
    frame, _ = read_table_file(Path(input_path))
    if text_column not in frame.columns:
        raise InputError(
            f"{input_path}: no text column {text_column!r}; the columns are {list(frame.columns)}: pass --text-column"
        )
    result = predict_texts(model_path, frame[text_column].fillna("").astype(str).tolist())
    if output_path is not None:
        write_atomically(output_path, predictions_csv(result))
    return result


def predict_command(
    model_path: Path,
    texts: list[str],
    *,
    input_path: Path | None = None,
    text_column: str = "text",
    output_path: Path | None = None,
    overwrite: bool = False,
) -> str:
    """`rnnsweep predict`: predictions of `texts` or of `input_path`'s rows, written to
    `output_path` or returned as CSV text (spreadsheet-safe either way).

    Returns:
        What the command prints: the output path, or the CSV itself.

    Raises:
        InputError: Both or neither of `texts` and `input_path`, and as `predict_file`.
    """
    if bool(texts) == bool(input_path):
        raise InputError("pass either texts or --input FILE (one of them)")
    if input_path:
        result = predict_file(
            model_path, input_path, text_column=text_column, output_path=output_path, overwrite=overwrite
        )
    else:
        check_output_path(output_path, overwrite=overwrite)
        result = predict_texts(model_path, texts)
        if output_path is not None:
            write_atomically(output_path, predictions_csv(result))
    return f"{output_path}\n" if output_path is not None else predictions_csv(result)
