"""Resident memory of one process over a 40-trial sweep: after trial 5 and after trial 40.

python bench/memory.py [--trials 40] [--data PATH --preset NAME [--max-rows 2000]] [--backend jax] [--json]

Without --data the sweep runs on small synthetic reviews, so 40 trials take minutes.
"""

from __future__ import annotations

import argparse
import logging
import re
import tempfile
from pathlib import Path

from _common import emit, machine, rss_mib, synthetic_reviews


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--architecture", default="gru1")
    parser.add_argument("--data", help="review file (default: synthetic reviews)")
    parser.add_argument("--preset", default="womens-clothing", help="preset for --data")
    parser.add_argument("--max-rows", type=int, default=2000, help="rows of --data used")
    parser.add_argument("--backend", default="tensorflow", choices=["tensorflow", "jax"], help="Keras backend")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from rnnsweep.tuning.backends import use_backend

    use_backend(args.backend)  # before Keras is imported
    from rnnsweep.data_prep.prepare import prepare_data
    from rnnsweep.tuning.config import load_config, open_run
    from rnnsweep.tuning.search import run_search

    samples: dict[int, float] = {}

    class RssAtTrial(logging.Handler):
        def emit(self, record):
            match = re.search(r"trial (\d+) of", record.getMessage())
            if match:
                samples[int(match.group(1))] = rss_mib()

    logger = logging.getLogger("rnnsweep")
    logger.setLevel(logging.INFO)
    logger.addHandler(RssAtTrial())
    with tempfile.TemporaryDirectory() as folder:
        if args.data:
            data_values = {"preset": args.preset, "path": args.data, "max_rows": args.max_rows}
        else:
            data = synthetic_reviews(Path(folder) / "reviews.csv")
            data_values = {
                "path": str(data),
                "text_column": "Review Text",
                "label_column": "Rating",
                "labels": "stars",
            }
        config = load_config(
            None,
            {
                "data": data_values,
                "search": {
                    "architectures": [args.architecture],
                    "max_trials": args.trials,
                    "epochs": 1,
                    "space": {
                        "units": [8, 16],
                        "dropout": [0.0, 0.1, 0.2, 0.3, 0.4],
                        "learning_rate": [1e-2, 1e-3, 1e-4, 1e-5],
                    },
                },
            },
        )
        run_dir = open_run(Path(folder) / "run", config)
        prepare_data(config.data, run_dir)
        run_search(run_dir, config)
    early, late = samples.get(5), samples.get(args.trials)
    emit(
        {
            "benchmark": "memory",
            "trials": args.trials,
            "backend": args.backend,
            "rss_mib_after_trial_5": round(early, 1),
            f"rss_mib_after_trial_{args.trials}": round(late, 1),
            "growth_percent": round(100 * (late - early) / early, 1),
            "machine": machine(),
        },
        args.json,
    )


if __name__ == "__main__":
    main()
