"""Public names that a package imports from its modules only when first used (a module `__getattr__`)."""

from __future__ import annotations

import importlib


def lazy_exports(package: str, exports: dict[str, str]):
    """The `__getattr__` and `__dir__` of a package whose names load on first use.

    Args:
        package: The package's name, for error messages.
        exports: Public name -> the module that defines it.

    Returns:
        (`__getattr__`, `__dir__`) for the package's namespace.
    """

    def __getattr__(name: str):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(exports[name]), name)

    def __dir__() -> list[str]:
        return sorted({*importlib.import_module(package).__dict__, *exports})

    return __getattr__, __dir__
