"""The trials table: every trial of every architecture as one plain table (CSV and JSON)."""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd

from rnnsweep.data_prep.errors import InputError
from rnnsweep.data_prep.files import write_atomically
from rnnsweep.data_prep.layout import ENQUEUED, RunLayout, failed_architectures
from rnnsweep.models import objective as objectives

logger = logging.getLogger(__name__)

DURATION_FILE = "rnnsweep_duration.json"
# Why a trial failed, written by the process that ran it: keras-tuner's trial proto has no
# message field, so a worker's reason never reached the chief's trial.json.
FAILURE_FILE = "rnnsweep_failure.json"
CURVE_FILE = "rnnsweep_curve.json"  # written by tuning.stopping.MedianStopping
# Each time the chief took the trial back from a silent worker (tuning.leases).
LEASE_FILE = "rnnsweep_leases.json"
ENDED = ("COMPLETED", "FAILED", "INVALID")


def trial_files(project_dir: Path) -> list[dict]:
    """The `trial.json` of every trial of a keras-tuner project folder, by trial id."""
    return [json.loads(path.read_text()) for path in sorted(Path(project_dir).glob("trial_*/trial.json"))]


def finished_trials(project_dir: Path) -> int:
    """Trials of a project that ended (completed, failed or invalid)."""
    return sum(trial["status"] in ENDED for trial in trial_files(project_dir))


def completed_scores(project_dir: Path) -> list[float]:
    """Objective values of a project's completed trials."""
    return [t["score"] for t in trial_files(project_dir) if t["status"] == "COMPLETED" and t["score"] is not None]


def failure_limit_error(limit: int, last_message: str | None) -> InputError:
    """The one-line error of a sweep stopped by `limit` failed trials in a row, in every mode."""
    lines = [line for line in (last_message or "").strip().splitlines() if line.strip()]
    reason = lines[-1].strip()[:200] if lines else "no message"
    return InputError(
        f"sweep stopped: {limit} trials failed in a row (last: {reason}); "
        "see trials.csv, fix the search space, or raise max_consecutive_failures"
    )


def saved_failure_limit_error(run_dir: Path, architectures, limit: int) -> InputError | None:
    """`failure_limit_error` for the first architecture whose saved oracle ends on `limit`
    failed trials in a row (what a chief stopped by the limit left), else None."""
    for architecture in architectures:
        project = RunLayout(run_dir).project(architecture.name)
        oracle = project / "oracle.json"
        if not oracle.is_file():
            continue
        trials = {trial["trial_id"]: trial for trial in trial_files(project)}
        in_a_row, last = 0, None
        for trial_id in json.loads(oracle.read_text()).get("end_order", []):
            trial = trials.get(trial_id, {})
            in_a_row, last = (in_a_row + 1, trial) if trial.get("status") == "FAILED" else (0, None)
        if in_a_row >= limit:
            return failure_limit_error(limit, failure_reason(project / f"trial_{last['trial_id']}", last))
    return None


def record_duration(trial_dir: Path, seconds: float, backend: str) -> None:
    """Save one trial's wall time and Keras backend beside its files (keras-tuner keeps
    neither); one file per trial, so workers of a distributed sweep never write the same file."""
    trial_dir = Path(trial_dir)
    trial_dir.mkdir(parents=True, exist_ok=True)
    record = {"seconds": round(seconds, 3), "backend": backend, "ended_at": round(time.time(), 3)}
    write_atomically(trial_dir / DURATION_FILE, json.dumps(record))


def record_failure(trial_dir: Path, reason: str) -> None:
    """Save why one trial failed beside its files (see `FAILURE_FILE`)."""
    trial_dir = Path(trial_dir)
    trial_dir.mkdir(parents=True, exist_ok=True)
    write_atomically(trial_dir / FAILURE_FILE, json.dumps({"reason": reason}))


def record_lease_expiry(trial_dir: Path, tuner_id: str, silent_s: float) -> None:
    """Add one lease expiry (the worker, how long it was silent) to the trial's `LEASE_FILE`."""
    trial_dir = Path(trial_dir)
    trial_dir.mkdir(parents=True, exist_ok=True)
    expiries = lease_expiries(trial_dir)
    expiries.append({"worker": tuner_id, "silent_s": round(silent_s, 1)})
    write_atomically(trial_dir / LEASE_FILE, json.dumps(expiries))


def lease_expiries(trial_dir: Path) -> list[dict]:
    """The trial's lease expiries, oldest first (empty when none)."""
    path = Path(trial_dir) / LEASE_FILE
    return json.loads(path.read_text()) if path.is_file() else []


