"""The run's verdict: every model ranked on the validation split, reported on the test split with intervals."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from rnnsweep.data_prep import layout as files
from rnnsweep.data_prep.files import write_atomically
from rnnsweep.data_prep.layout import RunLayout, read_probabilities
from rnnsweep.data_prep.prepare import PreparedData
from rnnsweep.models import objective as objectives
from rnnsweep.tuning.evaluation import INTERVAL_METRICS, paired_difference

logger = logging.getLogger(__name__)

# The verdict's headline figure; the others are compared and shown beside it.
HEADLINE = "auc_macro"
LABELS = {"auc_macro": "macro AUC", "f1_weighted": "weighted F1", "f1_macro": "macro F1", "accuracy": "accuracy"}


def _entry(name: str, kind: str, metrics: dict) -> dict:
    return {
        "name": name,
        "kind": kind,
        "validation_score": metrics["validation_score"],
        "search_score": metrics.get("search_score"),
        "settings": metrics.get("settings") or metrics.get("hyperparameters") or {},
        "test": {key: metrics["test"][key] for key in INTERVAL_METRICS},
        "test_intervals": metrics["test_intervals"],
    }


def _fmt_interval(values: list[float]) -> str:
    return f"[{values[0]:.4f}, {values[1]:.4f}]"


def verdict_sentence(best: dict, baseline: dict, comparison: dict) -> str:
    """One paragraph: which model validation chose, how it compares on test, how sure that is."""
    head = comparison[HEADLINE]
    text = (
        f"{best['name']} (the tuned RNN with the best validation score) {head['verdict']} {baseline['name']} "
        f"(the best baseline on validation) on test {LABELS[HEADLINE]}: {best['test'][HEADLINE]:.4f} "
        f"{_fmt_interval(best['test_intervals'][HEADLINE])} against {baseline['test'][HEADLINE]:.4f} "
        f"{_fmt_interval(baseline['test_intervals'][HEADLINE])}, a difference of {head['difference']:+.4f} "
        f"(95% paired bootstrap interval {_fmt_interval(head['interval'])})."
    )
    others = [
        f"{LABELS[key]} {comparison[key]['difference']:+.4f} {_fmt_interval(comparison[key]['interval'])}: "
        f"{comparison[key]['verdict']}"
        for key in ("f1_weighted", "f1_macro")
    ]
    return text + " Also " + "; ".join(others) + "."


def build_leaderboard(run_dir: Path, *, data: PreparedData, objective: str, seed: int = 0) -> dict:
    """Rank the run's retrained models and baselines and compare the two chosen on validation.

    Every entry is ranked by its validation score on the run's objective (the score that
    chose it); test figures, with their 95% bootstrap intervals, are reported and never
    used to choose. The best tuned RNN and the best baseline (each by validation) are
    compared by a paired bootstrap of the difference on the same test rows: "beats" only
    when the difference's interval is above zero, "is behind" when below, else "is level
    with".

    Reads `RUN_DIR/models/*/metrics.json` and `predictions.csv`, `RUN_DIR/baselines/`;
    writes `RUN_DIR/leaderboard.json`.

    Args:
        run_dir: The run directory (retrain and baselines done).
        data: The run's prepared data (for the test labels and class names).
        objective: The run's objective.
        seed: Seed of the paired bootstrap (default 0).

    Returns:
        {"chosen_on", "objective", "entries" (best first), "best_rnn", "best_baseline",
        "comparison" ({metric: difference, interval, verdict}), "verdict" (a sentence)}.
    """
    layout = RunLayout(run_dir)
    entries = []
    for folder in sorted(layout.models.glob("*/")):
        path = folder / files.METRICS
        if path.is_file():
            entries.append(_entry(folder.name, "tuned RNN", json.loads(path.read_text())))
    baselines = json.loads(layout.baseline_metrics.read_text()) if layout.baseline_metrics.is_file() else {}
    entries += [_entry(name, "baseline", metrics) for name, metrics in baselines.items()]
    sign = -1 if objectives.direction(objective) == "max" else 1
    entries.sort(key=lambda e: sign * e["validation_score"])
    board = {"chosen_on": "validation", "objective": objective, "entries": entries, "verdict": None}
    tuned = [e for e in entries if e["kind"] == "tuned RNN"]
    others = [e for e in entries if e["kind"] == "baseline"]
    if tuned and others:
        best, baseline = tuned[0], others[0]
        y_test = data.y["test"]
        comparison = paired_difference(
            y_test,
            read_probabilities(layout.model(best["name"]) / files.PREDICTIONS, data.class_names, split="test"),
            read_probabilities(
                layout.baselines / files.PREDICTIONS, data.class_names, split="test", baseline=baseline["name"]
            ),
            seed=seed,
        )
        board |= {
            "best_rnn": best["name"],
            "best_baseline": baseline["name"],
            "comparison": comparison,
            "verdict": verdict_sentence(best, baseline, comparison),
        }
        logger.info("verdict: %s", board["verdict"])
    write_atomically(layout.leaderboard, json.dumps(board, indent=1))
    return board
