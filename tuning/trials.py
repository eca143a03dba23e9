"""The trials table: every trial of every architecture as one plain table (CSV and JSON)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from data_prep.errors import InputError
from data_prep.files import write_atomically

DURATION_FILE = "rnnsweep_duration.json"
CURVE_FILE = "rnnsweep_curve.json"  # written by tuning.stopping.MedianStopping


def record_duration(trial_dir: Path, seconds: float) -> None:
    """Save one trial's wall time beside its files (keras-tuner keeps none); one file per
    trial, so workers of a distributed sweep never write the same file."""
    trial_dir = Path(trial_dir)
    trial_dir.mkdir(parents=True, exist_ok=True)
    write_atomically(trial_dir / DURATION_FILE, json.dumps({"seconds": round(seconds, 3)}))


def read_curve(trial_dir: Path) -> dict | None:
    """A trial's saved learning curve: {"objective", "values" (one per epoch), "stopped_at_epoch"}."""
    path = Path(trial_dir) / CURVE_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def _last_line(message: str | None) -> str:
    lines = [line for line in (message or "").strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def _finite(value):
    return value if value is not None and math.isfinite(value) else None


def read_project(project_dir: Path, architecture: str, objective: str) -> list[dict]:
    """One row per trial of a keras-tuner project folder, read from its `trial.json` files."""
    rows = []
    for path in sorted(Path(project_dir).glob("trial_*/trial.json")):
        trial = json.loads(path.read_text())
        duration = path.parent / DURATION_FILE
        metrics = trial.get("metrics", {}).get("metrics", {})
        curve = read_curve(path.parent) or {}
        row = {
            "architecture": architecture,
            "trial_id": trial["trial_id"],
            "status": trial["status"],
            "objective_name": objective,
            "objective": _finite(trial.get("score")),
            "best_epoch": trial.get("best_step"),
            "duration_s": json.loads(duration.read_text())["seconds"] if duration.is_file() else None,
            "reason": _last_line(trial.get("message")) if trial["status"] != "COMPLETED" else "",
            "epochs_trained": len(curve["values"]) if curve else None,
            "stopped_at_epoch": curve.get("stopped_at_epoch"),
        }
        for name, value in trial["hyperparameters"]["values"].items():
            row[f"hp_{name}"] = value
        for name, record in metrics.items():
            if name.startswith("val_"):
                history = [_finite(obs["value"][0]) for obs in record.get("observations", [])]
                row[f"history_{name}"] = json.dumps(history)
        rows.append(row)
    return rows


def collect_trials(run_dir: Path, architectures, objective: str) -> pd.DataFrame:
    """The trials table of a run's sweep.

    Columns: `architecture`, `trial_id`, `status` (COMPLETED, FAILED, INVALID,
    RUNNING...), `objective_name`, `objective`, `best_epoch`, `duration_s`, `reason`
    (why a trial did not complete), `epochs_trained`, `stopped_at_epoch` (the epoch
    after which median stopping ended the trial, else empty), `hp_<name>` per
    hyperparameter and `history_<metric>` (the validation values keras-tuner kept, as
    JSON lists).
    """
    rows = []
    for architecture in architectures:
        name = getattr(architecture, "name", architecture)
        rows.extend(read_project(Path(run_dir) / "search" / name, name, objective))
    return pd.DataFrame(rows)


def write_trials(run_dir: Path, table: pd.DataFrame) -> None:
    """Save the table as `trials.csv` and `trials.json` (records), each atomically."""
    write_atomically(Path(run_dir) / "trials.csv", table.to_csv(index=False))
    write_atomically(Path(run_dir) / "trials.json", table.to_json(orient="records", indent=1))


def read_trials(run_dir: Path) -> pd.DataFrame:
    """Read `trials.csv`.

    Raises:
        InputError: The run has no trials table yet.
    """
    path = Path(run_dir) / "trials.csv"
    if not path.is_file():
        raise InputError(f"{path}: no trials table; run `rnnsweep tune {run_dir}` first")
    return pd.read_csv(path, keep_default_na=False, na_values=[""])
