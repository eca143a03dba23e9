"""The `[data]` section of a sweep configuration and the named dataset presets."""

from __future__ import annotations

import dataclasses
import types
import typing

from rnnsweep.data_prep.errors import (
    InputError,
    check_fraction,
    check_one_of,
    check_positive_int,
)

LABEL_SCHEMES = ("stars", "sentiment3", "binary", "categorical")
FORMATS = ("auto", "csv", "tsv", "jsonl")
BALANCING = ("none", "undersample", "class_weight")
BAD_LABEL_POLICIES = ("drop", "error")
EMBEDDINGS = ("learned", "glove-6b-50d", "word2vec", "file")

DEFAULT_PRESET = "rotten-tomatoes"

# Each preset fills in the options a user would otherwise pass by hand for a known source.
PRESETS: dict[str, dict] = {
    "rotten-tomatoes": {
        "text_column": "text",
        "label_column": "category",
        "labels": "categorical",
        "classes": ["rotten", "fresh", "plot"],
    },
    "womens-clothing": {
        "text_column": "Review Text",
        "label_column": "Rating",
        "title_column": "Title",
        "labels": "stars",
        "rating_range": [1, 5],
    },
    "amazon-reviews": {
        "format": "tsv",
        "text_column": "review_body",
        "label_column": "star_rating",
        "title_column": "review_headline",
        "labels": "stars",
        "rating_range": [1, 5],
    },
    "imdb": {
        "text_column": "text",
        "label_column": "label",
        "labels": "categorical",
        "classes": ["negative", "positive"],
    },
    "rt-polarity": {
        "text_column": "text",
        "label_column": "label",
        "labels": "categorical",
        "classes": ["negative", "positive"],
    },
    # A plain file of the user's own: every column is theirs to name.
    "custom": {},
}


