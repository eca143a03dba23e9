"""Which hyperparameters mattered: Optuna's fANOVA importances of each architecture's completed trials."""

from __future__ import annotations

import pandas as pd

from rnnsweep.models import objective as objectives

# Completed trials an architecture needs before its importances are shown. Measured with
# bench/importance_threshold.py on sweeps shaped like rnnsweep's (learning rate decisive,
# units minor, dropouts irrelevant, noise 0.01): fANOVA named the learning rate most
# important in 60% of 15 sweeps of 4 trials, 80% of 8, 93% of 10-12 and 100% from 16.
MIN_TRIALS = 10


def hyperparameter_columns(trials: pd.DataFrame) -> list[str]:
    """The trials table's hyperparameter columns (keras-tuner's own `tuner/` entries left out)."""
    return [c for c in trials.columns if c.startswith("hp_") and not c.startswith("hp_tuner/")]


def _plain(value):
    return value.item() if hasattr(value, "item") else value


def importances(trials: pd.DataFrame, objective: str) -> dict[str, dict]:
    """Hyperparameter importance per architecture, computed by Optuna (no search under Optuna).

    Each architecture's completed trials become an in-memory Optuna study
    (`study.add_trials(create_trial(...))`, every hyperparameter a categorical of the values
    it took) and `optuna.importance.get_param_importances` with the fANOVA evaluator
    (seed 0) gives each hyperparameter's share of the objective's variance. Hyperparameters
    that kept one value are left out; with fewer than `MIN_TRIALS` completed trials, no
    importances are computed, and the reason is returned instead.

    Args:
        trials: The trials table (`trials.csv`).
        objective: The run's objective (its direction sets the study's).

    Returns:
        {architecture: {"importances": {name: share}} or {"reason": why none}}.
    """
    import optuna
    from optuna.distributions import CategoricalDistribution

    result = {}
    direction = "maximize" if objectives.direction(objective) == "max" else "minimize"
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # "A new study created in memory", per study
    try:
        for architecture, part in trials.groupby("architecture", sort=False):
            completed = part[(part["status"] == "COMPLETED") & part["objective"].notna()]
            if len(completed) < MIN_TRIALS:
                result[architecture] = {
                    "reason": f"{len(completed)} completed trial(s); importances need at least {MIN_TRIALS} to be "
                    "more than noise (run more trials, e.g. --max-trials 20)"
                }
                continue
            names = [c for c in hyperparameter_columns(completed) if completed[c].nunique() > 1]
            if not names:
                result[architecture] = {"reason": "every hyperparameter kept one value"}
                continue
            distributions = {
                c[3:]: CategoricalDistribution(sorted(_plain(v) for v in completed[c].dropna().unique())) for c in names
            }
            study = optuna.create_study(direction=direction)
            study.add_trials(
                [
                    optuna.trial.create_trial(
                        params={c[3:]: _plain(row[c]) for c in names},
                        distributions=distributions,
                        value=float(row["objective"]),
                    )
                    for _, row in completed.dropna(subset=names).iterrows()
                ]
            )
            evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
            result[architecture] = {"importances": optuna.importance.get_param_importances(study, evaluator=evaluator)}
    finally:
        optuna.logging.set_verbosity(verbosity)
    return result
