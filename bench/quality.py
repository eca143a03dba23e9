"""Quality of one budget on one data set: the validation-chosen RNN against the tuned baselines.

    python bench/quality.py --set {builtin,clothing,polarity} --embeddings NAME [--budget NAME]
                            [--frozen] [--extra TOML] [--architectures A,B] [--shared PATH]
                            [--keep RUN_DIR] [--json]

Runs `rnnsweep run --budget NAME --embeddings NAME` in a fresh run directory and reports its
leaderboard (every model and baseline ranked on validation, test figures with 95% intervals),
the paired verdict against the best baseline on validation, the embeddings' coverage and the
wall time. `--frozen` keeps pretrained vectors frozen; `--extra` adds config values (TOML text,
e.g. '[search]\nmax_trials = 6') and `--architectures` narrows the sweep, to compare variants
of a budget on validation. The data set and the vectors are fetched beforehand, so the time is
the job's, not the download's.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import tomli_w
from _common import emit, machine

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
# The review sets of the quality table: (preset, path under shared/data or None for built-in).
SETS = {
    "builtin": ("rotten-tomatoes", None),
    "clothing": ("womens-clothing", "womens_clothing_reviews.csv.gz"),
    "polarity": ("rt-polarity", "rt_polarity"),
}


def run_quality(args) -> dict:
    from rnnsweep.data_prep.embeddings import ensure_glove
    from rnnsweep.data_prep.sources import ensure_default_dataset

    preset, relative = SETS[args.set]
    data = ["--preset", preset]
    if relative:
        data += ["--data", str(Path(args.shared) / relative)]
    else:
        ensure_default_dataset()
    if args.embeddings == "glove-6b-50d":
        ensure_glove()
    with tempfile.TemporaryDirectory() as folder:
        run_dir = Path(args.keep) if args.keep else Path(folder) / "run"
        extra = ["--architectures", args.architectures] if args.architectures else []
        values = tomllib.loads(args.extra or "")
        if args.frozen:
            values.setdefault("data", {})["embeddings_trainable"] = False
        if values:
            config = Path(folder) / "extra.toml"
            config.write_text(tomli_w.dumps(values))
            extra += ["--config", str(config)]
        command = [sys.executable, "-P", "-m", "rnnsweep", "-q", "run", "--output", str(run_dir), "--overwrite"]
        command += [*data, "--budget", args.budget, "--embeddings", args.embeddings, *extra]
        started = time.perf_counter()
        subprocess.run(command, check=True)
        seconds = time.perf_counter() - started
        board = json.loads((run_dir / "leaderboard.json").read_text())
        summary = json.loads((run_dir / "data" / "summary.json").read_text())
    return {
        "benchmark": "quality",
        "set": args.set,
        "embeddings": args.embeddings + (" (frozen)" if args.frozen else ""),
        "budget": args.budget,
        "variant": {"architectures": args.architectures, "extra": args.extra},
        "wall_s": round(seconds, 1),
        "rows": {split: sum(counts.values()) for split, counts in summary["class_counts"].items()},
        "embeddings_summary": summary.get("embeddings"),
        "leaderboard": board,
        "machine": machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", choices=sorted(SETS), required=True)
    parser.add_argument("--embeddings", default="glove-6b-50d")
    parser.add_argument("--budget", default="thorough")
    parser.add_argument("--frozen", action="store_true")
    parser.add_argument("--extra", help="config values in TOML, on top of the budget")
    parser.add_argument("--architectures")
    parser.add_argument("--shared", default=str(SHARED), help="the folder holding the review sets")
    parser.add_argument("--keep", metavar="RUN_DIR", help="keep the run here instead of a temporary folder")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    emit(run_quality(args), args.json)


if __name__ == "__main__":
    main()
