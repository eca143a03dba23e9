"""Vocabulary, integer encoding and pretrained word vectors, fitted on the training split only."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from rnnsweep.data_prep.errors import InputError

PAD, OOV = "", "[UNK]"


def build_vocabulary(train_texts: list[str], vocab_size: int) -> list[str]:
    """The `vocab_size` most frequent training tokens, padding and OOV first.

    Index 0 is padding, 1 is out-of-vocabulary, then tokens by descending count (ties
    by first appearance). Plain Python rather than `TextVectorization.adapt`, so the
    arrays can be made without TensorFlow; the exported model's `TextVectorization`
    layer is given this vocabulary and encodes the same way (tested).

    Args:
        train_texts: Cleaned training texts.
        vocab_size: Cap on the vocabulary, padding and OOV included.

    Returns:
        The vocabulary, index by index.
    """
    counts = Counter(token for text in train_texts for token in text.split())
    ranked = sorted(counts.items(), key=lambda item: -item[1])  # stable: first seen wins ties
    return [PAD, OOV] + [token for token, _ in ranked[: vocab_size - 2]]


def encode(texts: list[str], vocabulary: list[str], sequence_length: int) -> np.ndarray:
    """Token ids padded and truncated at the end (post-padding keeps cuDNN kernels usable).

    Returns:
        int32 array of shape (len(texts), sequence_length).
    """
    index = {token: i for i, token in enumerate(vocabulary) if i > 1}
    out = np.zeros((len(texts), sequence_length), dtype=np.int32)
    for row, text in enumerate(texts):
        ids = [index.get(token, 1) for token in text.split()[:sequence_length]]
        out[row, : len(ids)] = ids
    return out


def choose_sequence_length(train_texts: list[str], setting: int | str, percentile: float) -> int:
    """`setting` itself, or for "auto" the `percentile` of training token counts (at least 1)."""
    if setting != "auto":
        return int(setting)
    lengths = [len(t.split()) for t in train_texts]
    return max(1, int(np.ceil(np.percentile(lengths, percentile))))


def load_embedding_matrix(path: Path, vocabulary: list[str], *, seed: int) -> tuple[np.ndarray, float]:
    """Build an embedding matrix for `vocabulary` from a GloVe or word2vec text file.

    Words missing from the file get small random vectors (seeded); padding gets zeros.
    A word2vec header line ("count dimension") is recognised and skipped.

    Args:
        path: The vectors file.
        vocabulary: The vocabulary (index 0 padding, 1 OOV).
        seed: Seed for the vectors of missing words.

    Returns:
        The float32 matrix of shape (len(vocabulary), dimension) and the share of
        vocabulary words (padding and OOV excepted) found in the file.

    Raises:
        InputError: Missing file, no vectors, or a dimension that varies between lines.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such vectors file; check embeddings_path")
    wanted = {token: i for i, token in enumerate(vocabulary) if i > 1}
    found: dict[int, np.ndarray] = {}
    dimension = None
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            parts = line.rstrip().split(" ")
            if number == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                continue  # word2vec header
            if len(parts) < 2:
                continue
            if dimension is None:
                dimension = len(parts) - 1
            elif len(parts) - 1 != dimension:
                raise InputError(
                    f"{path}: line {number} has {len(parts) - 1} values, earlier lines {dimension}; "
                    "every vector must have the same dimension"
                )
            if parts[0] in wanted:
                found[wanted[parts[0]]] = np.asarray(parts[1:], dtype=np.float32)
    if dimension is None:
        raise InputError(f"{path}: no vectors found; pass a GloVe or word2vec text file")
    rng = np.random.default_rng(seed)
    matrix = rng.normal(0, 0.05, size=(len(vocabulary), dimension)).astype(np.float32)
    matrix[0] = 0
    for index, vector in found.items():
        matrix[index] = vector
    share = len(found) / max(1, len(wanted))
    return matrix, share
