"""What the live report costs a sweep: seconds per page, and a sweep's wall time with it and without.

Two measurements on the clothing reviews:

- one page (`reports.live.write_live_report`) for a table of 6 architectures x 10 trials,
  the size of the thorough budget's sweep and more, median of `--repeats` pages;
- the same in-process sweep (`tune_stage`, one process, `--trials` trials of gru1 of one
  epoch on `--max-rows` reviews) with the live report and with its drawing replaced by a
  no-op, alternating, `--repeats` each; the sweep's own seconds, from its `timings.json`.

python bench/live_report.py [--data PATH] [--max-rows 3000] [--trials 6] [--repeats 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from _common import DEFAULT_DATA, emit, machine


def page_seconds(repeats: int) -> float:
    import numpy as np
    import pandas as pd

    from rnnsweep.reports.live import write_live_report

    rng = np.random.default_rng(0)
    names = ["lstm", "gru1", "gru2", "gru4", "simple_rnn", "bilstm"]
    trials = pd.DataFrame(
        {
            "architecture": np.repeat(names, 10),
            "trial_id": [str(i) for _ in names for i in range(10)],
            "status": "COMPLETED",
            "objective": rng.uniform(0.6, 0.9, 60),
            "hp_units_1": rng.choice([8, 16, 32, 64, 128], 60),
            "hp_dropout_embedding": rng.choice([0.0, 0.2, 0.4], 60),
            "hp_dropout_output": rng.choice([0.0, 0.2, 0.4], 60),
            "hp_learning_rate": rng.choice([1e-2, 1e-3, 1e-4], 60),
        }
    )
    seconds = []
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(repeats):
            started = time.perf_counter()
            write_live_report(
                Path(folder), trials, architectures=names, max_trials=10, objective="val_auc", finished=False
            )
            seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--max-rows", type=int, default=3000)
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from rnnsweep.tuning.threads import configure_threads

    configure_threads()
    os.environ["RNNSWEEP_LIVE_REPORT"] = "1"  # measured here, whatever the caller's environment says
    from rnnsweep.tuning import progress
    from rnnsweep.tuning.config import load_config
    from rnnsweep.tuning.pipeline import data_stage, tune_stage

    config = load_config(
        None,
        {
            "data": {
                "preset": "womens-clothing",
                "path": args.data,
                "max_rows": args.max_rows,
                "embeddings": "learned",
            },
            "search": {"architectures": ["gru1"], "max_trials": args.trials, "epochs": 1, "median_stopping": False},
        },
    )
    draw = progress.LiveReport._draw
    sweep_s = {"with": [], "without": []}
    pages = []
    with tempfile.TemporaryDirectory() as folder:
        for repeat in range(args.repeats):
            for side in ("with", "without"):
                run_dir = Path(folder) / f"{side}-{repeat}"
                data_stage(config, run_dir)  # not timed: the sweep's own seconds are compared
                progress.LiveReport._draw = draw if side == "with" else lambda self: None
                tune_stage(config, run_dir, workers=1)
                sweep_s[side].append(json.loads((run_dir / "timings.json").read_text())["search"])
                if side == "with":
                    pages.append(len(list((run_dir / "report").glob("index.html"))))
    progress.LiveReport._draw = draw
    with_s, without_s = statistics.median(sweep_s["with"]), statistics.median(sweep_s["without"])
    emit(
        {
            "benchmark": "live_report",
            "page_s_60_trials": round(page_seconds(args.repeats), 3),
            "trials": args.trials,
            "train_rows": args.max_rows,
            "repeats": args.repeats,
            "sweep_s_with": round(with_s, 2),
            "sweep_s_without": round(without_s, 2),
            "sweep_s_all": {side: [round(s, 2) for s in values] for side, values in sweep_s.items()},
            "overhead_percent": round(100 * (with_s - without_s) / without_s, 1),
            "pages_written": all(pages),
            "machine": machine(),
        },
        args.json,
    )


if __name__ == "__main__":
    main()
