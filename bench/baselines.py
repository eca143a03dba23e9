"""Wall time of the baselines (TF-IDF + logistic regression / linear SVM tuned on validation, majority).

python bench/baselines.py [--data PATH] [--preset NAME] [--json]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _common import DEFAULT_DATA, emit, machine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--preset", default="womens-clothing")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from rnnsweep.data_prep.config import resolve_preset
    from rnnsweep.data_prep.prepare import prepare_data
    from rnnsweep.tuning.baselines import run_baselines

    with tempfile.TemporaryDirectory() as folder:
        data = prepare_data(resolve_preset({"preset": args.preset, "path": args.data}), Path(folder))
        started = time.perf_counter()
        results = run_baselines(Path(folder), data=data)
        seconds = time.perf_counter() - started
    emit(
        {
            "benchmark": "baselines",
            "train_texts": len(data.y["train"]),
            "seconds": round(seconds, 1),
            "chosen": {name: r["settings"] for name, r in results.items()},
            "validation_auc": {name: round(r["validation_score"], 4) for name, r in results.items()},
            "machine": machine(),
        },
        args.json,
    )


if __name__ == "__main__":
    main()
