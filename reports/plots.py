"""Plotting helpers: each computes, draws onto the given (or a new) axes and returns the figure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from rnnsweep.models import objective as objectives

PALETTE = "tab10"


def new_figure(*, figsize, nrows: int = 1, ncols: int = 1):
    """A figure and its axes, made without pyplot.

    A `matplotlib.figure.Figure` draws with Agg when saved, whatever backend the process
    uses, opens no window and is freed like any object: so nothing here selects a
    backend or keeps figures alive in pyplot's registry.
    """
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.subplots(nrows, ncols)


def _axes(ax, figsize=(5, 4)):
    if ax is None:
        return new_figure(figsize=figsize)
    return ax.figure, ax


def class_colors(class_names: list[str]) -> dict[str, tuple]:
    """One fixed colour per class, the same in every figure."""
    return dict(zip(class_names, sns.color_palette(PALETTE, len(class_names)), strict=True))


def plot_confusion_matrix(matrix, class_names: list[str], *, title: str = "", normalized: bool = True, ax=None):
    """Heat map of a confusion matrix (rows true, columns predicted)."""
    fig, ax = _axes(ax)
    sns.heatmap(
        np.asarray(matrix),
        annot=True,
        fmt=".2f" if normalized else "d",
        cmap="Blues",
        vmin=0,
        vmax=1 if normalized else None,
        xticklabels=class_names,
        yticklabels=class_names,
        cbar=False,
        ax=ax,
    )
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    return fig


def plot_class_proportions(proportions: dict[str, list[float]], class_names: list[str], *, title: str = "", ax=None):
    """Grouped bars of class proportions, e.g. {"train true": [...], "test predicted": [...]}."""
    fig, ax = _axes(ax, figsize=(6, 3.5))
    frame = pd.DataFrame(proportions, index=class_names).reset_index(names="class")
    long = frame.melt(id_vars="class", var_name="series", value_name="proportion")
    sns.barplot(long, x="class", y="proportion", hue="series", ax=ax, palette="Set2", order=class_names)
    ax.set_title(title, fontsize=9)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7)
    return fig


def plot_training_curves(history: dict[str, list[float]], *, best_epoch: int | None = None, axes=None):
    """Loss and AUC per epoch, train and validation, with the restored epoch marked."""
    if axes is None:
        fig, axes = new_figure(figsize=(8, 3), ncols=2)
    fig = axes[0].figure
    for ax, metric in zip(axes, ("loss", "auc"), strict=True):
        for prefix, style in (("", "-"), ("val_", "--")):
            values = history.get(prefix + metric)
            if values:
                ax.plot(range(1, len(values) + 1), values, style, marker="o", label=(prefix or "train_") + metric)
        if best_epoch is not None:
            ax.axvline(best_epoch + 1, color="grey", linestyle=":", label="restored epoch")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(metric, fontsize=9)
        ax.legend(fontsize=7)
    return fig


def plot_search_scores(trials: pd.DataFrame, objective: str, ax=None):
    """Each completed trial's objective, one strip per architecture."""
    fig, ax = _axes(ax, figsize=(6, 3.5))
    completed = trials[trials["status"] == "COMPLETED"]
    sns.stripplot(completed, x="architecture", y="objective", hue="architecture", ax=ax, palette=PALETTE, size=7)
    sns.boxplot(completed, x="architecture", y="objective", ax=ax, fill=False, color="grey", showfliers=False)
    ax.set_ylabel(objective)
    ax.set_title("score spread per architecture", fontsize=9)
    return fig


