"""One page of the live report, drawn in its own low-priority process: `python -m rnnsweep.tuning.live_page`."""

from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> int:
    """Draw `RUN_DIR/report/index.html` from the run's trial files (`reports.live.write_live_report`).

    Returns:
        0 once the page is written.
    """
    parser = argparse.ArgumentParser(prog="python -m rnnsweep.tuning.live_page")
    parser.add_argument("run_dir")
    parser.add_argument("--architectures", required=True, help="comma-separated, in the sweep's order")
    parser.add_argument("--max-trials", type=int, required=True)
    parser.add_argument("--objective", required=True)
    parser.add_argument("--finished", action="store_true")
    args = parser.parse_args(argv)
    if hasattr(os, "nice"):
        os.nice(19)  # the CPU only when the sweep leaves it idle

    from rnnsweep.reports.live import write_live_report
    from rnnsweep.tuning.trials import collect_trials

    names = args.architectures.split(",")
    trials = collect_trials(args.run_dir, names, args.objective)
    write_live_report(
        args.run_dir,
        trials,
        architectures=names,
        max_trials=args.max_trials,
        objective=args.objective,
        finished=args.finished,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
