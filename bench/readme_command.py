"""Wall time of the README's main command (`rnnsweep run` on the built-in dataset) in a fresh run
directory, then of `rnnsweep report` alone on its results.

    python bench/readme_command.py [--data PATH] [--preset NAME] [--json]

--data and --preset are passed on to `rnnsweep run`; without them it is the README's command.

The dataset is fetched once beforehand, so the time is the job's, not the download's.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import emit, machine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data")
    parser.add_argument("--preset")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from rnnsweep.data_prep.sources import ensure_default_dataset

    if not args.data:
        ensure_default_dataset()
    extra = [*(["--data", args.data] if args.data else []), *(["--preset", args.preset] if args.preset else [])]
    with tempfile.TemporaryDirectory() as folder:
        run_dir = Path(folder) / "run"
        started = time.perf_counter()
        # -P: as the `rnnsweep` command, not with the working directory first on sys.path,
        # where bench/data_prep.py would shadow the package when run from bench/.
        subprocess.run(
            [sys.executable, "-P", "-m", "rnnsweep", "-q", "run", "--output", str(run_dir), *extra], check=True
        )
        seconds = time.perf_counter() - started
        started = time.perf_counter()
        subprocess.run([sys.executable, "-P", "-m", "rnnsweep", "-q", "report", str(run_dir)], check=True)
        report_seconds = time.perf_counter() - started
    emit(
        {
            "benchmark": "readme_command",
            "wall_s": round(seconds, 1),
            "under_10_min": seconds < 600,
            "report_alone_s": round(report_seconds, 1),
            "machine": machine(),
        },
        args.json,
    )


if __name__ == "__main__":
    main()
