"""Plotting helpers: each computes, draws onto the given (or a new) axes and returns the figure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
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


def plot_hyperparameter(trials: pd.DataFrame, parameter: str, objective: str, ax=None):
    """Objective against one hyperparameter's value, coloured by architecture."""
    fig, ax = _axes(ax, figsize=(4, 3))
    completed = trials[(trials["status"] == "COMPLETED") & trials[parameter].notna()]
    sns.stripplot(completed, x=parameter, y="objective", hue="architecture", ax=ax, palette=PALETTE, dodge=True)
    ax.set_xlabel(parameter.removeprefix("hp_"))
    ax.set_ylabel(objective)
    if ax.get_legend():
        ax.get_legend().set_visible(False)
    return fig


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