def plot_best_so_far(trials: pd.DataFrame, objective: str, ax=None):
    """Objective by trial number with the running best, per architecture."""
    fig, ax = _axes(ax, figsize=(6, 3.5))
    better = np.fmin.accumulate if objectives.direction(objective) == "min" else np.fmax.accumulate
    for architecture, part in trials.groupby("architecture", sort=False):
        part = part.assign(number=pd.to_numeric(part["trial_id"], errors="coerce")).sort_values("number")
        scores = part["objective"].where(part["status"] == "COMPLETED").astype(float).to_numpy()
        line = ax.plot(part["number"], better(scores), label=architecture)
        ax.scatter(part["number"], scores, color=line[0].get_color(), s=12)
    ax.set_xlabel("trial")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(objective)
    ax.set_title("score by trial (line: best so far)", fontsize=9)
    ax.legend(fontsize=7)
    return fig


def plot_best_so_far_over_time(curves: dict[str, tuple[list[float], list[float]]], objective: str, ax=None):
    """Each run's best validation score so far against the wall seconds of its sweep."""
    fig, ax = _axes(ax, figsize=(6, 3.5))
    for name, (seconds, best) in curves.items():
        ax.step(seconds, best, where="post", marker="o", markersize=3, label=name)
    ax.set_xlim(left=0)  # the sweep's start
    ax.set_xlabel("wall time of the sweep (s)")
    ax.set_ylabel(f"best {objective} so far")
    ax.set_title("best so far against wall time", fontsize=9)
    ax.legend(fontsize=7)
    return fig


def architecture_colors(architectures) -> dict:
    """One fixed colour per architecture, the same in every search figure."""
    names = list(dict.fromkeys(architectures))
    return dict(zip(names, sns.color_palette(PALETTE, len(names)), strict=True))


def _value_scale(parameter: str) -> tuple[str, dict]:
    """Axis scale for a hyperparameter: log for rates, log2 for units, linear otherwise."""
    if "learning_rate" in parameter:
        return "log", {}
    if "units" in parameter:
        return "log", {"base": 2}
    return "linear", {}


