"""Keras backends: sweeps train under JAX as under TensorFlow (in a subprocess, JAX's own)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pandas as pd
import pytest
from conftest import make_reviews, write_csv

from rnnsweep.models import ARCHITECTURES

HAS_JAX = importlib.util.find_spec("jax") is not None


@pytest.mark.skipif(not HAS_JAX and not os.environ.get("CI"), reason='JAX not installed: pip install -e ".[test]"')
def test_every_architecture_sweeps_under_jax(tmp_path):
    """Under CI (whose test extra installs JAX) a missing JAX fails the test instead of skipping it.

    Before: every gru trial FAILED under JAX (the mask-skipping branches of unequal shapes) and
    the run still exited 0."""
    assert HAS_JAX, 'CI runs the JAX tests: the test extra installs jax[cpu] (pip install -e ".[test]")'
    data = write_csv(tmp_path / "reviews.csv", make_reviews(200))
    command = [sys.executable, "-m", "rnnsweep", "tune", "--data", str(data), "--preset", "womens-clothing"]
    command += ["--architectures", ",".join(ARCHITECTURES), "--max-trials", "1", "--epochs", "2"]
    command += ["--embeddings", "learned", "--workers", "1", "--output", str(tmp_path / "run")]
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    trials = pd.read_csv(tmp_path / "run" / "trials.csv")
    assert sorted(trials["architecture"]) == sorted(ARCHITECTURES)
    assert (trials["status"] == "COMPLETED").all(), trials[["architecture", "status", "reason"]]
    assert (trials["backend"] == "jax").all()
