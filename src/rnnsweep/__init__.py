"""rnnsweep: hyperparameter sweeps for recurrent text classifiers; names below load on first use.

The subpackages are `rnnsweep.data_prep`, `rnnsweep.models`, `rnnsweep.tuning` and
`rnnsweep.reports`. Importing `rnnsweep` imports none of them (nor TensorFlow) and changes
no environment variable; each name below is imported when first used, as in Optuna.
"""

from __future__ import annotations

from rnnsweep._lazy import lazy_exports

__version__ = "0.1.0"

# Public name -> the module that defines it.
_EXPORTS = {
    "Config": "rnnsweep.tuning.config",
    "InputError": "rnnsweep.data_prep.errors",
    "compare_runs": "rnnsweep.tuning.compare",
    "configure_threads": "rnnsweep.tuning.threads",
    "data_stage": "rnnsweep.tuning.pipeline",
    "load_config": "rnnsweep.tuning.config",
    "load_text_model": "rnnsweep.tuning.export",
    "predict_file": "rnnsweep.tuning.predict",
    "predict_texts": "rnnsweep.tuning.predict",
    "report_stage": "rnnsweep.tuning.pipeline",
    "retrain_stage": "rnnsweep.tuning.pipeline",
    "run_all": "rnnsweep.tuning.pipeline",
    "tune_stage": "rnnsweep.tuning.pipeline",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports("rnnsweep", _EXPORTS)
