"""How many trials fANOVA importances need: how often it names the decisive hyperparameter.

Synthetic sweeps shaped like rnnsweep's search space (units, two dropouts, learning rate)
where the learning rate decides the score, units matter a little, dropouts not at all, plus
noise (sd 0.01). For each number of trials, the share of sweeps in which Optuna's fANOVA
evaluator ranks the learning rate first. rnnsweep.reports.importance.MIN_TRIALS is set from it.

python bench/importance_threshold.py [--sweeps 15] [--json]
"""

from __future__ import annotations

import argparse

import numpy as np
from _common import emit

SPACE = {
    "units_1": [8, 16, 32, 64, 128],
    "dropout_embedding": [0.0, 0.1, 0.2, 0.3, 0.4],
    "dropout_output": [0.0, 0.1, 0.2, 0.3, 0.4],
    "learning_rate": [1e-2, 1e-3, 1e-4, 1e-5],
}
RATE_EFFECT = {1e-2: 0.0, 1e-3: 0.01, 1e-4: -0.03, 1e-5: -0.08}


def learning_rate_ranked_first(trials: int, rng) -> bool:
    import optuna
    from optuna.distributions import CategoricalDistribution

    study = optuna.create_study(direction="maximize")
    distributions = {name: CategoricalDistribution(values) for name, values in SPACE.items()}
    for _ in range(trials):
        params = {name: values[rng.integers(len(values))] for name, values in SPACE.items()}
        value = 0.85 + RATE_EFFECT[params["learning_rate"]] + 1e-4 * np.log2(params["units_1"]) + rng.normal(0, 0.01)
        study.add_trial(optuna.trial.create_trial(params=params, distributions=distributions, value=value))
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
    return next(iter(optuna.importance.get_param_importances(study, evaluator=evaluator))) == "learning_rate"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sweeps", type=int, default=15)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rng = np.random.default_rng(0)
    shares = {
        str(n): round(sum(learning_rate_ranked_first(n, rng) for _ in range(args.sweeps)) / args.sweeps, 2)
        for n in (4, 6, 8, 10, 12, 16, 24)
    }
    emit({"benchmark": "importance_threshold", "sweeps": args.sweeps, "share_ranked_first": shares}, args.json)


if __name__ == "__main__":
    main()
