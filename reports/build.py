"""Build `RUN_DIR/report/index.html` and its PNG figures from a run's saved artifacts."""

from __future__ import annotations

import json
import shlex
import tomllib
from pathlib import Path

import jinja2
import matplotlib
import pandas as pd

from rnnsweep.data_prep import layout as files
from rnnsweep.data_prep.errors import InputError
from rnnsweep.data_prep.files import staged_directory
from rnnsweep.data_prep.layout import (
    RunLayout,
    failed_architectures,
    probability_columns,
    read_rows,
    read_time_budget,
    read_trials,
    time_cut_line,
)
from rnnsweep.models import objective as objectives
from rnnsweep.reports import plots
from rnnsweep.reports.importance import MIN_TRIALS, hyperparameter_columns, importances

TEMPLATES = Path(__file__).parent / "templates"


def _read_json(path: Path):
    return json.loads(path.read_text()) if path.is_file() else None


def _save(fig, folder: Path, name: str) -> str:
    fig.savefig(folder / name, dpi=100)
    return name


def _fmt(value, digits=4):
    return "n/a" if value is None or (isinstance(value, float) and value != value) else f"{value:.{digits}f}"


def _plain(value):
    """A table cell: blank for missing, whole floats (pandas' NaN-widened ints) as ints."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) >= 1:
        return str(int(value))
    return str(value)


def load_run(run_dir: Path) -> dict:
    """Read every artifact a report uses; missing later stages give empty entries.

    Raises:
        InputError: No data stage output in `run_dir`.
    """
    run_dir = Path(run_dir)
    layout = RunLayout(run_dir)
    summary = _read_json(layout.summary)
    if summary is None:
        raise InputError(f"{run_dir}: no data/summary.json; run `rnnsweep run` or `rnnsweep data` first")
    models = {}
    for folder in sorted(layout.models.glob("*/")):
        metrics = _read_json(folder / files.METRICS)
        if metrics is None:
            continue
        predictions = folder / files.PREDICTIONS
        models[folder.name] = {
            "metrics": metrics,
            "history": _read_json(folder / files.HISTORY) or {},
            "predictions": pd.read_csv(predictions) if predictions.is_file() else None,
        }
    return {
        "run_dir": run_dir,
        "config": tomllib.loads(layout.config.read_text()) if layout.config.is_file() else {},
        "summary": summary,
        "rows": read_rows(run_dir),
        "trials": read_trials(run_dir) if layout.trials_csv.is_file() else pd.DataFrame(),
        "models": models,
        "baselines": _read_json(layout.baseline_metrics) or {},
        "leaderboard": _read_json(layout.leaderboard),
    }


def leaderboard(run: dict) -> list[dict]:
    """Retrained models and baselines, best validation score first (`RUN_DIR/leaderboard.json`)."""
    return (run["leaderboard"] or {}).get("entries", [])


def verdict(run: dict) -> str:
    """The run's verdict: the validation-chosen RNN against the validation-chosen baseline on test."""
    board = run["leaderboard"]
    if not board:
        return (
            "No verdict yet: run `rnnsweep retrain` on this run directory (it ranks every model on the "
            "validation split and compares the chosen ones on the test split)."
        )
    if not board.get("verdict"):
        return "No verdict: the run needs both a retrained RNN and the baselines."
    return board["verdict"]


# A hyperparameter gets a panel once this many completed trials used it; the optimisation
# history is drawn once an architecture has this many trials (fewer make flat lines).
MIN_PANEL_POINTS = 3
MIN_HISTORY_TRIALS = 6


def _search_figures(trials: pd.DataFrame, objective: str, folder: Path) -> dict:
    """The search's figures: spread, hyperparameter panels, history (when worth it), and per
    architecture its importance chart (or why there is none) and parallel coordinates."""
    completed = trials[(trials["status"] == "COMPLETED") & trials["objective"].notna()]
    figures = {"spread": _save(plots.plot_search_scores(trials, objective), folder, "search_spread.png")}
    if trials.groupby("architecture").size().max() >= MIN_HISTORY_TRIALS:
        figures["best_so_far"] = _save(plots.plot_best_so_far(trials, objective), folder, "search_best_so_far.png")
    columns = [c for c in hyperparameter_columns(trials) if completed[c].notna().sum() >= MIN_PANEL_POINTS]
    if columns:
        panels = plots.plot_hyperparameter_panels(trials, columns, objective)
        figures["parameters"] = _save(panels, folder, "search_hyperparameters.png")
    figures["per_architecture"] = []
    for architecture, result in importances(trials, objective).items():
        part = trials[trials["architecture"] == architecture]
        entry = {"name": architecture, "reason": result.get("reason")}
        if "importances" in result:
            chart = plots.plot_importance(result["importances"], title=f"{architecture}: hyperparameter importance")
            entry["importance"] = _save(chart, folder, f"importance_{architecture}.png")
        parameters = [c for c in hyperparameter_columns(part) if part[c].notna().any()]
        if (part["status"] == "COMPLETED").sum() >= 2 and parameters:
            lines = plots.plot_parallel_coordinates(
                part, parameters, objective, title=f"{architecture}: every completed trial"
            )
            entry["parallel"] = _save(lines, folder, f"parallel_{architecture}.png")
        figures["per_architecture"].append(entry)
    return figures