def failure_reason(trial_dir: Path, trial: dict) -> str:
    """The last line of why a trial failed: keras-tuner's message, else the one rnnsweep saved."""
    path = Path(trial_dir) / FAILURE_FILE
    return _last_line(trial.get("message")) or (json.loads(path.read_text())["reason"] if path.is_file() else "")


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
    for trial in trial_files(project_dir):
        folder = Path(project_dir) / f"trial_{trial['trial_id']}"
        duration = json.loads((folder / DURATION_FILE).read_text()) if (folder / DURATION_FILE).is_file() else {}
        metrics = trial.get("metrics", {}).get("metrics", {})
        curve = read_curve(folder) or {}
        row = {
            "architecture": architecture,
            "trial_id": trial["trial_id"],
            "status": trial["status"],
            "objective_name": objective,
            "objective": _finite(trial.get("score")),
            "best_epoch": trial.get("best_step"),
            "duration_s": duration.get("seconds"),
            "backend": duration.get("backend"),
            "reason": failure_reason(folder, trial) if trial["status"] != "COMPLETED" else "",
            "epochs_trained": len(curve["values"]) if curve else None,
            "stopped_at_epoch": curve.get("stopped_at_epoch"),
            "lease_expiries": len(lease_expiries(folder)),
            "ended_at": duration.get("ended_at"),
            "enqueued": json.loads((folder / ENQUEUED).read_text())["source"] if (folder / ENQUEUED).is_file() else "",
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
    RUNNING...), `objective_name`, `objective`, `best_epoch`, `duration_s`, `backend`
    (the Keras backend that trained it), `reason`
    (why a trial did not complete), `epochs_trained`, `stopped_at_epoch` (the epoch
    after which median stopping ended the trial, else empty), `lease_expiries` (times
    the chief took the trial back from a silent worker and gave it to another), `ended_at`
    (when it ended, seconds since the epoch; empty for trials of earlier releases),
    `enqueued` (where a queued trial's values came from, else empty), `hp_<name>` per
    hyperparameter and `history_<metric>` (the validation values keras-tuner kept, as
    JSON lists).
    """
    rows = []
    for architecture in architectures:
        name = getattr(architecture, "name", architecture)
        rows.extend(read_project(RunLayout(run_dir).project(name), name, objective))
    return pd.DataFrame(rows)


def write_trials(run_dir: Path, table: pd.DataFrame) -> None:
    """Save the table as `trials.csv` and `trials.json` (records), each atomically."""
    layout = RunLayout(run_dir)
    write_atomically(layout.trials_csv, table.to_csv(index=False))
    write_atomically(layout.trials_json, table.to_json(orient="records", indent=1))


def best_trials(table: pd.DataFrame, *, objective: str, top: int = 0) -> pd.DataFrame:
    """Best completed trials by their search score: one per architecture (top=0) or the
    `top` best overall, best first."""
    if table.empty:  # no trial started (a time budget spent before the first): no columns either
        return table
    completed = table[table["status"] == "COMPLETED"].copy()
    completed = completed[np.isfinite(completed["objective"].astype(float))]
    completed = completed.sort_values("objective", ascending=objectives.direction(objective) == "min")
    if top:
        return completed.head(top)
    return completed.groupby("architecture", sort=False).head(1)


def write_time_budget(run_dir: Path, seconds: float | None, architectures: list[str], cut: list[str]) -> None:
    """Save the search's time budget (None: none), its architectures and those the budget
    cut, which `layout.read_time_budget`, the leaderboard and the report read."""
    record = {"time_budget_s": seconds, "architectures": architectures, "cut_architectures": cut}
    write_atomically(RunLayout(run_dir).time_budget, json.dumps(record, indent=1))


def log_leaderboard(table: pd.DataFrame, objective: str, *, cut: str = "") -> None:
    """Log the best trial of each architecture, what the time budget cut (`time_cut_line`),
    then one warning per architecture with no completed trial."""
    best = best_trials(table, objective=objective)
    if best.empty:
        logger.info("no trial completed")
    else:
        logger.info("leaderboard (best trial per architecture, %s):", objective)
        for rank, row in enumerate(best.itertuples(), start=1):
            logger.info("  %d. %-12s %.4f  (trial %s)", rank, row.architecture, row.objective, row.trial_id)
    if cut:
        logger.info("%s", cut)
    for architecture, reason in failed_architectures(table).items():
        logger.warning("%s: no trial completed (last reason: %s); see trials.csv", architecture, reason or "none given")
