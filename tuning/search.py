"""The sweep engine: one keras-tuner project per architecture, resumable, failure-tolerant."""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import logging
import math
import subprocess
import sys
import time
from concurrent import futures
from pathlib import Path

import grpc
import keras
import keras_tuner
import numpy as np
from keras_tuner.src import protos
from keras_tuner.src import utils as kt_utils
from keras_tuner.src.distribute import oracle_chief
from keras_tuner.src.engine.trial import Trial, TrialStatus

from data_prep.errors import InputError
from data_prep.files import write_atomically
from data_prep.prepare import PreparedData, load_prepared
from models.architectures import Architecture, resolve_architectures
from models.builders import build_model
from models.head import encode_targets
from models.search_space import default_search_space
from models.spec import ModelSpec
from tuning.config import Config, check_same_settings, save_config
from tuning.distributed import Role, keras_tuner_environment
from tuning.inputs import LengthBucketedBatches, bucketed_tf_dataset
from tuning.stopping import MedianStopping
from tuning.trials import collect_trials, record_duration, write_trials

logger = logging.getLogger("rnnsweep")


def _save_json_atomically(path, obj):
    # keras-tuner writes its state files in place; a kill mid-write leaves truncated JSON
    # that no reload recovers from. Writing a sibling file and renaming it is atomic.
    text = json.dumps(obj)
    write_atomically(path, text)
    return text


kt_utils.save_json = _save_json_atomically


class NonFiniteLossError(keras_tuner.errors.FailedTrialError):
    """A trial's loss became NaN or infinite."""


class FailOnNonFiniteLoss(keras.callbacks.Callback):
    """Fail the trial when the loss stops being finite.

    keras-tuner records a NaN-loss trial with a `val_auc` objective as COMPLETED with
    AUC 0.0; raising `FailedTrialError` makes it FAILED with this reason instead.
    """

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise NonFiniteLossError(f"non-finite loss ({loss}) at batch {batch}")


def model_spec(data: PreparedData, *, bucket_by_length: bool, trainable: bool = False) -> ModelSpec:
    """The `ModelSpec` of prepared data (free sequence length when batches are bucketed)."""
    return ModelSpec(
        vocab_size=len(data.vocabulary),
        sequence_length=None if bucket_by_length else data.sequence_length,
        num_classes=data.num_classes,
        embedding_matrix=data.embedding_matrix,
        embedding_trainable=trainable,
    )


def fit_inputs(data: PreparedData, split: str, *, batch_size: int, bucket: bool, shuffle: bool, seed: int):
    """Keyword arguments for `fit` holding one split's inputs (validation: pass on `x`, or `x`, `y`).

    Bucketed batches come as a `tf.data` pipeline on TensorFlow and as a `PyDataset` on
    other backends (`tuning.inputs`).
    """
    targets = encode_targets(data.y[split], data.num_classes)
    if bucket:
        batches = LengthBucketedBatches(data.x[split], targets, batch_size=batch_size, shuffle=shuffle, seed=seed)
        inputs = bucketed_tf_dataset(batches) if keras.backend.backend() == "tensorflow" else batches
        return {"x": inputs, "shuffle": False}  # the batches shuffle themselves; Keras would warn
    return {"x": data.x[split], "y": targets, "batch_size": batch_size, "shuffle": shuffle}


