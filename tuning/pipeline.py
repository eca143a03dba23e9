"""The stages a user runs, each reading the previous stage's output from the run directory."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import time
from pathlib import Path

from rnnsweep.data_prep.errors import InputError
from rnnsweep.data_prep.files import write_atomically
from rnnsweep.data_prep.layout import RunLayout, read_time_budget, read_trials, time_cut_line
from rnnsweep.data_prep.prepare import PreparedData, build_prepared, load_prepared, save_prepared
from rnnsweep.data_prep.run_dir import claim_run_dir, require_run_dir
from rnnsweep.models.architectures import resolve_architectures
from rnnsweep.tuning.backends import resolve_backend, use_backend
from rnnsweep.tuning.baselines import run_baselines
from rnnsweep.tuning.config import (
    Config,
    check_run_can_open,
    check_same_settings,
    load_run_config,
    open_run,
    parse_duration,
)
from rnnsweep.tuning.distributed import (
    DEFAULT_MAX_WORKER_RESTARTS,
    Role,
    check_workers,
    exit_with_launcher,
    resolve_workers,
    run_local_workers,
)
from rnnsweep.tuning.leaderboard import build_leaderboard
from rnnsweep.tuning.progress import LiveDisplay, LiveReport, Progress, TrialWatcher
from rnnsweep.tuning.trials import (
    collect_trials,
    log_leaderboard,
    saved_failure_limit_error,
    write_trials,
)
from rnnsweep.tuning.warm_start import resolve_queue, save_queue

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def _timed(run_dir: Path, stage: str, *, summed: bool = False):
    """Record the block's wall seconds as `stage` in `RUN_DIR/timings.json` when it succeeds;
    `summed` adds them to the earlier commands' (a search continued over several commands)."""
    start = time.monotonic()
    yield
    path = RunLayout(run_dir).timings
    timings = json.loads(path.read_text()) if path.is_file() else {}
    seconds = time.monotonic() - start
    timings[stage] = round(seconds + (timings.get(stage, 0.0) if summed else 0.0), 3)
    write_atomically(path, json.dumps(timings, indent=1))


