"""Runs side by side: the settings that differ, each one's chosen model, a paired test on shared test rows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from rnnsweep.data_prep import layout as files
from rnnsweep.data_prep.errors import InputError
from rnnsweep.data_prep.files import write_atomically
from rnnsweep.data_prep.layout import RunLayout, probability_columns, read_trials
from rnnsweep.data_prep.run_dir import require_run_dir
from rnnsweep.models import objective as objectives
from rnnsweep.tuning.config import read_saved_settings
from rnnsweep.tuning.evaluation import paired_difference

# Written first into a comparison's folder: a folder that holds files but not this one is
# not a comparison rnnsweep wrote, and is never written into.
MARKER = "comparison.json"


def _flat(settings: dict) -> dict[str, object]:
    """{"section.key": value}; tables inside a section ([search.space]) as one value."""
    return {f"{section}.{key}": value for section, values in settings.items() for key, value in values.items()}


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def _run_summary(run_dir: Path) -> dict:
    """What a comparison shows of one finished run."""
    layout = RunLayout(run_dir)
    board = _read_json(layout.leaderboard)
    if not board.get("best_rnn"):
        raise InputError(
            f"{run_dir}: no retrained model (no leaderboard.json with a chosen model); "
            f"finish the run first: rnnsweep run --output {run_dir}"
        )
    entries = {entry["name"]: entry for entry in board["entries"]}
    trials = read_trials(run_dir) if layout.trials_csv.is_file() else pd.DataFrame()
    return {
        "run_dir": str(run_dir),
        "settings": _flat(read_saved_settings(run_dir) or {}),
        "objective": board["objective"],
        "chosen": entries[board["best_rnn"]],
        "baseline": entries.get(board.get("best_baseline")),
        "timings": _read_json(layout.timings),
        "best_so_far": best_so_far_over_time(trials, board["objective"]),
    }


def best_so_far_over_time(trials: pd.DataFrame, objective: str) -> dict[str, list[float]]:
    """The sweep's best validation score after each completed trial, against wall seconds
    since the sweep's first trial started ({"seconds": [...], "best": [...]}).

    Trials record when they ended (`ended_at`); for a run of an earlier release, which did
    not, the trials' durations are summed in the order they ended instead.
    """
    if trials.empty:
        return {"seconds": [], "best": []}
    done = trials[trials["status"] == "COMPLETED"].copy()
    ended = pd.to_numeric(done.get("ended_at"), errors="coerce") if "ended_at" in done else None
    durations = pd.to_numeric(done["duration_s"], errors="coerce").fillna(0.0)
    if ended is not None and ended.notna().all() and len(done):
        seconds = ended - float((ended - durations).min())
    else:
        seconds = durations.cumsum()
    order = np.argsort(seconds.to_numpy(), kind="stable")
    scores = done["objective"].astype(float).to_numpy()[order]
    better = np.fmin.accumulate if objectives.direction(objective) == "min" else np.fmax.accumulate
    return {"seconds": [float(s) for s in seconds.to_numpy()[order]], "best": [float(b) for b in better(scores)]}


def _test_rows(run_dir: Path, model: str) -> tuple[pd.DataFrame, list[str]]:
    """The chosen model's test predictions, ordered by row id, and the run's class names."""
    classes = [str(name) for name in _read_json(RunLayout(run_dir).summary)["class_names"]]
    predictions = pd.read_csv(RunLayout(run_dir).model(model) / files.PREDICTIONS)
    test = predictions[predictions["split"] == "test"].sort_values("row_id").reset_index(drop=True)
    return test, classes


def _paired(first: dict, second: dict, *, resamples: int) -> dict | None:
    """The paired bootstrap of the difference between two runs' chosen models, or None when
    their test rows are not the same (other row ids, labels or classes)."""
    splits = [_read_json(RunLayout(run["run_dir"]).data / "splits.json").get("test") for run in (first, second)]
    if splits[0] is None or splits[0] != splits[1]:
        return None
    (a, classes), (b, other) = (_test_rows(Path(run["run_dir"]), run["chosen"]["name"]) for run in (first, second))
    if classes != other or not a["true"].equals(b["true"]) or not a["row_id"].equals(b["row_id"]):
        return None
    y_true = a["true"].astype(int).to_numpy()  # class indices into `classes`
    columns = probability_columns(classes)
    result = paired_difference(y_true, a[columns].to_numpy(), b[columns].to_numpy(), resamples=resamples)
    return {"rows": len(a), "metrics": result}


def compare_runs(run_dirs: list[str | Path], output: str | Path, *, resamples: int = 1000) -> Path:
    """Compare finished runs on one static HTML page with PNG figures.

    The page shows the settings that differ between the runs (and only those); per run its
    validation-chosen model, validation score, test figures with 95% intervals, best
    baseline and each stage's wall time; the run whose chosen model scored best on
    validation; for each other run whose test rows are the same rows (same saved row ids
    and labels), a paired bootstrap of the difference between the two chosen models,
    worded as the verdict is ("beats / is level with / is behind"); and every run's best
    validation score so far against wall time on one figure. Test figures are reported,
    never used to choose.

    Args:
        run_dirs: Two or more run directories, each retrained.
        output: Folder for `index.html`, the figures and `comparison.json` (made if absent;
            refused if it holds files and no `comparison.json`).
        resamples: Bootstrap resamples of the paired test (default 1000).

    Returns:
        Path of `index.html`.

    Raises:
        InputError: Fewer than two runs, a run that is not finished, the same run twice,
            or an output folder that is not a comparison rnnsweep wrote.
    """
    from rnnsweep.reports.compare import write_comparison_page

    run_dirs = [Path(run_dir) for run_dir in run_dirs]
    if len(run_dirs) < 2:
        raise InputError(f"compare needs two or more run directories. Received: {[str(r) for r in run_dirs]}")
    if len({run_dir.resolve() for run_dir in run_dirs}) < len(run_dirs):
        raise InputError("compare was given the same run directory twice; pass each run once")
    output = Path(output)
    if output.exists() and (not output.is_dir() or (any(output.iterdir()) and not (output / MARKER).is_file())):
        raise InputError(
            f"{output}: holds files rnnsweep did not write (no {MARKER}); pass --output with a new or empty folder"
        )
    runs = [_run_summary(require_run_dir(run_dir)) for run_dir in run_dirs]
    objective = runs[0]["objective"]
    if any(run["objective"] != objective for run in runs):
        raise InputError(
            "the runs chose their models on different objectives "
            f"({', '.join(sorted({run['objective'] for run in runs}))}); compare runs with the same search.objective"
        )
    keys = sorted({key for run in runs for key in run["settings"]})
    differ = {
        key: [run["settings"].get(key) for run in runs]
        for key in keys
        if len({json.dumps(run["settings"].get(key), sort_keys=True) for run in runs}) > 1
    }
    scores = [run["chosen"]["validation_score"] for run in runs]
    best = scores.index(objectives.best(scores, objective))
    paired = [
        None if i == best else {"run": i, "against": best, "result": _paired(runs[i], runs[best], resamples=resamples)}
        for i in range(len(runs))
    ]
    comparison = {
        "objective": objective,
        "runs": runs,
        "settings_that_differ": differ,
        "best_on_validation": best,
        "paired": [entry for entry in paired if entry is not None],
    }
    output.mkdir(parents=True, exist_ok=True)
    write_atomically(output / MARKER, json.dumps(comparison, indent=1))
    return write_comparison_page(comparison, output)
