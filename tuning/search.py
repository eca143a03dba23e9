"""The sweep: one resumable keras-tuner project per architecture, in this process or across workers."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import time
from pathlib import Path

import grpc
import keras
import keras_tuner
import pandas as pd

from rnnsweep.data_prep.errors import InputError
from rnnsweep.data_prep.layout import RunLayout, read_time_budget, time_cut_line
from rnnsweep.data_prep.prepare import PreparedData, load_prepared
from rnnsweep.models import objective as objectives
from rnnsweep.models.architectures import Architecture, resolve_architectures
from rnnsweep.tuning.config import Config, check_same_settings, parse_duration, save_config
from rnnsweep.tuning.distributed import DEADLINE_ENV, TOKEN_ENV, Role, keras_tuner_environment
from rnnsweep.tuning.exact_auc import ValidationAUC
from rnnsweep.tuning.inputs import fit_inputs, validation_data
from rnnsweep.tuning.leases import Heartbeat
from rnnsweep.tuning.progress import LiveReport, Progress
from rnnsweep.tuning.stopping import FailOnNonFiniteLoss
from rnnsweep.tuning.trials import (
    collect_trials,
    failure_limit_error,
    log_leaderboard,
    write_time_budget,
    write_trials,
)
from rnnsweep.tuning.tuners import (
    atomic_state_files,
    consecutive_failures,
    make_tuner,
    save_every_trial,
)

logger = logging.getLogger(__name__)


def search_architecture(
    run_dir: Path,
    config: Config,
    architecture: Architecture,
    *,
    data: PreparedData,
    progress: Progress,
    max_trials: int | None = None,
    tuner_options: dict | None = None,
    token: str | None = None,
    tls_ca: bytes | None = None,
    heartbeat: Heartbeat | None = None,
    index: int = 0,
    deadline: float | None = None,
) -> bool:
    """Run (or resume) one architecture's keras-tuner project in this process.

    Args:
        run_dir: The run directory.
        config: The sweep configuration.
        architecture: The architecture to tune.
        data: The prepared data.
        progress: Receives each finished trial.
        max_trials: Stop once the project has this many trials (default None:
            `config.search.max_trials`).
        tuner_options: Extra keyword arguments for the tuner (default None).
        token: A worker's token for the chief (default None).
        tls_ca: The certificate a worker trusts for the chief's TLS, PEM (default None: plaintext).
        heartbeat: A worker's heartbeat to the chief, which says when a trial was taken
            back from it (default None: not a worker).
        index: The architecture's place in the sweep, as the chief numbers them (default 0).
        deadline: A `time.time()` value after which no trial starts (default None: none).

    Returns:
        Whether the deadline kept a trial from starting.

    Raises:
        InputError: Too many consecutive failed trials, keras-tuner's `FatalError`, or a
            chief that refused the token.
    """
    search = config.search
    bucket = search.bucket_by_length
    # First: every later callback (and keras-tuner's score) reads the exact val_auc.
    exact_auc = ValidationAUC(data.x["validation"], data.y["validation"], batch_size=search.batch_size, bucket=bucket)
    callbacks = [exact_auc, FailOnNonFiniteLoss()]
    if search.early_stopping_patience:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                search.objective,
                patience=search.early_stopping_patience,
                mode=objectives.direction(search.objective),
            )
        )
    if search.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(RunLayout(run_dir).tensorboard)))
    train = fit_inputs(data, "train", batch_size=search.batch_size, bucket=bucket, shuffle=True, seed=search.seed)
    validation = fit_inputs(data, "validation", batch_size=search.batch_size, bucket=bucket, shuffle=False, seed=0)
    options = dict(tuner_options or {})
    if max_trials is not None and search.tuner != "hyperband":
        options["max_trials"] = max_trials
    with atomic_state_files():
        tuner = make_tuner(
            config,
            architecture,
            data,
            RunLayout(run_dir).search,
            token=token,
            tls_ca=tls_ca,
            deadline=deadline,
            **options,
        )
        tuner.progress = functools.partial(progress, architecture.name)
        tuner.heartbeat, tuner.architecture_index = heartbeat, index
        try:
            tuner.search(
                **train,
                validation_data=validation_data(validation),
                epochs=search.epochs,
                class_weight=data.class_weight,
                callbacks=callbacks,
                verbose=0,
            )
        except keras_tuner.errors.FatalError as error:
            raise InputError(f"sweep of {architecture.name} stopped by keras-tuner: {error}") from None
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.UNAUTHENTICATED:
                raise
            raise InputError(
                f"the chief refused this worker ({error.details()}); pass the chief's token "
                f"(${TOKEN_ENV} or --token-file)"
            ) from None
        except RuntimeError:
            oracle = tuner.oracle
            if not hasattr(oracle, "end_order") or consecutive_failures(oracle) < search.max_consecutive_failures:
                raise
            save_every_trial(oracle)
            last = oracle.trials[oracle.end_order[-1]]
            raise failure_limit_error(search.max_consecutive_failures, last.message) from None
    return getattr(tuner.oracle, "cut_by_time", False)


def search_deadline(time_budget: float | str | None) -> float | None:
    """When this command's search stops starting trials (a `time.time()` value, None: never):
    the launcher's deadline for a chief it started (`DEADLINE_ENV`), else now plus the budget."""
    if os.environ.get(DEADLINE_ENV):
        return float(os.environ[DEADLINE_ENV])
    seconds = parse_duration("time_budget", time_budget)
    return None if seconds is None else time.time() + seconds