def data_stage(config: Config, run_dir: Path, *, overwrite: bool = False) -> PreparedData:
    """Load, clean, split and encode the data into `RUN_DIR/data` (see `prepare_data`).

    The settings and the data are checked before the run directory is created or changed:
    on bad input nothing is written, and an existing run directory is left as it was.

    Raises:
        InputError: Bad settings or data, or a run directory holding other settings.
    """
    check_run_can_open(run_dir, config, overwrite=overwrite)
    with _timed(run_dir, "data"):  # written at the end, once the run directory exists
        prepared = build_prepared(config.data)
        open_run(run_dir, config, overwrite=overwrite)
        data = save_prepared(prepared, run_dir)
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
    workers: int | str | None = None,
    max_worker_restarts: int = DEFAULT_MAX_WORKER_RESTARTS,
    enqueue: str | Path | None = None,
    warm_start: str | None = None,
    finished_page: bool = False,
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
            and N workers; "auto" one worker per CPU core or GPU, see
            `rnnsweep.tuning.distributed.resolve_workers` (default None: "auto"; must
            stay None with `role`).
        max_worker_restarts: With workers, restarts allowed per dead worker (default 3).
        enqueue: A TOML or JSON file of hyperparameter sets per architecture, tried before
            the tuner's own choices (default None; see `warm_start.resolve_queue`).
        warm_start: `RUN_DIR[:K]`: another run's K best completed trials per architecture
            (K default 3), tried first too (default None).
        finished_page: Leave the live report's last page, marked "search finished", in
            `RUN_DIR/report/` (default False: a report follows, as in `run_all`).

    Returns:
        The trials table.

    Raises:
        InputError: Bad settings or data; `workers` given with `role`; a worker without
            prepared data.
    """
    use_backend(resolve_backend(config.search.backend, config.search.architectures))  # before Keras starts
    if role is not None and workers is not None:
        raise InputError(
            f"workers starts its own chief and workers; leave it out with role. Received: workers={workers!r}, "
            f"role={role.role!r}"
        )
    if role is not None:
        exit_with_launcher()
    if role is not None and role.role == "worker":
        # Workers never write shared state before the chief has: they only check it.
        require_run_dir(run_dir)
        check_same_settings(run_dir, config)
        load_prepared(run_dir)
        return _run_search(run_dir, config, tuner_options=tuner_options, role=role)
    check_workers(workers)
    queue = (
        None
        if enqueue is None and warm_start is None
        else resolve_queue(config, enqueue=enqueue, warm_start=warm_start)
    )
    if overwrite or not RunLayout(run_dir).summary.is_file():
        data_stage(config, run_dir, overwrite=overwrite)  # checks the data before writing anything
    else:
        open_run(run_dir, config)
    if queue is not None:
        save_queue(run_dir, queue)
    workers = 1 if role is not None else resolve_workers(workers, config.search, tuner_options=tuner_options)
    with _timed(run_dir, "search", summed=True) if role is None else contextlib.nullcontext():
        if workers > 1:
            table = _sweep_with_workers(run_dir, config, workers=workers, max_restarts=max_worker_restarts)
        else:
            table = _run_search(run_dir, config, tuner_options=tuner_options, role=role)
    if finished_page and role is None:
        from rnnsweep.reports.live import write_live_report

        search = config.search
        names = [a.name for a in resolve_architectures(search.architectures, search.custom_architectures)]
        write_live_report(
            run_dir, table, architectures=names, max_trials=search.max_trials, objective=search.objective, finished=True
        )
    return table


def _sweep_with_workers(run_dir: Path, config: Config, *, workers: int, max_restarts: int):
    """A chief and `workers` worker processes on this machine; this process reports progress.

    The workers' own lines go to their logs; this process prints one line per finished
    trial, a live table on a terminal, and the leaderboard at the end.
    """
    search = config.search
    start, budget = time.time(), parse_duration("time_budget", search.time_budget)  # counted from here
    architectures = resolve_architectures(search.architectures, search.custom_architectures)
    live = LiveReport(run_dir, architectures, search.max_trials, search.objective)
    progress = Progress(run_dir, architectures, search.max_trials, search.objective, on_trial=live)
    watcher = TrialWatcher(progress)
    # A live table on a terminal; in a log or a pipe, the per-trial lines are the record.
    table = LiveDisplay(progress, epochs=search.epochs) if sys.stderr.isatty() else contextlib.nullcontext()
    with live, table as display:

        def poll() -> None:
            watcher()
            if display is not None:
                display.update()

        try:
            run_local_workers(
                run_dir,
                workers=workers,
                architectures=len(architectures),
                max_restarts=max_restarts,
                on_poll=poll,
                deadline=None if budget is None else start + budget,
            )
        except InputError:
            # A chief stopped by the failure limit: the same one line as in one process.
            stopped = saved_failure_limit_error(run_dir, architectures, search.max_consecutive_failures)
            if stopped is None:
                raise
            raise stopped from None
        watcher()  # the trials that ended after the last poll
    # The chief writes the table as it ends; written again from the trial files here, for a
    # chief that died after the last worker had finished (nothing left to restart it for).
    table = collect_trials(run_dir, architectures, search.objective)
    write_trials(run_dir, table)
    log_leaderboard(table, search.objective, cut=time_cut_line(table, read_time_budget(run_dir), search.max_trials))
    return table


def _run_search(run_dir: Path, config: Config, **options):
    # Keras and TensorFlow are imported only once the settings and the data are known to be good.
    from rnnsweep.tuning.search import run_search

    return run_search(run_dir, config, **options)


def retrain_stage(run_dir: Path, overrides: dict | None = None) -> dict:
    """Retrain the best trials, tune and score the baselines, rank them all and compare
    the two chosen on validation (`RUN_DIR/leaderboard.json`); `overrides` change [retrain].

    Returns:
        Metrics by model name, plus "baselines" and "leaderboard".
    """
    from rnnsweep.tuning.retrain import retrain_best

    require_run_dir(run_dir)
    config = load_run_config(run_dir, overrides)
    use_backend(resolve_backend(config.search.backend, config.search.architectures))  # before Keras starts
    data = load_prepared(run_dir)  # read once, for every model and baseline
    read_trials(run_dir)  # a half-made run fails here, before anything is written
    if overrides:
        open_run(run_dir, config)
    else:
        claim_run_dir(run_dir)  # an earlier release's run is adopted (marker written) before results are
    with _timed(run_dir, "retrain"):
        results = retrain_best(run_dir, config, data=data)
    with _timed(run_dir, "baselines"):
        results["baselines"] = run_baselines(
            run_dir, data=data, objective=config.search.objective, balance=config.data.balance, seed=config.data.seed
        )
    results["leaderboard"] = build_leaderboard(run_dir, data=data, objective=config.search.objective)
    return results


def report_stage(run_dir: Path) -> Path:
    """Write `RUN_DIR/report/index.html` from saved artifacts; return its path."""
    from rnnsweep.reports.build import build_report

    claim_run_dir(require_run_dir(run_dir))
    with _timed(run_dir, "report"):
        index = build_report(run_dir)
    figures = len(list(index.parent.glob("*.png")))
    logger.info("report: %s and %d figures in %s", index.name, figures, index.parent)
    return index


def run_all(
    config: Config,
    run_dir: Path,
    *,
    overwrite: bool = False,
    workers: int | str | None = None,
    max_worker_restarts: int = DEFAULT_MAX_WORKER_RESTARTS,
    enqueue: str | Path | None = None,
    warm_start: str | None = None,
) -> Path:
    """Every stage in order: data, tune, retrain (with baselines), report.

    Re-running after an interruption resumes the sweep; finished stages after it run again.

    Args:
        config: The sweep configuration.
        run_dir: The run directory.
        overwrite: Delete the run's earlier results first (default False).
        workers: Local worker processes for the sweep, as in `tune_stage` (default None:
            "auto").
        max_worker_restarts: With workers, restarts allowed per dead worker (default 3).
        enqueue: Hyperparameter sets tried first, as in `tune_stage` (default None).
        warm_start: `RUN_DIR[:K]`, as in `tune_stage` (default None).

    Returns:
        The report's `index.html`.
    """
    tune_stage(
        config,
        run_dir,
        overwrite=overwrite,
        workers=workers,
        max_worker_restarts=max_worker_restarts,
        enqueue=enqueue,
        warm_start=warm_start,
    )
    retrain_stage(run_dir)
    return report_stage(run_dir)
