"""The Keras backend that sweeps and retraining train on, chosen before Keras is imported."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from rnnsweep.data_prep.errors import InputError

BACKENDS = ("auto", "tensorflow", "jax")

# The backend `bench/throughput.py --backends tensorflow,jax` measured faster on CPU, per
# architecture, in rnnsweep's own pipeline (BENCHMARKS.md: 2 cores, clothing reviews, 3 runs
# of 3 epochs per side): TensorFlow for both. JAX's later epochs were level (LSTM 2,076
# samples/s against 2,044; GRU 1,524 against 1,706), but it compiles one program per batch
# shape for every new model, 15-22 s per trial here, so whole trials ran at about half
# TensorFlow's speed. An architecture not listed was not measured and keeps TensorFlow.
FASTER_ON_CPU: dict[str, str] = {"lstm": "tensorflow", "gru1": "tensorflow"}


def installed(backend: str) -> bool:
    """Whether the backend's library can be imported."""
    return importlib.util.find_spec(backend) is not None


def resolve_backend(choice: str, architectures: list[str]) -> str:
    """The backend a sweep of `architectures` trains on.

    "auto" keeps a `KERAS_BACKEND` the user set; otherwise JAX when it is installed, no GPU is
    visible (GPUs were not measured: TensorFlow there) and `FASTER_ON_CPU` names JAX for every
    architecture of the sweep; else TensorFlow.

    Raises:
        InputError: An unknown choice, or "jax" without JAX installed.
    """
    if choice not in BACKENDS:
        raise InputError(f"Expected one of {list(BACKENDS)}. Received: backend={choice!r}")
    if choice == "jax" and not installed("jax"):
        raise InputError('backend "jax" needs JAX: pip install -e ".[jax]" (or jax[cpu]), or pick "tensorflow"')
    if choice != "auto":
        return choice
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    faster = {FASTER_ON_CPU.get(name, "tensorflow") for name in architectures}
    if faster == {"jax"} and installed("jax") and not _gpu_visible():
        return "jax"
    return "tensorflow"


def _gpu_visible() -> bool:
    # Without importing a framework: the NVIDIA driver lists its GPUs here on Linux.
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    return os.path.isdir("/proc/driver/nvidia/gpus") and bool(os.listdir("/proc/driver/nvidia/gpus"))


# JAX compiles one program per model and batch shape; its persistent cache keeps them on disk, so
# a trial's retraining, a resumed run and another worker training the same configuration and
# shapes load them instead of compiling again. Generated output: under the user's cache folder.
JAX_CACHE_ENV = "JAX_COMPILATION_CACHE_DIR"


def jax_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "rnnsweep" / "jax-compilation"


def use_backend(backend: str) -> None:
    """Make Keras start on `backend` in this process and the processes it starts; under JAX,
    with JAX's persistent compilation cache on (`jax_cache_dir()`, unless the user set
    `JAX_COMPILATION_CACHE_DIR`).

    Raises:
        InputError: Keras was already imported on another backend (set `KERAS_BACKEND`
            before importing keras, or pick that backend).
    """
    if "keras" in sys.modules:
        current = sys.modules["keras"].backend.backend()
        if current != backend:
            raise InputError(
                f"Keras is already running on {current}, not {backend}: set KERAS_BACKEND={backend} before "
                f"importing keras, or pass backend={current!r}"
            )
        return
    os.environ["KERAS_BACKEND"] = backend
    if backend == "jax":
        os.environ.setdefault(JAX_CACHE_ENV, str(jax_cache_dir()))