def _continue_command(run: dict, flag: str, value) -> str:
    """The command that continues this run with one setting changed (README, "Continuing a run")."""
    return f"rnnsweep run --output {shlex.quote(str(run['run_dir']))} {flag} {value}"


def next_step(run: dict, objective: str) -> str:
    """One sentence on what to do next, from where the chosen architecture's best trial came,
    ending with the command that does it on this run directory."""
    board, trials = run["leaderboard"] or {}, run["trials"]
    chosen = board.get("best_rnn")
    if not chosen or trials.empty or chosen not in run["models"]:
        return ""
    architecture = run["models"][chosen]["metrics"]["architecture"]
    part = trials[(trials["architecture"] == architecture) & (trials["status"] == "COMPLETED")]
    part = part.assign(number=pd.to_numeric(part["trial_id"], errors="coerce")).sort_values("number")
    scores = part["objective"].astype(float).tolist()
    max_trials = int(run["config"].get("search", {}).get("max_trials", len(scores)))
    more_trials = _continue_command(run, "--max-trials", max(2 * max_trials, max_trials + 2))
    if len(scores) < 3:
        return (
            f"Next: {architecture} has only {len(scores)} completed trial(s); run more before trusting "
            f"the choice of its hyperparameters: {more_trials}"
        )
    best = scores.index(objectives.best(scores, objective))
    if best == len(scores) - 1:
        return (
            f"Next: more trials would help: {architecture}'s best trial is the last of its {len(scores)}: {more_trials}"
        )
    seeds = list(run["config"].get("retrain", {}).get("seeds", [42]))
    seeds += [max(seeds) + step for step in (1, 2)]
    return (
        f"Next: the search of {architecture} looks converged: its best trial is number {best + 1} of "
        f"{len(scores)}, and the {len(scores) - best - 1} after it did not beat it; more retraining seeds "
        f"give a steadier model: {_continue_command(run, '--retrain-seeds', ','.join(map(str, seeds)))}"
    )


def rnn_beats_baseline(run: dict) -> bool:
    """Whether the verdict's headline comparison (macro AUC) says "beats"."""
    comparison = (run["leaderboard"] or {}).get("comparison") or {}
    return comparison.get("auc_macro", {}).get("verdict") == "beats"


def _error_analysis(run: dict, board: list[dict], limit: int, compare: list[str]) -> dict:
    models = run["models"]
    tuned = [e["name"] for e in board if e["kind"] == "tuned RNN" and e["name"] in models]
    if not tuned:
        return {}
    rows = run["rows"].set_index("row_id")
    class_names = run["summary"]["class_names"]
    best = models[tuned[0]]["predictions"]
    test = best[best["split"] == "test"].copy()
    proba = test[probability_columns(class_names)].to_numpy()
    test["confidence"] = proba.max(axis=1)
    wrong = test[test["true"] != test["predicted"]].sort_values("confidence", ascending=False).head(limit)
    mistakes = [
        {
            "text": rows.loc[r.row_id, "text"],
            "true": class_names[int(r.true)],
            "predicted": class_names[int(r.predicted)],
            "probability": f"{r.confidence:.3f}",
        }
        for r in wrong.itertuples()
    ]
    pair = [name for name in compare if name in models]
    if len(pair) < 2:
        pair = tuned[:2]
    comparison = None
    if len(pair) == 2:
        a, b = (models[n]["predictions"] for n in pair)
        a = a[a["split"] == "test"].set_index("row_id")
        b = b[b["split"] == "test"].set_index("row_id").reindex(a.index)
        right_a, right_b = a["true"] == a["predicted"], b["true"] == b["predicted"]

        def only(mask):
            return [
                {
                    "text": rows.loc[i, "text"],
                    "true": class_names[int(a.loc[i, "true"])],
                    "a": class_names[int(a.loc[i, "predicted"])],
                    "b": class_names[int(b.loc[i, "predicted"])],
                }
                for i in a.index[mask][:limit]
            ]

        comparison = {
            "a": pair[0],
            "b": pair[1],
            "both_right": int((right_a & right_b).sum()),
            "only_a": int((right_a & ~right_b).sum()),
            "only_b": int((~right_a & right_b).sum()),
            "both_wrong": int((~right_a & ~right_b).sum()),
            "examples_a": only(right_a & ~right_b),
            "examples_b": only(~right_a & right_b),
        }
    return {"model": tuned[0], "mistakes": mistakes, "comparison": comparison}


