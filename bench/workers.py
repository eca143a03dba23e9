"""Wall time of the same sweep in one process and with `--workers 2` (a chief and two workers).

python bench/workers.py [--data PATH] [--preset NAME] [--max-rows 4000] [--trials 4] [--json]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from _common import DEFAULT_DATA, emit, machine

ROOT = Path(__file__).resolve().parents[1]


def sweep(run_dir: Path, args, extra: list[str]) -> float:
    run_dir.mkdir(parents=True)
    config = run_dir / "sweep.toml"
    config.write_text(
        f'[data]\npreset = "{args.preset}"\npath = "{args.data}"\nmax_rows = {args.max_rows}\n'
        f'[search]\narchitectures = ["gru1", "lstm"]\nmax_trials = {args.trials}\nepochs = 2\n'
    )
    base = [sys.executable, "-m", "rnnsweep", "-q"]
    options = ["--config", str(config), "--output", str(run_dir)]
    subprocess.run([*base, "data", *options], check=True, cwd=ROOT)  # data outside the timing
    started = time.perf_counter()
    subprocess.run([*base, "tune", *options, *extra], check=True, cwd=ROOT)
    seconds = time.perf_counter() - started
    trials = pd.read_csv(run_dir / "trials.csv")
    if (trials["status"] == "COMPLETED").sum() != 2 * args.trials:
        raise SystemExit(f"{run_dir}: not every trial completed")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--preset", default="womens-clothing")
    parser.add_argument("--max-rows", type=int, default=4000)
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        single = sweep(Path(folder) / "single", args, ["--workers", "1"])
        parallel = sweep(Path(folder) / "parallel", args, ["--workers", "2"])
    emit(
        {
            "benchmark": "workers",
            "trials": 2 * args.trials,
            "rows": args.max_rows,
            "single_process_s": round(single, 1),
            "workers_2_s": round(parallel, 1),
            "speedup": round(single / parallel, 2),
            "machine": machine(),
        },
        args.json,
    )


if __name__ == "__main__":
    main()
