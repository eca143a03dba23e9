"""Shared fixtures: fixed seeds, tiny review files, a finished tiny run, the shared real data."""

from __future__ import annotations

import csv
import getpass
import os
import random
import tempfile
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# The backend this session was asked for (the README's second pass sets KERAS_BACKEND=jax),
# read before any fixture or stage can change the variable.
REQUESTED_BACKEND = os.environ.get("KERAS_BACKEND", "tensorflow")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

POSITIVE = "great lovely perfect comfortable soft beautiful happy recommend flattering gorgeous".split()
NEGATIVE = "bad awful cheap tight ugly returned poor disappointed scratchy terrible".split()
NEUTRAL = "okay fine average decent usual plain simple standard ordinary alright".split()
FILLER = "the dress shirt fabric color size fit order wear this it was and very".split()


def pytest_configure(config):
    """Downloads (GloVe, the default dataset) go to a cache of the tests' own, never the user's
    `~/.cache/rnnsweep`: beside pytest's own temporary folders, so later sessions reuse it. Set
    before collection, so the environments the test modules copy for their commands have it too."""
    folder = Path(tempfile.gettempdir()) / f"pytest-of-{getpass.getuser()}" / "rnnsweep-cache"
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["RNNSWEEP_CACHE"] = str(folder)
    # No one watches the tests' sweeps: no live report pages (a process each), except where a
    # test turns them on to check them (tests/test_continue.py).
    os.environ["RNNSWEEP_LIVE_REPORT"] = "0"


@pytest.fixture(autouse=True)
def fixed_seeds():
    """Every test starts from the same seeds."""
    import keras

    random.seed(0)
    np.random.seed(0)
    keras.utils.set_random_seed(0)


def make_reviews(n: int = 300, seed: int = 0) -> list[dict]:
    """Rows of a clothing-like review file whose words depend on the 1-5 rating."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        rating = rng.choice([1, 2, 3, 4, 5])
        pool = NEGATIVE if rating <= 2 else NEUTRAL if rating == 3 else POSITIVE
        words = [rng.choice(pool if rng.random() < 0.45 else FILLER) for _ in range(rng.randint(4, 20))]
        rows.append({"Title": "", "Review Text": " ".join(words), "Rating": rating})
    return rows


def write_csv(path: Path, rows: list[dict], delimiter: str = ",") -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture
def tiny_csv(tmp_path) -> Path:
    """A 300-row clothing-style CSV (Title, Review Text, Rating 1-5)."""
    return write_csv(tmp_path / "reviews.csv", make_reviews())


TINY_OVERRIDES = {
    "data": {"preset": "womens-clothing"},
    "search": {"max_trials": 1, "epochs": 1, "space": {"units": [8], "learning_rate": [1e-2]}},
    "retrain": {"epochs": 2, "patience": 1},
}


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A finished run (data, 2-architecture sweep, retrain, baselines, report) on tiny data."""
    from rnnsweep.tuning.config import load_config
    from rnnsweep.tuning.pipeline import run_all

    folder = tmp_path_factory.mktemp("tiny_run")
    data = write_csv(folder / "reviews.csv", make_reviews())
    overrides = {
        "data": {**TINY_OVERRIDES["data"], "path": str(data)},
        "search": {**TINY_OVERRIDES["search"], "architectures": ["simple_rnn", "gru1"]},
        "retrain": TINY_OVERRIDES["retrain"],
    }
    run_dir = folder / "run"
    run_all(load_config(None, overrides), run_dir)
    return run_dir


@pytest.fixture
def shared_data() -> Path:
    """The real review data beside the checkout; skips when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA}")
    return SHARED_DATA


def interrupt_inside_fit(patch: pytest.MonkeyPatch, *, disguise: bool) -> None:
    """Make every `keras.Model.fit` receive Ctrl-C first, which a library then hides: raised
    again as the TypeError TensorFlow's C++ tensor conversion gives (`disguise`), or swallowed."""
    import signal

    import keras

    original = keras.Model.fit

    def interrupted(model, *args, **kwargs):
        try:
            signal.raise_signal(signal.SIGINT)
        except KeyboardInterrupt:
            if disguise:
                raise TypeError("Failed to convert elements of (None,) to Tensor.") from None
        return original(model, *args, **kwargs)

    patch.setattr(keras.Model, "fit", interrupted)
