"""Search spaces: the value sets each hyperparameter is drawn from."""

from __future__ import annotations

import dataclasses

from rnnsweep.data_prep.errors import InputError

UNITS = (8, 16, 32, 64, 128)
WIDE_UNITS = (*UNITS, 256, 512)  # the original study let the 1-layer GRU go wider
DROPOUT = (0.0, 0.1, 0.2, 0.3, 0.4)
LEARNING_RATE = (1e-2, 1e-3, 1e-4, 1e-5)
EMBEDDING_DIM = 100
POOLING = ("last", "mean")


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """Value sets shared by every layer of one architecture.

    Attributes:
        units: Choices for each recurrent layer's units (default 8-128).
        dropout: Choices for each dropout rate (default 0.0-0.4 by 0.1).
        learning_rate: Choices for Adam's learning rate (default 1e-2 to 1e-5).
        embedding_dim: Embedding width when not pretrained (default 100).
        pooling: How the last recurrent layer's outputs become one vector: "last" (its
            final state, as the study) or "mean" (the average over the text's tokens,
            padding excluded) (default ("last",); a searched hyperparameter when it
            offers more than "last").
    """

    units: tuple[int, ...] = UNITS
    dropout: tuple[float, ...] = DROPOUT
    learning_rate: tuple[float, ...] = LEARNING_RATE
    embedding_dim: int = EMBEDDING_DIM
    pooling: tuple[str, ...] = ("last",)

    def default(self, name: str):
        """The value a trial starts from: 64 units, 0.2 dropout, 1e-3 rate when offered."""
        preferred = {"units": 64, "dropout": 0.2, "learning_rate": 1e-3}[name]
        choices = getattr(self, name)
        return preferred if preferred in choices else choices[0]

    def validate(self) -> None:
        """Raise `InputError` naming the first bad value set."""
        for name in ("units", "dropout", "learning_rate"):
            values = getattr(self, name)
            if not values:
                raise InputError(f"search space {name} is empty; give at least one value")
        for name in ("dropout", "learning_rate"):
            if any(isinstance(v, bool) or not isinstance(v, int | float) for v in getattr(self, name)):
                raise InputError(f"search space {name} must be numbers. Received: {name}={list(getattr(self, name))}")
        if any(not isinstance(u, int) or isinstance(u, bool) or u <= 0 for u in self.units):
            raise InputError(f"search space units must be whole numbers > 0. Received: units={list(self.units)}")
        if any(not 0 <= d < 1 for d in self.dropout):
            raise InputError(f"search space dropout must be in [0, 1). Received: dropout={list(self.dropout)}")
        if any(not lr > 0 for lr in self.learning_rate):
            raise InputError(
                f"search space learning_rate must be > 0. Received: learning_rate={list(self.learning_rate)}"
            )
        if not self.pooling or any(p not in POOLING for p in self.pooling):
            raise InputError(
                f"search space pooling must be values from {list(POOLING)}. Received: pooling={list(self.pooling)}"
            )
        if isinstance(self.embedding_dim, bool) or not isinstance(self.embedding_dim, int) or self.embedding_dim <= 0:
            raise InputError(f"embedding_dim must be a whole number > 0. Received: {self.embedding_dim!r}")


def default_search_space(architecture_name: str, overrides: dict | None = None) -> SearchSpace:
    """The original study's space for `architecture_name`, with `overrides` applied.

    Args:
        architecture_name: e.g. "gru1" (whose units go up to 512).
        overrides: Value sets from the config (`units`, `dropout`, `learning_rate`,
            `embedding_dim`, `pooling`); absent keys keep their defaults.

    Returns:
        The validated space.

    Raises:
        InputError: An unknown key or a bad value set.
    """
    overrides = dict(overrides or {})
    known = {f.name for f in dataclasses.fields(SearchSpace)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise InputError(f"unknown search space key(s) {unknown}; valid keys are {sorted(known)}")
    values = {"units": WIDE_UNITS if architecture_name == "gru1" else UNITS}
    for key, value in overrides.items():
        if key == "embedding_dim":
            values[key] = value
            continue
        if not isinstance(value, list | tuple):
            raise InputError(
                f"[search.space] {key} must be a list of values to choose from, e.g. {key} = "
                f"{list(getattr(SearchSpace, key))[:2]!r}. Received: {key}={value!r}"
            )
        values[key] = tuple(value)
    space = SearchSpace(**values)
    space.validate()
    return space


def hyperparameter_choices(architecture, space: SearchSpace) -> dict[str, tuple]:
    """Every hyperparameter `build_model` draws for `architecture` from `space`, with its
    choices: `dropout_embedding`, `pooling` (when searched), `units_i` per layer,
    `dropout_i` between layers, `dropout_output`, `learning_rate`.

    Args:
        architecture: An `Architecture` (its depth decides the per-layer names).
        space: The architecture's search space.

    Returns:
        {name: choices}, in the order the builder draws them (tests/test_continue.py checks
        it against the builder's own keras-tuner space).
    """
    choices: dict[str, tuple] = {"dropout_embedding": space.dropout}
    if space.pooling != ("last",):
        choices["pooling"] = space.pooling
    for depth in range(1, architecture.depth + 1):
        choices[f"units_{depth}"] = space.units
        if depth < architecture.depth:
            choices[f"dropout_{depth}"] = space.dropout
    choices["dropout_output"] = space.dropout
    choices["learning_rate"] = space.learning_rate
    return choices