class SweepTuner:
    """Behaviour every rnnsweep tuner adds to keras-tuner's (mixed in before it).

    - any exception in a trial fails that trial at once with its reason (keras-tuner
      would retry deterministic failures with the same values);
    - median stopping of trials that trail the finished ones (`MedianStopping`);
    - a progress line after each trial.
    """

    progress = None  # set by run_search: called with the finished trial
    median_stopping_min_trials = 0  # set by make_tuner; 0: record each trial's curve, stop none

    def on_trial_begin(self, trial):
        super().on_trial_begin(trial)
        self._trial_started = time.monotonic()

    def run_trial(self, trial, *args, **kwargs):
        stopping = MedianStopping(
            trial_dir=self.get_trial_dir(trial.trial_id),
            project_dir=self.project_dir,
            trial_id=trial.trial_id,
            objective=self.oracle.objective.name,
            direction=self.oracle.objective.direction,
            epochs=kwargs.get("epochs", 1),
            min_trials=self.median_stopping_min_trials,
        )
        kwargs["callbacks"] = [*kwargs.get("callbacks", []), stopping]
        try:
            return super().run_trial(trial, *args, **kwargs)
        except keras_tuner.errors.FailedTrialError:
            raise
        except Exception as error:  # noqa: BLE001 - every other error fails just this trial
            name = type(error).__name__
            if "ResourceExhausted" in name or isinstance(error, MemoryError):
                raise keras_tuner.errors.FailedTrialError(f"out of memory: {error}") from error
            raise keras_tuner.errors.FailedTrialError(f"{name}: {error}") from error
        finally:
            gc.collect()

    def on_trial_end(self, trial):
        record_duration(self.get_trial_dir(trial.trial_id), time.monotonic() - self._trial_started)
        super().on_trial_end(trial)
        if self.progress:
            self.progress(trial)


TUNER_CLASSES = {
    "random": type("RandomSweep", (SweepTuner, keras_tuner.RandomSearch), {}),
    "hyperband": type("HyperbandSweep", (SweepTuner, keras_tuner.Hyperband), {}),
    "bayesian": type("BayesianSweep", (SweepTuner, keras_tuner.BayesianOptimization), {}),
}


def make_tuner(
    config: Config, architecture: Architecture, data: PreparedData, project_root: Path, **tuner_options
) -> keras_tuner.Tuner:
    """A keras-tuner tuner for one architecture, resuming its project if one exists.

    Args:
        config: The sweep configuration.
        architecture: The architecture to tune.
        data: The prepared data (for vocabulary, length and classes).
        project_root: Folder holding one project per architecture.
        **tuner_options: Passed on to the tuner (e.g. `distribution_strategy`).

    Returns:
        The tuner; `overwrite=False`, so completed trials are kept.
    """
    search = config.search
    spec = model_spec(data, bucket_by_length=search.bucket_by_length, trainable=config.data.embeddings_trainable)
    space = default_search_space(architecture.name, search.space)
    hypermodel = functools.partial(build_model, spec=spec, architecture=architecture, space=space)
    direction = "min" if search.objective == "val_loss" else "max"
    options = {
        "hypermodel": hypermodel,
        "objective": keras_tuner.Objective(search.objective, direction),
        "seed": search.seed,
        "executions_per_trial": search.executions_per_trial,
        "max_consecutive_failed_trials": search.max_consecutive_failures,
        "directory": str(project_root),
        "project_name": architecture.name,
        "overwrite": False,
    }
    if search.tuner == "hyperband":
        options["max_epochs"] = search.epochs
        # Hyperband sizes its own budget from max_epochs; one iteration keeps it bounded.
        options["hyperband_iterations"] = 1
    else:
        options["max_trials"] = search.max_trials
    tuner = TUNER_CLASSES[search.tuner](**{**options, **tuner_options})
    if search.median_stopping and search.tuner != "hyperband":  # Hyperband stops trials its own way
        tuner.median_stopping_min_trials = search.median_stopping_min_trials
    # keras-tuner saves oracle.json before it forgets an ended trial, so a reloaded project
    # can list a finished trial as still running and run it a second time. Forget those.
    oracle = tuner.oracle
    for tuner_id, trial in list(getattr(oracle, "ongoing_trials", {}).items()):  # a worker's client has none
        if trial.status in ("COMPLETED", "FAILED", "INVALID"):
            del oracle.ongoing_trials[tuner_id]
    return tuner


