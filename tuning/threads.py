"""CPU thread pools sized for recurrent training: one thread per op, one op per core."""

from __future__ import annotations

import os

INTRA_OP = "TF_NUM_INTRAOP_THREADS"
INTER_OP = "TF_NUM_INTEROP_THREADS"


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the system has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def recurrent_thread_settings(cores: int) -> dict[str, str]:
    """TensorFlow thread settings for training recurrent models on `cores` CPU cores.

    A recurrent step is a chain of small matrix products: splitting each one across cores
    (intra-op parallelism) costs more in synchronisation than it saves, while running
    independent ops side by side (inter-op) pays. In whole-epoch runs on 2 cores (clothing
    reviews, batch 32) against 2 threads in both pools: GRU (256) 150 -> 322 samples/s,
    LSTM (64, 128) 277-296 -> 348-370; this shared machine varies a lot between runs, so
    BENCHMARKS.md holds the benchmark's own figures.

    Args:
        cores: CPU cores the process may use (>= 1).

    Returns:
        Environment variables to set before TensorFlow starts its runtime.
    """
    cores = max(1, int(cores))
    return {INTRA_OP: "1", INTER_OP: str(cores), "OMP_NUM_THREADS": "1"}


def use_recurrent_thread_settings() -> None:
    """Apply `recurrent_thread_settings` to this process, keeping any value the user set.

    TensorFlow reads these variables when its runtime starts, at its first operation, so
    call this before TensorFlow runs anything (before importing keras or tensorflow is
    safest); later it changes nothing (no other backend reads them). Importing the `tuning`
    package calls it, so the `rnnsweep` command always trains this way.
    """
    for key, value in recurrent_thread_settings(available_cores()).items():
        os.environ.setdefault(key, value)
