"""Sweeps over recurrent architectures with keras-tuner: search, retrain, evaluate, export."""

import os

# TensorFlow's C++ start-up chatter (CUDA probes, CPU flags) hides rnnsweep's own output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