def _matches(value, hint) -> bool:
    """Whether `value` (as TOML gives it) is of the annotated type `hint`."""
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        return any(_matches(value, arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin is list:
        (item,) = typing.get_args(hint)
        return isinstance(value, list) and all(_matches(element, item) for element in value)
    if hint is dict or origin is dict:
        return isinstance(value, dict)
    raise TypeError(f"no type check for {hint!r}")  # a field of a new type: teach _matches first


def _describe(hint) -> str:
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        return " or ".join(_describe(arg) for arg in typing.get_args(hint) if arg is not type(None))
    if origin is list:
        return f"a list of {_describe(typing.get_args(hint)[0]).removeprefix('a ').removeprefix('an ')}s"
    return {bool: "true or false", int: "a whole number", float: "a number", str: "a string", dict: "a table"}.get(
        hint, "a table"
    )


def check_types(section: str, settings) -> None:
    """Raise `InputError` naming the first field of a config dataclass whose value is of the
    wrong type (`lowercase = "false"` is a string, not false; `dropout = 1.5`, not a list).

    Args:
        section: The TOML section, for the message ("data", "search", ...).
        settings: A config dataclass instance; its annotations give the types.
    """
    hints = typing.get_type_hints(type(settings))
    for field in dataclasses.fields(settings):
        value = getattr(settings, field.name)
        if not _matches(value, hints[field.name]):
            received = "a table" if isinstance(value, dict) else repr(value)
            raise InputError(
                f"[{section}] {field.name} must be {_describe(hints[field.name])}. Received: {field.name}={received}"
            )


@dataclasses.dataclass
class DataConfig:
    """Where the reviews come from and how they are cleaned, labelled, split and encoded.

    Every field has a default; a preset fills in the fields that describe its source
    unless the user sets them.

    Attributes:
        preset: Named source, one of `PRESETS` (default "rotten-tomatoes", the built-in
            dataset; "custom" when only `path` is given).
        path: File or folder to read (default None: the preset's own source).
        format: "csv", "tsv", "jsonl" or "auto" (by file ending; default "auto").
        text_column: Column holding the review text (default "text").
        label_column: Column holding the rating or label (default "label").
        title_column: Optional column joined in front of the text (default None).
        labels: Label scheme: "stars", "sentiment3", "binary" or "categorical"
            (default "categorical").
        classes: Class order for "categorical" labels (default None: sorted values).
        binary_threshold: With "binary", ratings >= this are positive (default 4).
        rating_range: [low, high] of valid ratings (default None: any number).
        bad_labels: "drop" (count, warn, drop) or "error" for unusable labels
            (default "drop").
        max_bad_line_share: Largest share of malformed lines skipped before the file
            is rejected (default 0.05).
        max_input_bytes: Most bytes of data read from the file, after decompression: a
            larger file is refused before memory runs out (default 4 GiB).
        max_rows: Keep a seeded random sample of this many rows (default None: all).
        lowercase, strip_html, remove_urls, expand_contractions, letters_only:
            Cleaning steps as in the original study (default True each).
        remove_stopwords: Drop English stopwords (default False: negations such as
            "not" carry sentiment; the original study removed them).
        drop_duplicates: Drop exact duplicate texts before splitting (default True).
        balance: "none", "undersample" (training split only) or "class_weight"
            (default "none").
        undersample_per_class: Cap per class with "undersample" (default None: the
            smallest class's count).
        test_size: Share of rows held out for testing (default 0.2).
        validation_size: Share of the remaining rows used for validation (default 0.3).
        seed: Seed for sampling and splitting (default 42).
        vocab_size: Vocabulary cap, padding and out-of-vocabulary tokens included
            (default 5000).
        sequence_length: Tokens per text, or "auto" for a percentile of training
            lengths (default "auto").
        length_percentile: Percentile used by "auto" (default 95).
        embeddings: Where the embedding starts: "learned" (random, trained with the
            model), "glove-6b-50d" (Stanford GloVe 6B 50d, fetched once and cached),
            "word2vec" (trained on the run's training texts) or "file" (the vectors in
            `embeddings_path`; implied when only that is set) (default "glove-6b-50d":
            better on validation than learned embeddings in the README's quick run,
            BENCHMARKS.md).
        embeddings_path: GloVe text, word2vec text or word2vec binary (`.bin`) file
            (default None).
        embeddings_trainable: Fine-tune pretrained vectors with the model; false keeps
            them frozen (default True: measured better, BENCHMARKS.md).
        word2vec_dimension: Vector size for "word2vec" (default 100).
        word2vec_window: Context window for "word2vec" (default 5).
        word2vec_epochs: Passes over the training texts for "word2vec" (default 10).
    """

    preset: str = DEFAULT_PRESET
    path: str | None = None
    format: str = "auto"
    text_column: str = "text"
    label_column: str = "label"
    title_column: str | None = None
    labels: str = "categorical"
    classes: list[str] | None = None
    binary_threshold: float = 4
    rating_range: list[float] | None = None
    bad_labels: str = "drop"
    max_bad_line_share: float = 0.05
    max_input_bytes: int = 4 * 1024**3
    max_rows: int | None = None
    lowercase: bool = True
    strip_html: bool = True
    remove_urls: bool = True
    expand_contractions: bool = True
    letters_only: bool = True
    remove_stopwords: bool = False
    drop_duplicates: bool = True
    balance: str = "none"
    undersample_per_class: int | None = None
    test_size: float = 0.2
    validation_size: float = 0.3
    seed: int = 42
    vocab_size: int = 5000
    sequence_length: int | str = "auto"
    length_percentile: float = 95
    embeddings: str = "glove-6b-50d"
    embeddings_path: str | None = None
    embeddings_trainable: bool = True
    word2vec_dimension: int = 100
    word2vec_window: int = 5
    word2vec_epochs: int = 10

    def validate(self) -> None:
        """Check every field; raise `InputError` naming the first bad one."""
        check_types("data", self)
        check_one_of("preset", self.preset, PRESETS)
        check_one_of("format", self.format, FORMATS)
        check_one_of("labels", self.labels, LABEL_SCHEMES)
        check_one_of("bad_labels", self.bad_labels, BAD_LABEL_POLICIES)
        check_one_of("balance", self.balance, BALANCING)
        check_positive_int("vocab_size", self.vocab_size)
        check_positive_int("max_input_bytes", self.max_input_bytes)
        check_one_of("embeddings", self.embeddings, EMBEDDINGS)
        if (self.embeddings == "file") != bool(self.embeddings_path):
            raise InputError(
                'embeddings_path goes with embeddings = "file" (the default when only embeddings_path is set). '
                f"Received: embeddings={self.embeddings!r}, embeddings_path={self.embeddings_path!r}; "
                "set one of them"
            )
        for name in ("word2vec_dimension", "word2vec_window", "word2vec_epochs"):
            check_positive_int(name, getattr(self, name))
        if self.vocab_size < 3:
            raise InputError(
                "vocab_size must leave room for padding, the out-of-vocabulary token and "
                f"at least one word (3 or more). Received: vocab_size={self.vocab_size}"
            )
        if self.sequence_length != "auto":
            check_positive_int("sequence_length", self.sequence_length)
        if not 0 < self.length_percentile <= 100:
            raise InputError(
                f"length_percentile must be in (0, 100]. Received: length_percentile={self.length_percentile!r}"
            )
        check_fraction("test_size", self.test_size)
        check_fraction("validation_size", self.validation_size)
        check_fraction("max_bad_line_share", self.max_bad_line_share)
        if (1 - self.test_size) * (1 - self.validation_size) < 0.1:
            raise InputError(
                "test_size and validation_size leave under 10% of rows for training "
                f"(test_size={self.test_size}, validation_size={self.validation_size}): "
                "lower one of them"
            )
        for name in ("max_rows", "undersample_per_class"):
            if getattr(self, name) is not None:
                check_positive_int(name, getattr(self, name))
        if self.classes is not None:
            repeated = sorted({name for name in self.classes if self.classes.count(name) > 1})
            if repeated or not self.classes:
                raise InputError(
                    f"classes must list each class once. Received: classes={self.classes!r}"
                    + (f" ({', '.join(map(repr, repeated))} twice or more)" if repeated else "")
                )
        if self.rating_range is not None and (
            len(self.rating_range) != 2 or self.rating_range[0] >= self.rating_range[1]
        ):
            raise InputError(
                f"rating_range must be [low, high] with low < high. Received: rating_range={self.rating_range!r}"
            )


def resolve_preset(values: dict) -> DataConfig:
    """Build a `DataConfig` from user values layered over the preset's defaults.

    Args:
        values: Field values the user set (config file and flags); unset fields are
            absent.

    Returns:
        The validated configuration.

    Raises:
        InputError: An unknown preset or an invalid field value.
    """
    preset = values.get("preset")
    if preset is None:
        preset = "custom" if values.get("path") else DEFAULT_PRESET
    if not isinstance(preset, str):
        raise InputError(f"[data] preset must be a string. Received: preset={preset!r}")
    check_one_of("preset", preset, PRESETS)
    merged = {**PRESETS[preset], **values, "preset": preset}
    if values.get("embeddings_path") and "embeddings" not in values:
        merged["embeddings"] = "file"
    config = DataConfig(**merged)
    config.validate()
    return config