def mirrored_strategy():
    """TensorFlow's `MirroredStrategy` over every visible GPU (for `multi_gpu`).

    Raises:
        InputError: Not the TensorFlow backend, or fewer than two GPUs.
    """
    if keras.backend.backend() != "tensorflow":
        raise InputError(f"multi_gpu needs the TensorFlow backend. Received: KERAS_BACKEND={keras.backend.backend()!r}")
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if len(gpus) < 2:
        raise InputError(f"multi_gpu needs two or more GPUs; {len(gpus)} visible. Turn multi_gpu off")
    return tf.distribute.MirroredStrategy()


class Progress:
    """One log line per finished trial: the sweep's count, best so far and ETA.

    Counts are read from the trial files, so they stay right on resume and when other
    processes (isolated trials, distributed workers) finish trials too.
    """

    def __init__(self, run_dir: Path, architectures, max_trials: int, objective: str, prefix: str = ""):
        self.projects = {a.name: Path(run_dir) / "search" / a.name for a in architectures}
        self.max_trials = max_trials
        self.total = max_trials * len(self.projects)
        self.objective = objective
        self.prefix = prefix
        self.started = time.monotonic()
        self.done_at_start = self.count()

    def count(self) -> int:
        return sum(min(_finished_trials(p), self.max_trials) for p in self.projects.values())

    def __call__(self, architecture: str, trial) -> None:
        done = self.count()
        elapsed = time.monotonic() - self.started
        finished_here = done - self.done_at_start
        eta = elapsed / finished_here * max(0, self.total - done) if finished_here > 0 else 0.0
        # The trial's file is the truth: a distributed worker's copy holds no score.
        path = self.projects[architecture] / f"trial_{trial.trial_id}" / "trial.json"
        saved = json.loads(path.read_text()) if path.is_file() else {}
        status, score = saved.get("status", trial.status), saved.get("score", trial.score)
        if status == "COMPLETED" and score is not None:
            scores = _completed_scores(self.projects[architecture])
            best = (min if self.objective == "val_loss" else max)(scores or [score])
            text = f"{self.objective} {score:.4f}, best {best:.4f}"
        else:
            lines = (saved.get("message") or trial.message or "").strip().splitlines()
            text = f"{str(status).lower()}: {lines[-1][:120] if lines else 'no message'}"
        logger.info(
            "%s%s trial %d of %d: %s | elapsed %s, ETA %s",
            self.prefix,
            architecture,
            done,
            self.total,
            text,
            _clock(elapsed),
            _clock(eta),
        )


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}m{seconds:02d}s"


def _trial_files(project_dir: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in Path(project_dir).glob("trial_*/trial.json")]


def _finished_trials(project_dir: Path) -> int:
    """Trials of a project that ended (completed, failed or invalid), from their files."""
    return sum(t["status"] in ("COMPLETED", "FAILED", "INVALID") for t in _trial_files(project_dir))


def _completed_scores(project_dir: Path) -> list[float]:
    return [t["score"] for t in _trial_files(project_dir) if t["status"] == "COMPLETED" and t["score"] is not None]


