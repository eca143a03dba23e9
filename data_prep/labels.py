"""Label schemes: turn a rating or label column into class ids with a fixed class order."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from rnnsweep.data_prep.config import DataConfig
from rnnsweep.data_prep.errors import InputError

logger = logging.getLogger(__name__)

SENTIMENT3 = ["negative", "neutral", "positive"]
BINARY = ["negative", "positive"]


def _numeric(values: pd.Series, config: DataConfig) -> tuple[pd.Series, pd.Series]:
    """Ratings as floats, and a mask of the usable ones (numeric and within range)."""
    numbers = pd.to_numeric(values, errors="coerce")
    usable = numbers.notna()
    if config.rating_range is not None:
        low, high = config.rating_range
        usable &= numbers.between(low, high)
    if config.labels == "stars":
        usable &= numbers == numbers.round()
    return numbers, usable


def assign_labels(values: pd.Series, config: DataConfig) -> tuple[np.ndarray, list[str], dict]:
    """Map raw label values onto class ids under `config.labels`.

    Schemes: "stars" (each integer rating its own class, in order), "sentiment3"
    (<= 2 negative, 3 neutral, >= 4 positive), "binary" (>= `binary_threshold`
    positive), "categorical" (string labels, order from `classes` or sorted).

    Args:
        values: The raw label column (strings).
        config: The data configuration.

    Returns:
        Class ids (-1 marks an unusable label), class names in order, and statistics
        (`unusable_labels`, `unusable_examples`).

    Raises:
        InputError: No usable label, or unusable labels under `bad_labels="error"`.
    """
    column = config.label_column
    if config.labels == "categorical":
        text = values.astype("string").str.strip()
        classes = list(config.classes) if config.classes else sorted(text.dropna().unique().tolist())
        lookup = {name: index for index, name in enumerate(classes)}
        ids = text.map(lookup).fillna(-1).astype(int).to_numpy()
    else:
        numbers, usable = _numeric(values, config)
        if config.labels == "stars":
            present = sorted(int(v) for v in numbers[usable].unique())
            classes = [str(v) for v in present]
            ids = numbers.map({v: i for i, v in enumerate(present)})
        elif config.labels == "sentiment3":
            classes = SENTIMENT3
            ids = pd.Series(np.select([numbers <= 2, numbers < 4], [0, 1], 2), index=values.index)
        else:
            classes = BINARY
            ids = (numbers >= config.binary_threshold).astype(int)
        ids = ids.where(usable, -1).fillna(-1).astype(int).to_numpy()
    bad = ids < 0
    examples = values[bad].astype("string").fillna("<missing>").unique()[:5].tolist()
    stats = {"unusable_labels": int(bad.sum()), "unusable_examples": examples}
    if bad.all():
        raise InputError(
            f"label column {column!r} has no usable values for labels={config.labels!r} "
            f"(examples: {examples}); choose another --label-column or --labels scheme"
        )
    if bad.any():
        message = (
            f"label column {column!r}: {int(bad.sum())} value(s) unusable for labels={config.labels!r}, e.g. {examples}"
        )
        if config.bad_labels == "error":
            raise InputError(f"{message}; fix them or set bad_labels='drop'")
        logger.warning("%s; dropped", message)
    return ids, classes, stats
