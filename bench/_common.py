"""Helpers shared by the benchmark scripts: machine description, JSON output, data."""

from __future__ import annotations

import json
import os
import platform
import random
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "womens_clothing_reviews.csv.gz"


# The original study's cleaning (stopwords removed) and no truncation, so the reference can
# pre-pad every text to the longest review as the study did; both sides read these tokens.
STUDY_DATA = {"remove_stopwords": True, "length_percentile": 100}


def data_settings(args, *, cleaning: str = "study") -> dict:
    """`[data]` values for a benchmark: `args.preset`, `args.data`, optional `args.max_rows`,
    and the study's cleaning (default) or rnnsweep's defaults (`cleaning="rnnsweep"`).

    Embeddings are learned, as in the study's models that the reference side trains: the
    engines are compared on the same model (rnnsweep's default, GloVe, is a different one)."""
    values = {"preset": args.preset, "path": args.data, "embeddings": "learned"}
    if getattr(args, "max_rows", None):
        values["max_rows"] = args.max_rows
    return {**values, **(STUDY_DATA if cleaning == "study" else {})}


def side_environment(side: str) -> dict:
    """The environment of a benchmark side's process.

    TensorFlow sizes its thread pools when its runtime starts. The reference side gets
    TensorFlow's own defaults ("0": as many threads as cores), so that rnnsweep's helpers it
    borrows cannot change them; the rnnsweep side gets whatever
    `rnnsweep.tuning.threads.configure_threads` chooses.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")}
    if side == "reference":
        env |= {"TF_NUM_INTRAOP_THREADS": "0", "TF_NUM_INTEROP_THREADS": "0"}
        env.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))
    else:
        env.pop("OMP_NUM_THREADS", None)
    return env


def machine() -> dict:
    """What the figures were measured on."""
    import keras
    import tensorflow as tf

    model = next(
        (line.split(":", 1)[1].strip() for line in _cpuinfo().splitlines() if line.startswith("model name")),
        platform.processor() or platform.machine(),
    )
    return {
        "cpus": os.cpu_count(),
        "processor": model,
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
    }


def _cpuinfo() -> str:
    path = Path("/proc/cpuinfo")  # Linux; elsewhere the platform's processor name
    return path.read_text() if path.is_file() else ""


def rss_mib() -> float:
    """Resident memory of this process in MiB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def emit(result: dict, as_json: bool) -> None:
    """Print a table, then (with --json) one JSON line last."""
    for key, value in result.items():
        print(f"{key:>28}: {value}")
    if as_json:
        print(json.dumps(result))


def synthetic_reviews(path: Path, n: int = 300, seed: int = 0) -> Path:
    """A small clothing-style CSV whose words depend on the rating."""
    rng = random.Random(seed)
    words = {
        "neg": "bad awful cheap tight ugly returned poor disappointed".split(),
        "mid": "okay fine average decent usual plain simple standard".split(),
        "pos": "great lovely perfect comfortable soft beautiful happy recommend".split(),
    }
    filler = "the dress shirt fabric color size fit order wear this it was and very".split()
    lines = ["Review Text,Rating"]
    for _ in range(n):
        rating = rng.randint(1, 5)
        pool = words["neg"] if rating <= 2 else words["mid"] if rating == 3 else words["pos"]
        text = " ".join(rng.choice(pool if rng.random() < 0.4 else filler) for _ in range(rng.randint(4, 20)))
        lines.append(f"{text},{rating}")
    path.write_text("\n".join(lines))
    return path