def search_architecture(
    run_dir: Path,
    config: Config,
    architecture: Architecture,
    *,
    data: PreparedData,
    progress: Progress,
    max_trials: int | None = None,
    tuner_options: dict | None = None,
) -> None:
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

    Raises:
        InputError: Too many consecutive failed trials.
    """
    search = config.search
    bucket = search.bucket_by_length
    callbacks = [FailOnNonFiniteLoss()]
    if search.early_stopping_patience:
        mode = "min" if search.objective == "val_loss" else "max"
        callbacks.append(
            keras.callbacks.EarlyStopping(search.objective, patience=search.early_stopping_patience, mode=mode)
        )
    if search.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(Path(run_dir) / "tensorboard")))
    train = fit_inputs(data, "train", batch_size=search.batch_size, bucket=bucket, shuffle=True, seed=search.seed)
    validation = fit_inputs(data, "validation", batch_size=search.batch_size, bucket=bucket, shuffle=False, seed=0)
    options = dict(tuner_options or {})
    if max_trials is not None and search.tuner != "hyperband":
        options["max_trials"] = max_trials
    tuner = make_tuner(config, architecture, data, Path(run_dir) / "search", **options)
    tuner.progress = functools.partial(progress, architecture.name)
    try:
        tuner.search(
            **train,
            validation_data=validation["x"] if bucket else (validation["x"], validation["y"]),
            epochs=search.epochs,
            class_weight=data.class_weight,
            callbacks=callbacks,
            verbose=0,
        )
    except RuntimeError as error:
        if "consecutive failures" not in str(error):
            raise
        # keras-tuner raises before writing the last failed trial's file; write them all.
        for trial in tuner.oracle.trials.values():
            tuner.oracle._save_trial(trial)
        reason = str(error).strip().splitlines()[-1][:200]
        raise InputError(
            f"sweep stopped: {search.max_consecutive_failures} trials failed in a row (last: {reason}); "
            "see trials.csv, fix the search space, or raise max_consecutive_failures"
        ) from None


def _search_in_subprocesses(run_dir: Path, config: Config, architecture: Architecture) -> None:
    """Run each trial of one architecture in a fresh Python process (`isolate_trials`).

    Every process resumes the project and stops after one more trial, so memory held by
    TensorFlow or leaked by a trial is returned to the system after each trial.
    """
    project = Path(run_dir) / "search" / architecture.name
    deaths = 0
    while (finished := _finished_trials(project)) < config.search.max_trials:
        command = [sys.executable, "-P", "-m", "tuning.worker", str(run_dir), architecture.name, str(finished + 1)]
        result = subprocess.run(command, stdout=subprocess.PIPE, text=True)
        if result.returncode == 2:
            raise InputError(result.stdout.strip().splitlines()[-1])
        if result.returncode != 0 or _finished_trials(project) == finished:
            deaths += 1
            if deaths >= 2:
                raise InputError(
                    f"the trial process for {architecture.name} ended twice (exit code {result.returncode}) "
                    "without finishing a trial; see the messages above, or set isolate_trials = false"
                )
            continue
        deaths = 0


def run_search(
    run_dir: Path, config: Config, *, tuner_options: dict | None = None, role: Role | None = None
) -> pandas.DataFrame:  # noqa: F821
    """Run (or resume) the sweep over every configured architecture.

    Reads `RUN_DIR/data`, writes `RUN_DIR/search/<architecture>/` (keras-tuner
    projects) and `trials.csv`/`trials.json`. With `isolate_trials`, each trial runs
    in a fresh subprocess.

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
    run_dir = Path(run_dir)
    search = config.search
    data = load_prepared(run_dir)
    check_same_settings(run_dir, config)
    if search.isolate_trials and (tuner_options or role):
        raise InputError("isolate_trials runs trials in subprocesses of one sweep; turn it off for distributed sweeps")
    if not (run_dir / "config.toml").is_file():
        save_config(config, run_dir / "config.toml")  # trial subprocesses read it
    (run_dir / "search").mkdir(parents=True, exist_ok=True)

    architectures = resolve_architectures(search.architectures, search.custom_architectures)
    keras.utils.set_random_seed(search.seed)
    if search.multi_gpu:
        tuner_options = {"distribution_strategy": mirrored_strategy(), **(tuner_options or {})}
    prefix = f"[{role.tuner_id}] " if role else ""
    progress = Progress(run_dir, architectures, search.max_trials, search.objective, prefix=prefix)
    try:
        if role is not None and role.role == "chief":
            serve_architectures(run_dir, config, architectures, data=data, role=role, tuner_options=tuner_options)
        else:
            for index, architecture in enumerate(architectures):
                if search.isolate_trials:
                    _search_in_subprocesses(run_dir, config, architecture)
                    continue
                with keras_tuner_environment(role, index) if role else contextlib.nullcontext():
                    search_architecture(
                        run_dir, config, architecture, data=data, progress=progress, tuner_options=tuner_options
                    )
    finally:
        table = collect_trials(run_dir, architectures, search.objective)
        if role is None or role.role == "chief":
            write_trials(run_dir, table)
    if role is None or role.role == "chief":
        _log_leaderboard(table, search.objective)
    return table


