"""The report while a sweep runs: what is known after each finished trial, rewritten in place."""

from __future__ import annotations

import datetime
import os
from pathlib import Path

import jinja2
import matplotlib
import pandas as pd

from rnnsweep.data_prep.files import write_atomically
from rnnsweep.data_prep.layout import RunLayout
from rnnsweep.models import objective as objectives
from rnnsweep.reports import plots
from rnnsweep.reports.importance import hyperparameter_columns

TEMPLATES = Path(__file__).parent / "templates"
REFRESH_S = 10  # how often an open page reloads itself while the sweep runs


def _save_atomically(fig, path: Path) -> str:
    """Save a figure beside `path` and rename it there: a browser never reads half a PNG."""
    scratch = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fig.savefig(scratch, dpi=80, format="png")
    os.replace(scratch, path)
    return path.name


def write_live_report(
    run_dir: Path, trials: pd.DataFrame, *, architectures: list[str], max_trials: int, objective: str, finished: bool
) -> Path:
    """Write `RUN_DIR/report/index.html` (atomically) from the trials so far.

    The page shows a banner ("sweep in progress: N of M trials, updated HH:MM:SS", and a
    meta refresh, until `finished`), each architecture's completed trials and best score so
    far, the best-so-far curve and the objective against each hyperparameter. The final
    report (`build_report`) replaces the whole folder.

    Args:
        run_dir: The run directory.
        trials: The trials table so far (`tuning.trials.collect_trials`).
        architectures: The sweep's architectures, in order.
        max_trials: Trials wanted per architecture.
        objective: The objective's name.
        finished: The search has ended (no refresh; the page says what comes next).

    Returns:
        Path of `index.html`.
    """
    folder = RunLayout(run_dir).report
    folder.mkdir(parents=True, exist_ok=True)
    done = trials[trials["status"] == "COMPLETED"] if not trials.empty else trials
    rows = []
    for name in architectures:
        part = done[done["architecture"] == name] if not done.empty else done
        scores = part["objective"].astype(float).tolist() if not part.empty else []
        rows.append(
            {"name": name, "completed": len(scores), "best": objectives.best(scores, objective) if scores else None}
        )
    figures = {}
    with matplotlib.rc_context({"text.parse_math": False}):
        if not done.empty:
            figures["best_so_far"] = _save_atomically(
                plots.plot_best_so_far(trials, objective), folder / "live_best_so_far.png"
            )
            columns = [c for c in hyperparameter_columns(trials) if done[c].notna().any()]
            if columns:
                panels = plots.plot_hyperparameter_panels(trials, columns, objective)
                figures["parameters"] = _save_atomically(panels, folder / "live_hyperparameters.png")
    ended = 0 if trials.empty else int(trials["status"].isin(["COMPLETED", "FAILED"]).sum())
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined
    )
    page = environment.get_template("live.html.j2").render(
        run_dir=str(run_dir),
        ended=ended,
        total=max_trials * len(architectures),
        updated=datetime.datetime.now().strftime("%H:%M:%S"),
        refresh_s=None if finished else REFRESH_S,
        rows=rows,
        objective=objective,
        figures=figures,
    )
    index = RunLayout(run_dir).report_index
    write_atomically(index, page)
    return index