def plot_hyperparameter_panels(trials: pd.DataFrame, parameters: list[str], objective: str, *, ncols: int = 3):
    """Objective against each hyperparameter, one equal panel each, coloured by architecture
    with one legend naming them; learning rates on a log axis, units on a log2 axis, named
    values (pooling) one slot each."""
    completed = trials[(trials["status"] == "COMPLETED") & trials["objective"].notna()]
    colors = architecture_colors(trials["architecture"])
    rows = max(1, -(-len(parameters) // ncols))
    fig, axes = new_figure(figsize=(4 * ncols, 3 * rows), nrows=rows, ncols=ncols)
    axes = np.atleast_1d(axes).ravel()
    for ax, parameter in zip(axes, parameters, strict=False):
        part = completed[completed[parameter].notna()]
        numeric = pd.to_numeric(part[parameter], errors="coerce")
        categories = None if numeric.notna().all() else sorted(part[parameter].astype(str).unique())
        for architecture, group in part.groupby("architecture", sort=False):
            xs = (
                group[parameter].astype(float)
                if categories is None
                else group[parameter].astype(str).map(categories.index)  # e.g. pooling: one slot per value
            )
            ax.scatter(xs, group["objective"], color=colors[architecture], s=25, alpha=0.8)
        if categories is None:
            scale, options = _value_scale(parameter)
            ax.set_xscale(scale, **options)
        else:
            ax.set_xticks(range(len(categories)), categories)
            ax.set_xlim(-0.5, len(categories) - 0.5)
        ax.set_xlabel(parameter.removeprefix("hp_"))
        ax.set_ylabel(objective)
    for ax in axes[len(parameters) :]:
        ax.set_visible(False)
    handles = [Line2D([], [], marker="o", linestyle="", color=color, label=name) for name, color in colors.items()]
    fig.legend(
        handles=handles, loc="outside upper center", ncols=min(len(handles), 6), fontsize=8, title="architecture"
    )
    return fig


def plot_importance(importance: dict[str, float], *, title: str = "", ax=None):
    """Horizontal bars of hyperparameter importances (shares of the objective's variance)."""
    fig, ax = _axes(ax, figsize=(5, 0.4 * len(importance) + 1.2))
    names = list(importance)[::-1]
    ax.barh(names, [importance[n] for n in names], color="#4c72b0")
    ax.set_xlim(0, 1)
    ax.set_xlabel("importance (fANOVA share of variance)")
    ax.set_title(title, fontsize=9)
    return fig


def plot_parallel_coordinates(trials: pd.DataFrame, parameters: list[str], objective: str, *, title: str = "", ax=None):
    """Every completed trial as a line across its hyperparameters and the objective, coloured by the objective.

    Each axis spans the values the hyperparameter took (in rank order, so learning rates and
    units are evenly spaced like on a log axis); its smallest and largest values are written
    at its ends.
    """
    completed = trials[(trials["status"] == "COMPLETED") & trials["objective"].notna()]
    columns = [*parameters, "objective"]
    fig, ax = _axes(ax, figsize=(1.6 * len(columns) + 1.5, 3.5))
    positions = {}
    for column in columns:
        values = sorted(completed[column].dropna().unique())
        span = max(1, len(values) - 1)
        if column == "objective":
            low, high = min(values), max(values)
            positions[column] = (lambda v, low=low, high=high: (v - low) / (high - low or 1)), values
        else:
            positions[column] = (lambda v, values=values, span=span: values.index(v) / span), values
    scores = completed["objective"].astype(float)
    norm = Normalize(scores.min(), scores.max())
    cmap = colormaps["viridis"]
    order = scores.argsort().to_numpy()
    if objectives.direction(objective) == "min":
        order = order[::-1]  # the best drawn last, on top
    for index in order:
        row = completed.iloc[index]
        xs = [i for i, c in enumerate(columns) if pd.notna(row[c])]
        ys = [positions[c][0](row[c]) for c in columns if pd.notna(row[c])]
        ax.plot(xs, ys, color=cmap(norm(row["objective"])), alpha=0.8, linewidth=1.2)
    for i, column in enumerate(columns):
        ax.axvline(i, color="grey", linewidth=0.8)
        values = positions[column][1]
        ax.annotate(_short(values[0]), (i, -0.04), ha="center", va="top", fontsize=7)
        ax.annotate(_short(values[-1]), (i, 1.04), ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(columns)), [c.removeprefix("hp_") for c in columns], rotation=20, fontsize=8)
    ax.set_yticks([])
    ax.set_ylim(-0.15, 1.15)
    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, label=objective)
    ax.set_title(title, fontsize=9)
    return fig


def _short(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def plot_class_counts(class_counts: dict[str, dict[str, int]], class_names: list[str], ax=None):
    """Bars of rows per class in each split."""
    fig, ax = _axes(ax, figsize=(6, 3.5))
    frame = pd.DataFrame(class_counts).reindex(class_names).reset_index(names="class")
    long = frame.melt(id_vars="class", var_name="split", value_name="rows")
    sns.barplot(long, x="class", y="rows", hue="split", ax=ax, order=class_names)
    ax.set_title("rows per class and split", fontsize=9)
    return fig


def plot_length_histograms(rows: pd.DataFrame, class_names: list[str], *, column: str = "clean_text", ax=None):
    """Token counts per class with dashed quartile lines, as in the original study."""
    fig, ax = _axes(ax, figsize=(7, 3.5))
    lengths = rows[column].fillna("").str.split().str.len()
    colors = class_colors(class_names)
    upper = float(np.percentile(lengths, 99)) if len(lengths) else 1
    bins = np.linspace(0, max(upper, 1), 40)
    for label, name in enumerate(class_names):
        values = lengths[rows["label"] == label]
        if values.empty:
            continue
        ax.hist(values, bins=bins, alpha=0.45, color=colors[name], label=name, density=True)
        for q in np.percentile(values, [25, 50, 75]):
            ax.axvline(q, color=colors[name], linestyle="--", linewidth=0.8)
    ax.set_xlabel("tokens after cleaning")
    ax.set_ylabel("density")
    ax.set_title("text length per class (dashed: quartiles)", fontsize=9)
    ax.legend(fontsize=7)
    return fig
