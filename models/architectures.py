"""Named architectures: a recurrent cell type, a depth and a direction."""

from __future__ import annotations

import dataclasses

from rnnsweep.data_prep.errors import InputError, check_one_of
from rnnsweep.data_prep.run_dir import check_safe_name

CELLS = ("lstm", "gru", "simple_rnn")


@dataclasses.dataclass(frozen=True)
class Architecture:
    """One recurrent architecture.

    Attributes:
        name: Its name in configs, folders and reports.
        cell: "lstm", "gru" or "simple_rnn".
        depth: Number of stacked recurrent layers (>= 1).
        bidirectional: Wrap each recurrent layer in `Bidirectional` (default False).
    """

    name: str
    cell: str
    depth: int
    bidirectional: bool = False

    def validate(self) -> None:
        # The name becomes folder and file names (search/NAME, models/NAME, figures).
        check_safe_name("search.custom_architectures name", self.name)
        check_one_of(f"architectures.{self.name}.cell", self.cell, CELLS)
        if isinstance(self.depth, bool) or not isinstance(self.depth, int) or self.depth < 1:
            raise InputError(f"architectures.{self.name}.depth must be a whole number >= 1. Received: {self.depth!r}")
        if not isinstance(self.bidirectional, bool):
            raise InputError(
                f"architectures.{self.name}.bidirectional must be true or false. Received: {self.bidirectional!r}"
            )


# The original study's architectures.
ARCHITECTURES = {
    "lstm": Architecture("lstm", "lstm", 2),
    "gru1": Architecture("gru1", "gru", 1),
    "gru2": Architecture("gru2", "gru", 2),
    "gru4": Architecture("gru4", "gru", 4),
    "simple_rnn": Architecture("simple_rnn", "simple_rnn", 1),
    "bilstm": Architecture("bilstm", "lstm", 1, bidirectional=True),
}


def resolve_architectures(names: list[str], custom: dict | None = None) -> list[Architecture]:
    """Look up architectures by name, among the built-in ones and `custom` definitions.

    Args:
        names: Architecture names, in sweep order.
        custom: Extra definitions from the config, name -> {cell, depth, bidirectional}.

    Returns:
        The architectures, in the order of `names`.

    Raises:
        InputError: An unknown name or a bad definition.
    """
    known = dict(ARCHITECTURES)
    for name, definition in (custom or {}).items():
        if not isinstance(definition, dict):
            raise InputError(
                f"architectures.{name} must be a table with cell, depth and bidirectional. Received: {definition!r}"
            )
        extra = sorted(set(definition) - {"cell", "depth", "bidirectional"})
        if extra:
            raise InputError(
                f"architectures.{name}: unknown key(s) {extra}; valid keys are ['bidirectional', 'cell', 'depth']"
            )
        architecture = Architecture(name=name, **definition)
        architecture.validate()
        known[name] = architecture
    if not names:
        raise InputError("no architectures to sweep; name at least one, e.g. --architectures lstm")
    for name in names:
        if not isinstance(name, str):
            raise InputError(f"architectures must be a list of names. Received: {names!r}")
        check_one_of("architectures", name, known)
    if len(set(names)) != len(names):
        raise InputError(f"architectures lists a name twice. Received: {names}")
    return [known[name] for name in names]
