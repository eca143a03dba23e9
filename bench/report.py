"""Wall time of `rnnsweep report RUN_DIR` on a finished run (figures, importances, page).

python bench/report.py RUN_DIR [--json]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from _common import emit, machine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    # The whole command, as a user runs it: start-up and imports included.
    subprocess.run([sys.executable, "-P", "-m", "rnnsweep", "-q", "report", args.run_dir], check=True)
    seconds = time.perf_counter() - started
    emit(
        {"benchmark": "report", "run_dir": args.run_dir, "seconds": round(seconds, 1), "machine": machine()}, args.json
    )


if __name__ == "__main__":
    main()
