"""The page of `rnnsweep compare`: runs side by side, from a comparison `tuning.compare` computed."""

from __future__ import annotations

from pathlib import Path

import jinja2
import matplotlib

from rnnsweep.data_prep.files import write_atomically
from rnnsweep.reports import plots

TEMPLATES = Path(__file__).parent / "templates"
METRICS = (
    ("auc_macro", "macro AUC"),
    ("accuracy", "accuracy"),
    ("f1_macro", "macro F1"),
    ("f1_weighted", "weighted F1"),
)


def paired_sentence(comparison: dict, entry: dict, metric: str = "auc_macro") -> str:
    """ "run 2 (gru1) beats / is level with / is behind run 1 (bilstm) on test macro AUC: ...",
    or why no paired test was possible."""
    runs = comparison["runs"]
    mine, theirs = runs[entry["run"]], runs[entry["against"]]
    me = f"run {entry['run'] + 1} ({mine['chosen']['name']})"
    them = f"run {entry['against'] + 1} ({theirs['chosen']['name']})"
    result = entry["result"]
    if result is None:
        return (
            f"{me} and {them} were tested on different rows (their saved test row ids or labels differ), "
            "so no paired test is possible; their figures are shown side by side only."
        )
    label = dict(METRICS)[metric]
    figures = result["metrics"][metric]
    low, high = figures["interval"]
    return (
        f"{me} {figures['verdict']} {them} on test {label}: a difference of {figures['difference']:+.4f} "
        f"(95% paired bootstrap interval [{low:+.4f}, {high:+.4f}], on the same {result['rows']} test rows)."
    )


def write_comparison_page(comparison: dict, output: Path) -> Path:
    """Write `index.html` and its figure into `output`; return the page's path."""
    output = Path(output)
    curves = {
        f"run {i + 1}: {Path(run['run_dir']).name}": (run["best_so_far"]["seconds"], run["best_so_far"]["best"])
        for i, run in enumerate(comparison["runs"])
    }
    with matplotlib.rc_context({"text.parse_math": False}):
        figure = plots.plot_best_so_far_over_time(curves, comparison["objective"])
        figure.savefig(output / "best_so_far.png", dpi=100)
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined
    )
    page = environment.get_template("compare.html.j2").render(
        comparison=comparison,
        metrics=METRICS,
        sentences={entry["run"]: paired_sentence(comparison, entry) for entry in comparison["paired"]},
        figure="best_so_far.png",
    )
    index = output / "index.html"
    write_atomically(index, page)
    return index