def build_report(run_dir: Path) -> Path:
    """Write the run's HTML report and figures; never trains anything.

    The report goes to `RUN_DIR/report/` (`index.html` plus PNGs), replacing an
    earlier one only once the new one is complete. All inserted text is escaped.

    Args:
        run_dir: A run directory with at least its data stage done.

    Returns:
        Path of `index.html`.

    Raises:
        InputError: No data stage output in `run_dir`.
    """
    run_dir = Path(run_dir)
    run = load_run(run_dir)
    # Class labels and architecture names are drawn as written: "$x$" in a label is not math.
    with matplotlib.rc_context({"text.parse_math": False}):
        return _write_report(run_dir, run)


def _write_report(run_dir: Path, run: dict) -> Path:
    summary, trials = run["summary"], run["trials"]
    class_names = summary["class_names"]
    report_config = run["config"].get("report", {})
    objective = run["config"].get("search", {}).get("objective", "val_auc")
    with staged_directory(RunLayout(run_dir).report) as scratch:
        figures = {
            "class_counts": _save(
                plots.plot_class_counts(summary["class_counts"], class_names), scratch, "data_class_counts.png"
            ),
            "lengths": _save(plots.plot_length_histograms(run["rows"], class_names), scratch, "data_lengths.png"),
        }
        search = _search_figures(trials, objective, scratch) if not trials.empty else {}
        board = leaderboard(run)
        architectures = []
        for name, model in run["models"].items():
            metrics = model["metrics"]
            item = {"name": name, "metrics": metrics, "figures": {}}
            history = model["history"]
            if history.get("history"):
                item["figures"]["curves"] = _save(
                    plots.plot_training_curves(history["history"], best_epoch=history.get("best_epoch")),
                    scratch,
                    f"{name}_curves.png",
                )
            fig, axes = plots.new_figure(figsize=(13, 4), ncols=3)
            for ax, split in zip(axes, ("train", "validation", "test"), strict=True):
                m = metrics[split]
                plots.plot_confusion_matrix(
                    m["confusion_matrix_normalized"],
                    class_names,
                    ax=ax,
                    title=f"{split}: weighted F1 {m['f1_weighted']:.3f}, P {m['precision_weighted']:.3f}, "
                    f"R {m['recall_weighted']:.3f}",
                )
            item["figures"]["confusion"] = _save(fig, scratch, f"{name}_confusion.png")
            proportions = {
                "train true": metrics["train"]["true_proportions"],
                "train predicted": metrics["train"]["predicted_proportions"],
                "validation predicted": metrics["validation"]["predicted_proportions"],
                "test predicted": metrics["test"]["predicted_proportions"],
            }
            item["figures"]["proportions"] = _save(
                plots.plot_class_proportions(proportions, class_names, title="class proportions"),
                scratch,
                f"{name}_proportions.png",
            )
            architectures.append(item)
        environment = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined
        )
        environment.filters["fmt"] = _fmt
        environment.filters["plain"] = _plain
        html = environment.get_template("index.html.j2").render(
            run_dir=str(run_dir),
            config=run["config"],
            summary=summary,
            class_names=class_names,
            board=board,
            verdict=verdict(run),
            rnn_wins=rnn_beats_baseline(run),
            next_step=next_step(run, objective),
            time_cut=time_cut_line(
                trials, read_time_budget(run_dir), int(run["config"].get("search", {}).get("max_trials", 0))
            ),
            importance_min_trials=MIN_TRIALS,
            chosen_on=(run["leaderboard"] or {}).get("chosen_on"),
            trials=trials.to_dict("records") if not trials.empty else [],
            hp_columns=hyperparameter_columns(trials),
            failed=failed_architectures(trials),
            objective=objective,
            figures=figures,
            search=search,
            architectures=architectures,
            errors=_error_analysis(
                run,
                board,
                report_config.get("error_examples", 10),
                report_config.get("compare", ["simple_rnn", "lstm"]),
            ),
        )
        (scratch / files.REPORT_INDEX).write_text(html, encoding="utf-8")
    return RunLayout(run_dir).report_index