def run_search(
    run_dir: Path, config: Config, *, tuner_options: dict | None = None, role: Role | None = None
) -> pd.DataFrame:
    """Run (or resume) the sweep over every configured architecture.

    Reads `RUN_DIR/data`, writes `RUN_DIR/search/<architecture>/` (keras-tuner
    projects) and `trials.csv`/`trials.json`. With `isolate_trials`, each trial runs
    in a fresh subprocess. Re-running a finished sweep trains nothing.

    Args:
        run_dir: The run directory (its data stage must have run).
        config: The sweep configuration.
        tuner_options: Extra keyword arguments for each tuner (default None).
        role: This process's part in a distributed sweep (default None: alone). The
            chief serves trials and writes the trials table; workers train.

    Returns:
        The trials table.

    Raises:
        InputError: Missing data, settings that differ from the saved run, or a sweep
            stopped by too many consecutive failed trials.
    """
    from rnnsweep.tuning.chief import serve_architectures
    from rnnsweep.tuning.devices import mirrored_strategy
    from rnnsweep.tuning.trial_process import search_in_subprocesses

    layout = RunLayout(run_dir)
    search = config.search
    data = load_prepared(run_dir)
    check_same_settings(run_dir, config)
    if search.isolate_trials and (tuner_options or role):
        raise InputError("isolate_trials runs trials in subprocesses of one sweep; turn it off for distributed sweeps")
    if not layout.config.is_file():
        save_config(config, layout.config)  # trial subprocesses read it
    layout.search.mkdir(parents=True, exist_ok=True)

    architectures = resolve_architectures(search.architectures, search.custom_architectures)
    keras.utils.set_random_seed(search.seed)
    if search.multi_gpu:
        tuner_options = {"distribution_strategy": mirrored_strategy(), **(tuner_options or {})}
    prefix = f"[{role.tuner_id}] " if role else ""
    # The page is drawn where the trials are counted: here alone; with workers, by the launcher.
    live = LiveReport(run_dir, architectures, search.max_trials, search.objective) if role is None else None
    progress = Progress(run_dir, architectures, search.max_trials, search.objective, prefix=prefix, on_trial=live)
    owner = role is None or role.role == "chief"  # of the oracles: the one that saves the record
    deadline = search_deadline(search.time_budget) if owner else None
    cut = set()
    with live if live is not None else contextlib.nullcontext():
        try:
            if role is not None and role.role == "chief":
                with atomic_state_files():
                    cut |= serve_architectures(
                        run_dir,
                        config,
                        architectures,
                        data=data,
                        role=role,
                        tuner_options=tuner_options,
                        deadline=deadline,
                    )
            else:
                with Heartbeat(role) if role else contextlib.nullcontext() as heartbeat:
                    pending = range(len(architectures))
                    while pending is not None:
                        for index in pending:
                            name = architectures[index].name
                            if search.isolate_trials:
                                if search_in_subprocesses(
                                    run_dir, config, architectures[index], deadline=deadline, on_trial=live
                                ):
                                    cut.add(name)
                                continue
                            with keras_tuner_environment(role, index) if role else contextlib.nullcontext():
                                stopped = search_architecture(
                                    run_dir,
                                    config,
                                    architectures[index],
                                    data=data,
                                    progress=progress,
                                    tuner_options=tuner_options,
                                    token=role.token if role else None,
                                    tls_ca=role.tls_ca if role else None,
                                    heartbeat=heartbeat,
                                    index=index,
                                    deadline=deadline,
                                )
                            if stopped:
                                cut.add(name)
                        # A worker goes back to architectures whose trials the chief took back from silent workers.
                        pending = heartbeat.next_work() if heartbeat else None
        finally:
            table = collect_trials(run_dir, architectures, search.objective)
            if owner:
                write_trials(run_dir, table)
    if owner:
        names = [a.name for a in architectures]
        write_time_budget(
            run_dir, parse_duration("time_budget", search.time_budget), names, [n for n in names if n in cut]
        )
        log_leaderboard(table, search.objective, cut=time_cut_line(table, read_time_budget(run_dir), search.max_trials))
    return table
