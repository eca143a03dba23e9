"""The validation quantities a sweep ranks by or early stopping watches, and which way is better."""

from __future__ import annotations

# Name (as Keras logs it on the validation split) -> "max" or "min".
DIRECTIONS = {"val_auc": "max", "val_loss": "min", "val_accuracy": "max"}
OBJECTIVES = tuple(DIRECTIONS)


def direction(name: str) -> str:
    """ "max" when higher values of `name` are better, "min" when lower are.

    Raises:
        ValueError: `name` is not one of `OBJECTIVES`.
    """
    try:
        return DIRECTIONS[name]
    except KeyError:
        raise ValueError(f"Expected one of {list(OBJECTIVES)}. Received: objective={name!r}") from None


def best(values, name: str, *, key=None):
    """The best of `values` for objective `name` (the lowest loss, else the highest score),
    compared by `key(value)` when given."""
    return (min if direction(name) == "min" else max)(values, key=key)


def is_better(value: float, than: float, name: str) -> bool:
    """Whether `value` is strictly better than `than` for objective `name`."""
    return value < than if direction(name) == "min" else value > than