class _Servicer(oracle_chief.OracleServicer):
    """keras-tuner's oracle service, noting which workers asked for trials and (when given
    a `stopped` set) which were told to stop."""

    def __init__(self, oracle, seen: set, stopped: set | None = None):
        super().__init__(oracle)
        self.seen, self.stopped = seen, stopped

    def CreateTrial(self, request, context):  # noqa: N802 - gRPC method name
        self.seen.add(request.tuner_id)
        response = super().CreateTrial(request, context)
        if self.stopped is not None and Trial.from_proto(response.trial).status == TrialStatus.STOPPED:
            self.stopped.add(request.tuner_id)
        return response


def serve_architectures(
    run_dir: Path, config: Config, architectures, *, data: PreparedData, role: Role, tuner_options: dict | None = None
) -> None:
    """The chief's part of a distributed sweep: serve every architecture's oracle at once.

    Architecture i is served on port `role.port + i`. keras-tuner's own chief serves one
    oracle and, once it has told a worker to stop, polls every 20 s until the others have
    left; serving the architectures one after another made every worker wait for the
    slowest at each architecture. Here a worker that finds no trial left in one
    architecture moves straight on to the next. Every server stays up until each worker
    seen has been told to stop by the last architecture (workers go through all of them in
    order, so a restarted worker can still reach the one it died in), and no trial runs.

    Raises:
        InputError: A port is taken.
    """
    seen, finished = set(), set()
    servers, servicers = [], []
    try:
        for index, architecture in enumerate(architectures):
            with keras_tuner_environment(role, index):
                tuner = make_tuner(config, architecture, data, Path(run_dir) / "search", **(tuner_options or {}))
            tuner.save()
            servicer = _Servicer(tuner.oracle, seen, finished if index == len(architectures) - 1 else None)
            server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
            protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
            address = f"{role.host}:{role.port + index}"
            try:
                bound = server.add_insecure_port(address)
            except RuntimeError:  # grpc raises where older versions returned 0
                bound = 0
            if not bound:
                raise InputError(f"the chief cannot listen on {address}; pass --oracle with a free HOST:PORT")
            server.start()
            servers.append(server)
            servicers.append(servicer)
        logger.info("[chief] serving %d architecture(s) on %s:%d", len(servers), role.host, role.port)
        while not (
            seen and seen <= finished and all(oracle_chief.exit_chief(servicer.oracle) for servicer in servicers)
        ):
            time.sleep(0.5)
    finally:
        for server in servers:
            server.stop(grace=None)


def _log_leaderboard(table, objective: str) -> None:
    best = best_trials(table, objective=objective)
    if best.empty:
        logger.info("no trial completed")
        return
    logger.info("leaderboard (best trial per architecture, %s):", objective)
    for rank, row in enumerate(best.itertuples(), start=1):
        logger.info("  %d. %-12s %.4f  (trial %s)", rank, row.architecture, row.objective, row.trial_id)


def best_trials(table, *, objective: str, top: int = 0):
    """Best completed trials: one per architecture (top=0) or the `top` best overall."""
    completed = table[table["status"] == "COMPLETED"].copy()
    completed = completed[np.isfinite(completed["objective"].astype(float))]
    ascending = objective == "val_loss"
    completed = completed.sort_values("objective", ascending=ascending)
    if top:
        return completed.head(top)
    return completed.groupby("architecture", sort=False).head(1)
