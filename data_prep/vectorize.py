"""Vocabulary and integer encoding, fitted on the training split only."""

from __future__ import annotations

from collections import Counter

import numpy as np

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
