"""Model builders for recurrent text classifiers, one per cell type, for keras-tuner.

Names load on first use, so the architectures, search spaces and objectives can be read
(e.g. to check a configuration) without importing Keras.
"""

from __future__ import annotations

from rnnsweep._lazy import lazy_exports

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


__getattr__, __dir__ = lazy_exports("rnnsweep.models", _EXPORTS)
