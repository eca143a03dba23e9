"""The stages a user runs, each reading the previous stage's output from the run directory."""

from __future__ import annotations

import logging
from pathlib import Path

from data_prep.prepare import PreparedData, load_prepared, prepare_data
from models.architectures import resolve_architectures
from tuning.baselines import run_baselines
from tuning.config import Config, check_same_settings, load_run_config, open_run
from tuning.distributed import Role, exit_with_launcher, resolve_workers, run_local_workers
from tuning.retrain import retrain_best
from tuning.search import run_search
from tuning.trials import read_trials

logger = logging.getLogger("rnnsweep")


def data_stage(config: Config, run_dir: Path, *, overwrite: bool = False) -> PreparedData:
    """Load, clean, split and encode the data into `RUN_DIR/data` (see `prepare_data`)."""
    open_run(run_dir, config, overwrite=overwrite)
    data = prepare_data(config.data, run_dir)
    summary = data.summary
    logger.info(
        "data: %d rows read, %d used; dropped %s; classes %s; sequence length %d; vocabulary %d",
        summary["rows_read"],
        summary["rows_used"],
        {k: v for k, v in summary["rows_dropped"].items() if v},
        data.class_names,
        data.sequence_length,
        len(data.vocabulary),
    )
    for split, counts in summary["class_counts"].items():
        logger.info("  %-10s %s", split, counts)
    return data


def tune_stage(
    config: Config,
    run_dir: Path,
    *,
    overwrite: bool = False,
    tuner_options: dict | None = None,
    role: Role | None = None,
    workers: int | str = "auto",
    max_worker_restarts: int = 3,
):
    """Run or resume the sweep, preparing the data first if the run has none.

    Args:
        config: The sweep configuration.
        run_dir: The run directory.
        overwrite: Delete the run's earlier results first (default False).
        tuner_options: Extra keyword arguments for each tuner, e.g.
            `{"distribution_strategy": tf.distribute.MirroredStrategy()}` to train each
            trial on several GPUs (default None).
        role: Chief or worker of a distributed sweep (default None: alone).
        workers: Local worker processes: 1 sweeps in this process; N > 1 starts a chief
            and N workers; "auto" (default) one worker per CPU core or GPU, see
            `tuning.distributed.resolve_workers`. Ignored with `role`.
        max_worker_restarts: With workers, restarts allowed per dead worker (default 3).

    Returns:
        The trials table.

    Raises:
        InputError: Bad settings or data; a worker without prepared data.
    """
    if role is not None:
        exit_with_launcher()
    if role is not None and role.role == "worker":
        # Workers never write shared state before the chief has: they only check it.
        check_same_settings(run_dir, config)
        load_prepared(run_dir)
        return run_search(run_dir, config, tuner_options=tuner_options, role=role)
    workers = 1 if role is not None else resolve_workers(workers, config.search, tuner_options=tuner_options)
    open_run(run_dir, config, overwrite=overwrite)
    if not (Path(run_dir) / "data" / "summary.json").is_file():
        data_stage(config, run_dir)
    if workers > 1:
        architectures = resolve_architectures(config.search.architectures, config.search.custom_architectures)
        run_local_workers(run_dir, workers=workers, architectures=len(architectures), max_restarts=max_worker_restarts)
        return read_trials(run_dir)
    return run_search(run_dir, config, tuner_options=tuner_options, role=role)


def retrain_stage(run_dir: Path, overrides: dict | None = None) -> dict:
    """Retrain the best trials and score the baselines; `overrides` change [retrain].

    Returns:
        Metrics by model name, plus the baselines under "baselines".
    """
    config = load_run_config(run_dir, overrides)
    if overrides:
        open_run(run_dir, config)
    load_prepared(run_dir)  # fail early with the data stage's message
    results = retrain_best(run_dir, config)
    results["baselines"] = run_baselines(run_dir)
    return results


def report_stage(run_dir: Path) -> Path:
    """Write `RUN_DIR/report/index.html` from saved artifacts; return its path."""
    from reports.build import build_report

    return build_report(run_dir)


def run_all(config: Config, run_dir: Path, *, overwrite: bool = False, workers: int | str = "auto") -> Path:
    """Every stage in order: data, tune, retrain (with baselines), report.

    Re-running after an interruption resumes the sweep; finished stages after it run again.

    Args:
        config: The sweep configuration.
        run_dir: The run directory.
        overwrite: Delete the run's earlier results first (default False).
        workers: Local worker processes for the sweep, as in `tune_stage` (default "auto").

    Returns:
        The report's `index.html`.
    """
    tune_stage(config, run_dir, overwrite=overwrite, workers=workers)
    retrain_stage(run_dir)
    return report_stage(run_dir)
