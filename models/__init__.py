"""Model builders for recurrent text classifiers, one per cell type, for keras-tuner.

Names load on first use, so the architectures, search spaces and objectives can be read
(e.g. to check a configuration) without importing Keras.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "ARCHITECTURES": "rnnsweep.models.architectures",
    "Architecture": "rnnsweep.models.architectures",
    "ModelSpec": "rnnsweep.models.spec",
    "SearchSpace": "rnnsweep.models.search_space",
    "build_model": "rnnsweep.models.builders",
    "compile_for_classes": "rnnsweep.models.head",
    "default_search_space": "rnnsweep.models.search_space",
    "encode_targets": "rnnsweep.models.head",
    "predict_proba": "rnnsweep.models.head",
    "resolve_architectures": "rnnsweep.models.architectures",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'rnnsweep.models' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
