"""Wall time of the whole data stage (read, clean, split, vocabulary, encode, save).

python bench/data_prep.py [--data PATH] [--preset NAME] [--json]
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

    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        data = prepare_data(resolve_preset({"preset": args.preset, "path": args.data}), Path(folder))
        seconds = time.perf_counter() - started
    emit(
        {
            "benchmark": "data_prep",
            "rows_read": data.summary["rows_read"],
            "rows_used": data.summary["rows_used"],
            "seconds": round(seconds, 2),
            "machine": machine(),
        },
        args.json,
    )


if __name__ == "__main__":
    main()
