"""Sweeps over recurrent architectures with keras-tuner: search, retrain, evaluate, export."""

import os

from tuning.threads import use_recurrent_thread_settings

# TensorFlow's C++ start-up chatter (CUDA probes, CPU flags) hides rnnsweep's own output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# TensorFlow reads its thread settings when its runtime starts (at its first operation);
# importing `tuning` first (as the `rnnsweep` command does) gives training the faster
# recurrent settings by default.
use_recurrent_thread_settings()
