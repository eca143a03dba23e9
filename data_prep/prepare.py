"""The data stage: raw file -> cleaned, labelled rows -> saved splits -> encoded arrays."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.utils.class_weight import compute_class_weight

from rnnsweep.data_prep.clean import CleaningOptions, clean_texts, load_stopwords
from rnnsweep.data_prep.config import DataConfig
from rnnsweep.data_prep.embeddings import WordVectors, coverage, file_vectors, glove_vectors, word2vec_vectors
from rnnsweep.data_prep.errors import InputError
from rnnsweep.data_prep.files import staged_directory
from rnnsweep.data_prep.labels import assign_labels
from rnnsweep.data_prep.layout import DATA_FILES, EMBEDDING_MATRIX, WORD2VEC_VECTORS, RunLayout, read_rows
from rnnsweep.data_prep.sources import read_source
from rnnsweep.data_prep.vectorize import build_vocabulary, choose_sequence_length, encode

logger = logging.getLogger(__name__)

# Below this share of the vocabulary with a pretrained vector, the vectors hardly start anything.
LOW_COVERAGE = 0.5

SPLITS = ("train", "validation", "test")


@dataclasses.dataclass
class PreparedData:
    """Everything later stages need from the data stage, read back from `RUN_DIR/data`.

    Attributes:
        x: Token id arrays by split name ("train", "validation", "test").
        y: Class id arrays by split name.
        class_names: Class names in class-id order.
        vocabulary: Tokens by index (0 padding, 1 OOV).
        sequence_length: Tokens per encoded text.
        rows: Table of `row_id`, `split`, `label`, `text`, `clean_text`.
        summary: The saved data summary.
        class_weight: Class id -> weight, or None when not balancing by weights.
        embedding_matrix: Pretrained vectors for the vocabulary, or None.
        trained_vectors: word2vec `KeyedVectors` trained by the data stage (saved as
            `data/word2vec.bin`; not read back, the matrix is what later stages use).
    """

    x: dict[str, np.ndarray]
    y: dict[str, np.ndarray]
    class_names: list[str]
    vocabulary: list[str]
    sequence_length: int
    rows: pd.DataFrame
    summary: dict
    class_weight: dict[int, float] | None = None
    embedding_matrix: np.ndarray | None = None
    trained_vectors: object | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def cleaning_options(config: DataConfig) -> tuple[CleaningOptions, str | None]:
    """The cleaning steps `config` asks for, and where stopwords came from (or None)."""
    stopwords, source = (), None
    if config.remove_stopwords:
        words, source = load_stopwords()
        stopwords = tuple(w for w in words if w.isalpha())
    steps = {name: getattr(config, name) for name in CleaningOptions.step_names()}
    return CleaningOptions(**steps, stopwords=stopwords), source


def _percentiles(values) -> dict[str, float]:
    values = np.asarray(list(values), dtype=float)
    if values.size == 0:
        return {}
    return {f"p{q}": float(np.percentile(values, q)) for q in (5, 25, 50, 75, 95)} | {"max": float(values.max())}


def _split(rows: pd.DataFrame, config: DataConfig, class_names: list[str]) -> pd.Series:
    """Assign each row to train/validation/test, stratified by label."""
    counts = rows["label"].value_counts()
    if len(counts) < 2:
        only = class_names[int(counts.index[0])]
        raise InputError(
            f"only one class ({only!r}) has usable rows; a classifier needs two or more: "
            "check --label-column and --labels"
        )
    smallest = int(counts.idxmin())
    # Two stratified cuts need the smallest class in each of train, validation and test.
    if counts.min() < 3:
        raise InputError(
            f"class {class_names[smallest]!r} has {counts.min()} row(s), too few to stratify "
            "into train/validation/test (at least 3); add rows, merge classes or choose another --labels"
        )
    try:
        rest, test = train_test_split(
            rows.index, test_size=config.test_size, stratify=rows["label"], random_state=config.seed
        )
        train, validation = train_test_split(
            rest,
            test_size=config.validation_size,
            stratify=rows.loc[rest, "label"],
            random_state=config.seed,
        )
    except ValueError as error:
        raise InputError(
            f"cannot stratify the split: class {class_names[smallest]!r} has only {counts.min()} rows "
            f"({error}); add rows or lower test_size/validation_size"
        ) from None
    split = pd.Series("train", index=rows.index)
    split[validation] = "validation"
    split[test] = "test"
    return split


def _undersample(rows: pd.DataFrame, config: DataConfig) -> pd.DataFrame:
    """Cap each class in the training split at `undersample_per_class` rows."""
    train = rows[rows["split"] == "train"]
    cap = config.undersample_per_class or int(train["label"].value_counts().min())
    kept = [group.sample(min(len(group), cap), random_state=config.seed) for _, group in train.groupby("label")]
    return pd.concat([*kept, rows[rows["split"] != "train"]]).sort_index()


def build_rows(config: DataConfig) -> tuple[pd.DataFrame, list[str], dict]:
    """Read, label, clean and split the data named by `config`.

    Returns:
        Rows (`row_id`, `label`, `text`, `clean_text`, `split`), class names, and
        statistics for the summary.

    Raises:
        InputError: Any problem with the data or the settings.
    """
    raw, stats = read_source(config)
    stats["rows_read"] = len(raw)
    source = stats["source"]
    for role, column in (("text", config.text_column), ("label", config.label_column)):
        if column not in raw.columns:
            raise InputError(
                f"{source}: no {role} column {column!r}; the columns are {list(raw.columns)}: pass --{role}-column"
            )
    text = raw[config.text_column].astype("string")
    dropped: dict[str, int] = {}
    missing_text = text.isna() | (text.str.strip() == "")
    dropped["missing_text"] = int(missing_text.sum())
    if config.title_column and config.title_column in raw.columns:
        title = raw[config.title_column].astype("string").fillna("")
        text = (title + ". ").where(title.str.strip() != "", "") + text.fillna("")
    rows = pd.DataFrame({"row_id": np.arange(len(raw)), "text": text.fillna("")})
    rows = rows[~missing_text.to_numpy()]
    if rows.empty:
        raise InputError(f"{source}: every row has an empty {config.text_column!r}; check --text-column")

    labels, class_names, label_stats = assign_labels(raw.loc[rows.index, config.label_column], config)
    stats.update(label_stats)
    rows["label"] = labels
    dropped["unusable_label"] = int((labels < 0).sum())
    rows = rows[rows["label"] >= 0]

    if config.max_rows and len(rows) > config.max_rows:
        dropped["sampled_out"] = len(rows) - config.max_rows
        rows = rows.sample(config.max_rows, random_state=config.seed).sort_index()

    options, stopword_source = cleaning_options(config)
    stats["stopwords"] = stopword_source
    rows["clean_text"] = clean_texts(rows["text"].tolist(), options)
    empty = rows["clean_text"] == ""
    dropped["empty_after_cleaning"] = int(empty.sum())
    rows = rows[~empty]
    if rows.empty:
        raise InputError(
            f"{source}: every text is empty after cleaning; check --text-column or turn off "
            "letters_only/remove_stopwords"
        )
    if config.drop_duplicates:
        duplicated = rows["clean_text"].duplicated()
        dropped["duplicate_text"] = int(duplicated.sum())
        rows = rows[~duplicated]
    rows = rows.reset_index(drop=True)
    rows["split"] = _split(rows, config, class_names)
    if config.balance == "undersample":
        before = len(rows)
        rows = _undersample(rows, config).reset_index(drop=True)
        dropped["undersampled"] = before - len(rows)
    stats["rows_dropped"] = dropped
    return rows, class_names, stats


def _summary(rows: pd.DataFrame, class_names, stats, x, vocabulary, sequence_length) -> dict:
    summary = dict(stats)
    summary["rows_used"] = len(rows)
    summary["class_names"] = class_names
    summary["class_counts"] = {
        split: {name: int((part["label"] == i).sum()) for i, name in enumerate(class_names)}
        for split, part in rows.groupby("split")
    }
    lengths = {}
    for i, name in enumerate(class_names):
        part = rows[rows["label"] == i]
        lengths[name] = {
            "characters_raw": _percentiles(part["text"].str.len()),
            "characters_clean": _percentiles(part["clean_text"].str.len()),
            "tokens_raw": _percentiles(part["text"].str.split().str.len()),
            "tokens_clean": _percentiles(part["clean_text"].str.split().str.len()),
        }
    summary["lengths"] = lengths
    summary["vocabulary_size"] = len(vocabulary)
    summary["sequence_length"] = sequence_length
    token_counts = {s: rows.loc[rows["split"] == s, "clean_text"].str.split().str.len() for s in SPLITS}
    summary["truncation_rate"] = {s: float((token_counts[s] > sequence_length).mean()) for s in SPLITS}
    validation = x["validation"]
    kept = validation[validation > 0]
    summary["oov_rate_validation"] = float((kept == 1).mean()) if kept.size else 0.0
    return summary


def build_prepared(config: DataConfig) -> PreparedData:
    """Read, check, clean, label, split and encode the data named by `config`, in memory.

    Writes nothing, so every problem with the data or the settings is found before a run
    directory is touched.

    Raises:
        InputError: Any problem with the data or the settings.
    """
    config.validate()
    rows, class_names, stats = build_rows(config)
    train_texts = rows.loc[rows["split"] == "train", "clean_text"].tolist()
    vocabulary = build_vocabulary(train_texts, config.vocab_size)
    sequence_length = choose_sequence_length(train_texts, config.sequence_length, config.length_percentile)
    x, y = {}, {}
    for split in SPLITS:
        part = rows[rows["split"] == split]
        x[split] = encode(part["clean_text"].tolist(), vocabulary, sequence_length)
        y[split] = part["label"].to_numpy(dtype=np.int32)
    summary = _summary(rows, class_names, stats, x, vocabulary, sequence_length)
    class_weight = None
    if config.balance == "class_weight":
        present = np.unique(y["train"])
        weights = compute_class_weight("balanced", classes=present, y=y["train"])
        class_weight = {int(c): float(w) for c, w in zip(present, weights, strict=True)}
        summary["class_weight"] = class_weight
    vectors = word_vectors(config, train_texts, vocabulary)
    if vectors is not None:
        summary["embeddings"] = {
            **vectors.summary,
            "dimension": int(vectors.matrix.shape[1]),
            "trainable": config.embeddings_trainable,
            **coverage(vectors.covered, x["train"]),
        }
        share = summary["embeddings"]["vocabulary_coverage"]
        if share < LOW_COVERAGE:
            logger.warning(
                "the %s vectors cover only %.0f%% of the vocabulary; most words start random (GloVe's words are "
                "lowercase: keep lowercase = true), or use --embeddings learned or word2vec",
                config.embeddings,
                100 * share,
            )
    return PreparedData(
        x=x,
        y=y,
        class_names=class_names,
        vocabulary=vocabulary,
        sequence_length=sequence_length,
        rows=rows,
        summary=summary,
        class_weight=class_weight,
        embedding_matrix=None if vectors is None else vectors.matrix,
        trained_vectors=None if vectors is None else vectors.trained,
    )


def word_vectors(config: DataConfig, train_texts: list[str], vocabulary: list[str]) -> WordVectors | None:
    """The pretrained or corpus-trained vectors `config.embeddings` asks for (None: "learned").

    Raises:
        InputError: The vectors cannot be had (offline first use of GloVe, a bad file).
    """
    if config.embeddings == "glove-6b-50d":
        return glove_vectors(vocabulary, seed=config.seed)
    if config.embeddings == "file":
        return file_vectors(config.embeddings_path, vocabulary, seed=config.seed)
    if config.embeddings == "word2vec":
        return word2vec_vectors(
            train_texts,
            vocabulary,
            dimension=config.word2vec_dimension,
            window=config.word2vec_window,
            epochs=config.word2vec_epochs,
            seed=config.seed,
        )
    return None


def save_prepared(data: PreparedData, run_dir: Path) -> PreparedData:
    """Write prepared data to `RUN_DIR/data`, whole or not at all; return it as read back.

    Writes `rows.csv` (every kept row with its split), `splits.json` (row ids per split),
    `vocabulary.json`, `arrays.npz` (token ids and labels per split), `summary.json`, and
    `embedding_matrix.npy` with pretrained vectors and `word2vec.bin` with vectors trained
    on the training split, into a scratch folder renamed at the end.
    """
    rows = data.rows
    with staged_directory(RunLayout(run_dir).data) as scratch:
        rows.to_csv(scratch / "rows.csv", index=False)
        splits = {s: rows.loc[rows["split"] == s, "row_id"].astype(int).tolist() for s in SPLITS}
        (scratch / "splits.json").write_text(json.dumps(splits))
        (scratch / "vocabulary.json").write_text(json.dumps(data.vocabulary))
        np.savez_compressed(
            scratch / "arrays.npz", **{f"x_{s}": data.x[s] for s in SPLITS}, **{f"y_{s}": data.y[s] for s in SPLITS}
        )
        if data.embedding_matrix is not None:
            np.save(scratch / EMBEDDING_MATRIX, data.embedding_matrix)
        if data.trained_vectors is not None:  # word2vec format: readable by gensim and other tools
            data.trained_vectors.save_word2vec_format(str(scratch / WORD2VEC_VECTORS), binary=True)
        (scratch / "summary.json").write_text(json.dumps(data.summary, indent=2))
    return load_prepared(run_dir)


def prepare_data(config: DataConfig, run_dir: Path) -> PreparedData:
    """Run the data stage (`build_prepared`) and save its output in `RUN_DIR/data` (`save_prepared`).

    Args:
        config: The data configuration.
        run_dir: The run directory.

    Returns:
        The prepared data, as `load_prepared(run_dir)` would read it.

    Raises:
        InputError: Any problem with the data or the settings; nothing is written then.
    """
    return save_prepared(build_prepared(config), run_dir)


def load_prepared(run_dir: Path) -> PreparedData:
    """Read the data stage's output from `RUN_DIR/data`.

    Raises:
        InputError: The data stage has not run in `run_dir`.
    """
    folder = RunLayout(run_dir).data
    missing = [name for name in DATA_FILES if not (folder / name).is_file()]
    if missing:
        raise InputError(f"{folder}: missing {', '.join(missing)}; run `rnnsweep data --output {run_dir}` first")
    summary = json.loads((folder / "summary.json").read_text())
    with np.load(folder / "arrays.npz", allow_pickle=False) as arrays:
        x = {s: arrays[f"x_{s}"] for s in SPLITS}
        y = {s: arrays[f"y_{s}"] for s in SPLITS}
    rows = read_rows(run_dir)
    matrix_path = folder / EMBEDDING_MATRIX
    weights = summary.get("class_weight")
    return PreparedData(
        x=x,
        y=y,
        class_names=summary["class_names"],
        vocabulary=json.loads((folder / "vocabulary.json").read_text()),
        sequence_length=summary["sequence_length"],
        rows=rows,
        summary=summary,
        class_weight={int(k): v for k, v in weights.items()} if weights else None,
        embedding_matrix=np.load(matrix_path, allow_pickle=False) if matrix_path.is_file() else None,
    )
