"""CPU thread pools sized for recurrent training: one thread per op, one op per core."""

from __future__ import annotations

import os

INTRA_OP = "TF_NUM_INTRAOP_THREADS"
INTER_OP = "TF_NUM_INTEROP_THREADS"
OPENMP = "OMP_NUM_THREADS"

# Variables that `configure_threads` filled in (absent before), as opposed to the user's own.
_defaulted: set[str] = set()


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the system has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def recurrent_thread_settings(cores: int) -> dict[str, str]:
    """Thread settings for training recurrent models on `cores` CPU cores.

    A recurrent step is a chain of small matrix products: splitting each one across cores
    (intra-op parallelism) costs more in synchronisation than it saves, while running
    independent ops side by side (inter-op) pays. In whole-epoch runs on 2 cores (clothing
    reviews, batch 32) against 2 threads in both pools: GRU (256) 150 -> 322 samples/s,
    LSTM (64, 128) 277-296 -> 348-370; this shared machine varies a lot between runs, so
    BENCHMARKS.md holds the benchmark's own figures. OpenMP pools (numpy's BLAS and other
    native libraries) get one thread, so parallel workers keep to their own share of cores.

    Args:
        cores: CPU cores the process may use (>= 1).

    Returns:
        Environment variables to set before TensorFlow starts its runtime.
    """
    cores = max(1, int(cores))
    return {INTRA_OP: "1", INTER_OP: str(cores), OPENMP: "1"}


def configure_threads(cores: int | None = None) -> dict[str, str]:
    """Apply `recurrent_thread_settings` to this process, keeping every value the user set.

    TensorFlow reads these variables when its runtime starts, at its first operation, so
    call this before TensorFlow runs anything (before importing keras or tensorflow is
    safest); later it changes nothing (no other backend reads them). The `rnnsweep` command
    calls it at start-up; importing rnnsweep never does. Worker processes started by a
    sweep get their share of the cores, and the user's own values there too.

    Args:
        cores: CPU cores to size the pools for (default None: `available_cores()`).

    Returns:
        The variables this call set (those the user had not set).
    """
    applied = {}
    for key, value in recurrent_thread_settings(cores or available_cores()).items():
        if key not in os.environ:
            os.environ[key] = value
            _defaulted.add(key)
            applied[key] = value
    return applied


def user_thread_settings() -> dict[str, str]:
    """The thread variables the user set themselves (not filled in by `configure_threads`)."""
    keys = (INTRA_OP, INTER_OP, OPENMP)
    return {key: os.environ[key] for key in keys if key in os.environ and key not in _defaulted}
