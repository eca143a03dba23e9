"""The devices a sweep trains on: GPUs the Keras backend sees, and several GPUs for one trial."""

from __future__ import annotations

import logging
import subprocess
import sys

import keras

from rnnsweep.data_prep.errors import InputError

logger = logging.getLogger(__name__)


def visible_gpus() -> int:
    """How many GPUs the Keras backend sees (0 without a driver or a GPU build)."""
    backend = keras.backend.backend()
    if backend == "jax":
        # Asked in a child process: JAX claims most of a GPU's memory as soon as it looks
        # at it, and this process may only launch the workers.
        count = "import jax; print(sum(d.platform == 'gpu' for d in jax.devices()))"
        result = subprocess.run([sys.executable, "-c", count], capture_output=True, text=True, timeout=120)
        if result.returncode != 0 or not result.stdout.split():
            reason = (result.stderr.strip().splitlines() or ["no output"])[-1]
            logger.warning("JAX could not list its devices (%s); training on the CPU", reason)
            return 0
        return int(result.stdout.split()[-1])
    if backend == "torch":
        import torch

        return torch.cuda.device_count()
    import tensorflow as tf

    return len(tf.config.list_physical_devices("GPU"))


def training_device() -> str:
    """The device Keras trains on, in words ("GPU (tensorflow): ..." or "CPU (...)")."""
    backend = keras.backend.backend()
    gpus: list = []
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
    elif backend == "jax":
        import jax

        gpus = [str(d) for d in jax.devices() if d.platform == "gpu"]
    elif backend == "torch":
        import torch

        gpus = [torch.cuda.get_device_name(0)] if torch.cuda.is_available() else []
    return f"GPU ({backend}): {gpus[0]}" if gpus else f"CPU ({backend})"


def mirrored_strategy():
    """TensorFlow's `MirroredStrategy` over every visible GPU (for `multi_gpu`).

    Raises:
        InputError: Not the TensorFlow backend, or fewer than two GPUs.
    """
    if keras.backend.backend() != "tensorflow":
        raise InputError(f"multi_gpu needs the TensorFlow backend. Received: KERAS_BACKEND={keras.backend.backend()!r}")
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if len(gpus) < 2:
        raise InputError(f"multi_gpu needs two or more GPUs; {len(gpus)} visible. Turn multi_gpu off")
    return tf.distribute.MirroredStrategy()
