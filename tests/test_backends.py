"""Keras backends: sweeps train under JAX as under TensorFlow (in a subprocess, JAX's own)."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import make_reviews, write_csv

from rnnsweep.models import ARCHITECTURES

HAS_JAX = importlib.util.find_spec("jax") is not None
needs_jax = pytest.mark.skipif(
    not HAS_JAX and not os.environ.get("CI"), reason='JAX not installed: pip install -e ".[test]"'
)


@pytest.mark.slow
@needs_jax
def test_every_architecture_sweeps_under_jax(tmp_path):
    """Under CI (whose test extra installs JAX) a missing JAX fails the test instead of skipping it.

    Before: every gru trial FAILED under JAX (the mask-skipping branches of unequal shapes) and
    the run still exited 0."""
    assert HAS_JAX, 'CI runs the JAX tests: the test extra installs jax[cpu] (pip install -e ".[test]")'
    data = write_csv(tmp_path / "reviews.csv", make_reviews(200))
    command = [sys.executable, "-m", "rnnsweep", "tune", "--data", str(data), "--preset", "womens-clothing"]
    command += ["--architectures", ",".join(ARCHITECTURES), "--max-trials", "1", "--epochs", "2"]
    # Two workers: each architecture's first trial is mostly JAX's compile, done on both cores at once.
    command += ["--embeddings", "learned", "--workers", "2", "--output", str(tmp_path / "run"), "--backend", "jax"]
    env = {key: value for key, value in os.environ.items() if key != "KERAS_BACKEND"} | {"TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    trials = pd.read_csv(tmp_path / "run" / "trials.csv")
    assert sorted(trials["architecture"]) == sorted(ARCHITECTURES)
    assert (trials["status"] == "COMPLETED").all(), trials[["architecture", "status", "reason"]]
    assert (trials["backend"] == "jax").all()


@pytest.mark.slow
@needs_jax
def test_a_run_under_jax_exports_a_tensorflow_model_with_equal_probabilities(tmp_path):
    """Retraining under JAX; the raw-text export is built in a TensorFlow process from the same
    weights and gives the JAX-trained model's probabilities on every test row."""
    import tensorflow as tf

    from rnnsweep.tuning.export import load_text_model

    assert HAS_JAX, 'CI runs the JAX tests: the test extra installs jax[cpu] (pip install -e ".[test]")'
    data = write_csv(tmp_path / "reviews.csv", make_reviews(200))
    command = [sys.executable, "-m", "rnnsweep", "run", "--data", str(data), "--preset", "womens-clothing"]
    command += ["--architectures", "gru1", "--max-trials", "1", "--epochs", "1", "--retrain-epochs", "2"]
    command += ["--embeddings", "learned", "--workers", "1", "--output", str(tmp_path / "run")]
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    model_dir = tmp_path / "run" / "models" / "gru1"
    assert json.loads((model_dir / "metrics.json").read_text())["backend"] == "jax"

    rows = pd.read_csv(tmp_path / "run" / "data" / "rows.csv", keep_default_na=False)
    saved = pd.read_csv(model_dir / "predictions.csv")  # the JAX-trained model's, at full precision
    test = saved[saved["split"] == "test"]
    assert len(test) == (rows["split"] == "test").sum()
    texts = rows.set_index("row_id").loc[test["row_id"], "text"].tolist()
    exported = np.asarray(load_text_model(model_dir / "export.keras").predict(tf.constant(texts), verbose=0))
    jax_trained = test[[column for column in test.columns if column.startswith("p_")]].to_numpy()
    np.testing.assert_allclose(exported, jax_trained, atol=1e-5, rtol=0)

    # With KERAS_BACKEND=jax still set, `rnnsweep predict` runs the export on TensorFlow...
    export = str(model_dir / "export.keras")
    predicted = subprocess.run(
        [sys.executable, "-m", "rnnsweep", "predict", export, *texts[:3]], capture_output=True, text=True, env=env
    )
    assert predicted.returncode == 0, predicted.stderr[-2000:]
    from_cli = pd.read_csv(io.StringIO(predicted.stdout)).filter(like="p_").to_numpy()
    np.testing.assert_allclose(from_cli, exported[:3], atol=1e-5, rtol=0)
    # ...and loading it in a process whose Keras runs on JAX says what to do.
    script = f"from rnnsweep.tuning.export import load_text_model; load_text_model({export!r})"
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert loaded.returncode == 1 and "InputError" in loaded.stderr
    assert "Keras is running on jax: load it in a process started with KERAS_BACKEND=tensorflow" in loaded.stderr


def test_backend_choice(monkeypatch):
    from rnnsweep.data_prep.errors import InputError
    from rnnsweep.tuning import backends

    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    assert backends.resolve_backend("tensorflow", ["lstm"]) == "tensorflow"
    monkeypatch.setattr(backends, "FASTER_ON_CPU", {"lstm": "jax", "gru1": "tensorflow"})
    monkeypatch.setattr(backends, "_gpu_visible", lambda: False)
    monkeypatch.setattr(backends, "installed", lambda name: True)
    assert backends.resolve_backend("auto", ["lstm"]) == "jax"  # measured faster for every architecture
    assert backends.resolve_backend("auto", ["lstm", "gru1"]) == "tensorflow"
    assert backends.resolve_backend("auto", ["lstm", "bilstm"]) == "tensorflow"  # bilstm not measured
    monkeypatch.setattr(backends, "_gpu_visible", lambda: True)
    assert backends.resolve_backend("auto", ["lstm"]) == "tensorflow"  # GPUs not measured
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    assert backends.resolve_backend("auto", ["gru1"]) == "jax"  # the user's choice stands
    monkeypatch.setattr(backends, "installed", lambda name: False)
    with pytest.raises(InputError, match=r'backend "jax" needs JAX: pip install'):
        backends.resolve_backend("jax", ["lstm"])
    with pytest.raises(InputError, match=r"Received: backend='torch'"):
        backends.resolve_backend("torch", ["lstm"])
    # This process runs Keras on TensorFlow already: asking for JAX says how to get it.
    import keras

    assert keras.backend.backend() == "tensorflow"
    with pytest.raises(InputError, match="set KERAS_BACKEND=jax before importing keras"):
        backends.use_backend("jax")
    backends.use_backend("tensorflow")  # the one running: nothing to do


def test_jax_starts_with_its_persistent_compilation_cache(tmp_path):
    code = (
        "import os, sys; from rnnsweep.tuning.backends import use_backend; use_backend('jax');"
        "assert 'keras' not in sys.modules;"
        "print(os.environ['KERAS_BACKEND'], os.environ['JAX_COMPILATION_CACHE_DIR'])"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KERAS_BACKEND", "JAX_"))}
    env["XDG_CACHE_HOME"] = str(tmp_path)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["jax", str(tmp_path / "rnnsweep" / "jax-compilation")]
    env["JAX_COMPILATION_CACHE_DIR"] = str(tmp_path / "mine")  # the user's own stays
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["jax", str(tmp_path / "mine")]
