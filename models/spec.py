"""The data-dependent facts a model builder needs: vocabulary, length, classes."""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """What the data fixes about a model.

    Attributes:
        vocab_size: Number of token ids (padding and OOV included).
        sequence_length: Tokens per input (None: any length, for length-bucketed batches).
        num_classes: Number of classes (2 or more).
        embedding_matrix: Pretrained vectors, shape (vocab_size, dim), or None.
        embedding_trainable: Fine-tune pretrained vectors (default False).
    """

    vocab_size: int
    sequence_length: int | None
    num_classes: int
    embedding_matrix: np.ndarray | None = dataclasses.field(default=None, compare=False, repr=False)
    embedding_trainable: bool = False

    def __post_init__(self):
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be 2 or more. Received: num_classes={self.num_classes}")
        if self.vocab_size < 3:
            raise ValueError(f"vocab_size must be 3 or more. Received: vocab_size={self.vocab_size}")
        if self.embedding_matrix is not None and self.embedding_matrix.shape[0] != self.vocab_size:
            raise ValueError(
                f"embedding_matrix has {self.embedding_matrix.shape[0]} rows, expected vocab_size={self.vocab_size}"
            )
