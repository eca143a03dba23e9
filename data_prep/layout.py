"""A run directory: where each stage's output lives (every name spelled here once) and its readers."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd

from rnnsweep.data_prep.errors import InputError

# Inside data/ (the data stage), models/<name>/ (retraining) and report/.
DATA_FILES = ("rows.csv", "splits.json", "vocabulary.json", "arrays.npz", "summary.json")
EMBEDDING_MATRIX = "embedding_matrix.npy"
WORD2VEC_VECTORS = "word2vec.bin"
METRICS = "metrics.json"
HISTORY = "history.json"
PREDICTIONS = "predictions.csv"
MODEL = "model.keras"
EXPORT = "export.keras"
REPORT_INDEX = "index.html"
# Inside a trial's folder: where a queued trial's values came from (`tuning.tuners`).
ENQUEUED = "rnnsweep_enqueued.json"


@dataclasses.dataclass(frozen=True)
class RunLayout:
    """The paths of one run directory (see the README's "The run directory").

    Args:
        root: The run directory.
    """

    root: Path

    def __post_init__(self):
        object.__setattr__(self, "root", Path(self.root))

    @property
    def config(self) -> Path:
        return self.root / "config.toml"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def summary(self) -> Path:
        return self.data / "summary.json"

    @property
    def search(self) -> Path:
        return self.root / "search"

    def project(self, architecture: str) -> Path:
        """One architecture's keras-tuner project folder."""
        return self.search / architecture

    @property
    def queue(self) -> Path:
        """Hyperparameter sets each architecture tries first (`--enqueue`, `--warm-start`)."""
        return self.search / "rnnsweep_queue.json"

    @property
    def time_budget(self) -> Path:
        """The last search's time budget and the architectures it cut (see `tuning.trials`)."""
        return self.search / "rnnsweep_time_budget.json"

    @property
    def trials_csv(self) -> Path:
        return self.root / "trials.csv"

    @property
    def trials_json(self) -> Path:
        return self.root / "trials.json"

    @property
    def models(self) -> Path:
        return self.root / "models"

    def model(self, name: str) -> Path:
        """One retrained model's folder."""
        return self.models / name

    @property
    def baselines(self) -> Path:
        return self.root / "baselines"

    @property
    def baseline_metrics(self) -> Path:
        return self.baselines / METRICS

    @property
    def leaderboard(self) -> Path:
        """Models and baselines ranked on validation, the verdict (written by retraining)."""
        return self.root / "leaderboard.json"

    @property
    def timings(self) -> Path:
        """Wall seconds of each stage (`tuning.pipeline`); the search's summed over its commands."""
        return self.root / "timings.json"

    @property
    def report(self) -> Path:
        return self.root / "report"

    @property
    def report_index(self) -> Path:
        return self.report / REPORT_INDEX

    @property
    def logs(self) -> Path:
        """What the libraries print (TensorFlow's start-up, keras-tuner's tables), per command and process."""
        return self.root / "logs"

    @property
    def tensorboard(self) -> Path:
        return self.root / "tensorboard"

    def generated(self) -> list[Path]:
        """Everything the stages write, which `--overwrite` removes."""
        return [
            self.data,
            self.search,
            self.models,
            self.baselines,
            self.report,
            self.tensorboard,
            self.logs,
            self.trials_csv,
            self.trials_json,
            self.leaderboard,
            self.timings,
            self.config,
        ]


def read_rows(run_dir: Path) -> pd.DataFrame:
    """`data/rows.csv`, texts as strings ("NA" and "null" are reviews too)."""
    path = RunLayout(run_dir).data / "rows.csv"
    return pd.read_csv(path, keep_default_na=False, dtype={"text": str, "clean_text": str})


def probability_columns(class_names) -> list[str]:
    """The columns of a predictions file holding each class's probability, in class order."""
    return [f"p_{name}" for name in class_names]


def with_probabilities(frame: pd.DataFrame, class_names, proba) -> pd.DataFrame:
    """`frame` with one probability column per class (`probability_columns`) from `proba`, shape (rows, classes)."""
    return frame.assign(**dict(zip(probability_columns(class_names), np.asarray(proba).T, strict=True)))


def read_probabilities(path: Path, class_names, **where) -> np.ndarray:
    """Probabilities from a predictions file (a model's or the baselines'), in file order, of
    the rows whose columns equal `where` (e.g. `split="test", baseline="tfidf_logreg"`)."""
    frame = pd.read_csv(path)
    for column, value in where.items():
        frame = frame[frame[column] == value]
    return frame[probability_columns(class_names)].to_numpy()


def read_trials(run_dir: Path) -> pd.DataFrame:
    """`trials.csv`: empty cells are missing values, text such as "NA" stays text.

    Raises:
        InputError: The run has no trials table yet.
    """
    path = RunLayout(run_dir).trials_csv
    if not path.is_file():
        raise InputError(f"{path}: no trials table; run `rnnsweep tune --output {run_dir}` first")
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


def failed_architectures(table: pd.DataFrame) -> dict[str, str]:
    """Architectures none of whose trials completed, with the last failed trial's reason."""
    if table.empty:
        return {}
    failed = {}
    for architecture, part in table.groupby("architecture", sort=False):
        if not (part["status"] == "COMPLETED").any():
            reasons = [r for r in part["reason"].tolist() if isinstance(r, str) and r]
            failed[architecture] = reasons[-1] if reasons else ""
    return failed


def read_time_budget(run_dir: Path) -> dict:
    """The last search's `tuning.trials.write_time_budget` record ({} before the first search ended)."""
    path = RunLayout(run_dir).time_budget
    return json.loads(path.read_text()) if path.is_file() else {}


def time_cut_line(table: pd.DataFrame, record: dict, max_trials: int) -> str:
    """One sentence saying the time budget cut the search and how many trials each
    architecture got ("" when it did not)."""
    if not record.get("cut_architectures"):
        return ""
    counts = table[table["status"] == "COMPLETED"].groupby("architecture").size() if not table.empty else {}
    got = ", ".join(f"{name} {int(counts.get(name, 0))}" for name in record["architectures"])
    return (
        f"the search was cut by its time budget ({record['time_budget_s']:g} s): no trial started after it; "
        f"completed trials of the {max_trials} wanted per architecture: {got}"
    )
