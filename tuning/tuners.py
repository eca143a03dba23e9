"""keras-tuner, adapted: rnnsweep's tuner classes and the only module that touches keras-tuner's internals.

keras-tuner 1.4 has no public API for four things rnnsweep needs; each is done here, as
narrowly as possible, and tests/test_keras_tuner_shims.py fails if keras-tuner changes
under it (the pin in pyproject.toml is the range those tests passed on):

- `atomic_state_files`: its state files are written in place; during a sweep they are
  written to a sibling file and renamed (a kill mid-write left truncated JSON).
- `forget_ended_retries`: a reloaded chief's project can queue a finished trial for a
  retry, which a re-run would train again.
- `reload_project_oracle`: a project is reloaded only by the process whose own tuner file
  is there, so a chief resuming a one-process sweep started its oracle afresh.
- `consecutive_failures`: the failure limit is read from the oracle's own record.
- `stop_starting_trials_at`, `past_deadline`: a time budget; keras-tuner stops only at
  `max_trials`. `try_queued_first`: trials of given values first (keras-tuner has no enqueue).
- `OracleServicer`, `add_oracle_service`, `chief_may_exit`: its gRPC chief, served by
  `tuning.chief` for every architecture at once; `end_trial_or_reach_failure_limit`: the
  failure limit, which keras-tuner raises inside the chief's gRPC handler, answered there;
  `connect_to_chief`: a worker's oracle client reconnects quickly, waits a bounded time and
  sends the sweep's token and its id; `give_back_interrupted_trials`: a restarted chief leaves
  running trials with their workers; `take_back_trial`, `queued_retries`: a silent worker's
  trial is run by another.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import logging
import os
import time
from pathlib import Path

import keras
import keras_tuner
from keras_tuner.engine.trial import Trial, TrialStatus

# keras-tuner's private modules, used in this module only.
from keras_tuner.src import protos as _kt_protos
from keras_tuner.src import utils as _kt_utils
from keras_tuner.src.distribute import oracle_chief as _kt_oracle_chief
from keras_tuner.src.distribute import oracle_client as _kt_oracle_client
from keras_tuner.src.engine import oracle as _kt_oracle

from rnnsweep.data_prep.files import write_atomically
from rnnsweep.data_prep.layout import ENQUEUED, RunLayout
from rnnsweep.data_prep.prepare import PreparedData
from rnnsweep.models import objective as objectives
from rnnsweep.models.architectures import Architecture
from rnnsweep.models.builders import build_model
from rnnsweep.models.search_space import default_search_space
from rnnsweep.tuning import interrupts
from rnnsweep.tuning.config import Config
from rnnsweep.tuning.inputs import model_spec
from rnnsweep.tuning.leases import chief_channel
from rnnsweep.tuning.stopping import MedianStopping, StopWhenTakenBack, TrialTakenBackError
from rnnsweep.tuning.trials import record_duration, record_failure

logger = logging.getLogger(__name__)

ENDED = (TrialStatus.COMPLETED, TrialStatus.FAILED)

OracleServicer = _kt_oracle_chief.OracleServicer


def kt_service():
    """keras-tuner's gRPC message classes (`EndTrialResponse`, ...)."""
    return _kt_protos.get_service()


def add_oracle_service(servicer, server) -> None:
    """Register keras-tuner's oracle service on a `grpc.server`."""
    _kt_protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)


def chief_may_exit(oracle) -> bool:
    """keras-tuner's own test (no trial running, every worker told to stop), and no trial
    waiting for a retry (keras-tuner's chief would leave a taken-back trial unrun) unless the
    time budget has passed (the retry waits for the next command)."""
    return _kt_oracle_chief.exit_chief(oracle) and (not oracle._retry_queue or past_deadline(oracle))


def stop_starting_trials_at(oracle, deadline: float) -> None:
    """From `deadline` (a `time.time()` value) on, answer every request for a new trial as
    keras-tuner does once `max_trials` is reached (a STOPPED trial, the tuner leaves), so no
    trial starts; running trials finish. `oracle.cut_by_time` becomes True when a trial was
    refused that the oracle would have started (not yet at `max_trials`, or a retry queued).

    keras-tuner has no deadline of its own; its `create_trial` is replaced on this instance,
    which both a single process's tuner and the chief's gRPC servicer call.
    """
    create_trial = oracle.create_trial
    oracle.rnnsweep_deadline, oracle.cut_by_time = deadline, False

    def create_trial_before_the_deadline(tuner_id):
        if not past_deadline(oracle) or tuner_id in oracle.ongoing_trials:
            return create_trial(tuner_id)
        if oracle._retry_queue or oracle.max_trials is None or len(oracle.trials) < oracle.max_trials:
            oracle.cut_by_time = True
        oracle.tuner_ids.discard(tuner_id)  # as keras-tuner does for the tuner it stops
        return Trial(oracle.get_space(), status=TrialStatus.STOPPED)

    oracle.create_trial = create_trial_before_the_deadline


def try_queued_first(oracle, queue: list[dict]) -> None:
    """Give each queued hyperparameter set (`warm_start.resolve_queue`) to the next new trial,
    before the tuner's own choices; names a set leaves out take the space's defaults.

    keras-tuner has no enqueue (Optuna's `enqueue_trial`); `populate_space`, which every
    oracle calls for a new trial's values, is replaced on this instance. A set whose values a
    trial of the project already has (a resumed command) is skipped, by keras-tuner's own
    record of the values it tried. The trial's folder records where its values came from
    (`layout.ENQUEUED`). Queued trials count towards `max_trials` and draw nothing from the
    tuner's seed stream.
    """
    populate_space = oracle.populate_space
    pending = list(queue)

    def populate_queued_first(trial_id):
        while pending:
            entry = pending.pop(0)
            values = {**oracle.hyperparameters.values, **entry["values"]}
            if oracle._compute_values_hash(values) in oracle._tried_so_far:
                continue
            trial_dir = Path(oracle._get_trial_dir(trial_id))
            write_atomically(trial_dir / ENQUEUED, json.dumps({"source": entry["source"], "values": entry["values"]}))
            return {"status": TrialStatus.RUNNING, "values": values}
        return populate_space(trial_id)

    oracle.populate_space = populate_queued_first


def past_deadline(oracle) -> bool:
    """Whether `stop_starting_trials_at` gave `oracle` a deadline that has passed."""
    deadline = getattr(oracle, "rnnsweep_deadline", None)
    return deadline is not None and time.time() >= deadline


def connect_to_chief(oracle, token: str | None, tls_ca: bytes | None = None) -> None:
    """Rebuild a worker's keras-tuner oracle client channel (`leases.chief_channel`): quick
    reconnects, a bounded wait, and the sweep's token and the worker's id on every call.

    keras-tuner's `OracleClient` opens its own channel with neither metadata nor options; its
    stub is rebuilt here on a channel to the same address. A chief's or a single process's
    oracle has no stub: nothing to do.
    """
    if not isinstance(oracle, _kt_oracle_client.OracleClient):
        return
    address = f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"
    channel = chief_channel(address, token=token, tuner_id=os.environ["KERASTUNER_TUNER_ID"], tls_ca=tls_ca)
    oracle.stub = _kt_protos.get_service_grpc().OracleStub(channel)


@_kt_oracle.synchronized  # keras-tuner's per-oracle lock: gRPC threads call the same oracle
def take_back_trial(oracle, tuner_id: str) -> str | None:
    """Forget worker `tuner_id` in `oracle` (its lease ran out); its running trial, if any,
    goes to the retry queue, for the next worker that asks. Returns that trial's id.

    keras-tuner keeps a dead worker's trial running and its id among the oracle's workers
    for ever, so its chief never ends.
    """
    oracle.tuner_ids.discard(tuner_id)
    trial = oracle.ongoing_trials.pop(tuner_id, None)
    if trial is None:
        return None
    oracle._retry_queue.append(trial.trial_id)
    oracle.save()
    return trial.trial_id


def queued_retries(oracle) -> list[str]:
    """Trials waiting in `oracle` for a worker to run them again."""
    return list(oracle._retry_queue)


def give_back_interrupted_trials(oracle, ongoing: dict[str, str]) -> list[str]:
    """In a chief restarted under running workers: each trial the dead chief had handed out
    stays its worker's, instead of going to keras-tuner's retry queue for anyone to take.

    keras-tuner's reload queues every trial that was running for a retry; a live worker
    would then finish its trial while another trained it again. Here each unfinished trial
    is ongoing again for the worker that had it (`ongoing`, tuner id -> trial id, as the dead
    chief saved it): that worker's reports land on it, and the same worker restarted gets it
    back. Returns the trial ids given back.
    """
    given = []
    for tuner_id, trial_id in ongoing.items():
        trial = oracle.trials.get(trial_id)
        if trial is None or trial.status in ENDED:
            continue
        if trial_id in oracle._retry_queue:
            oracle._retry_queue.remove(trial_id)
        oracle.ongoing_trials[tuner_id] = trial
        if trial_id not in oracle._display.trial_start:
            # keras-tuner saves oracle.json before its display notes a new trial; ending a
            # trial the display never noted raised a KeyError inside the gRPC handler.
            oracle._display.on_trial_begin(trial)
        given.append(trial_id)
    return given


def _save_json_atomically(path, obj):
    text = json.dumps(obj)
    write_atomically(path, text)
    return text


@contextlib.contextmanager
def atomic_state_files():
    """Inside: keras-tuner writes its state files (oracle.json, trial.json, tunerN.json)
    atomically, to a sibling file renamed over the old one.

    A process killed while keras-tuner wrote one in place left truncated JSON that no
    reload recovers from. keras-tuner looks `save_json` up in its utils module at each
    call, so replacing it there for the duration of a sweep is enough; the original is
    put back afterwards, for anyone else in the process (it also writes cloud paths).
    """
    original = _kt_utils.save_json
    _kt_utils.save_json = _save_json_atomically
    try:
        yield
    finally:
        _kt_utils.save_json = original


def reload_project_oracle(tuner) -> bool:
    """Reload the oracle saved in the tuner's project when keras-tuner did not; return whether.

    keras-tuner reloads a project only when this process's own tuner file
    (`<tuner id>.json`) is there. A one-process sweep writes `tuner0.json` and a distributed
    sweep's chief `chief.json`, so a chief continuing a one-process sweep (`--workers` given the
    second time, or "auto" on a machine with more cores) started its oracle afresh and trained
    every trial again. The oracle's state is the project's, whichever process wrote it. A
    worker's oracle client holds no state: nothing to do.
    """
    oracle = tuner.oracle
    if isinstance(oracle, _kt_oracle_client.OracleClient) or os.path.exists(tuner._get_tuner_fname()):
        return False
    if not os.path.exists(oracle._get_oracle_fname()):
        return False
    oracle.reload()
    return True


def forget_ended_retries(oracle) -> list[str]:
    """Drop finished trials from a reloaded oracle's retry queue; return their ids.

    keras-tuner's `Oracle.end_trial` saves oracle.json before it removes the ended trial
    from `ongoing_trials`, and `Oracle.reload` sends every ongoing trial to the retry
    queue. A chief (which never saves again after the last trial) therefore leaves the
    last trial of each worker "ongoing", and re-running a finished sweep trained it again
    and replaced its score. An interrupted trial (RUNNING) or one awaiting a retry
    (INVALID) stays queued. A worker's oracle client has no queue: nothing to do.
    """
    queue = getattr(oracle, "_retry_queue", None)
    if queue is None:
        return []
    ended = [trial_id for trial_id in queue if oracle.trials[trial_id].status in ENDED]
    queue[:] = [trial_id for trial_id in queue if trial_id not in ended]
    return ended


def consecutive_failures(oracle) -> int:
    """Failed trials at the end of the oracle's order of ended trials."""
    count = 0
    for trial_id in oracle.end_order:
        count = count + 1 if oracle.trials[trial_id].status == TrialStatus.FAILED else 0
    return count


def save_every_trial(oracle) -> None:
    """Write every trial's file and oracle.json; keras-tuner raises its failure limit before
    writing the last trial's."""
    for trial in oracle.trials.values():
        oracle._save_trial(trial)
    oracle.save()


def end_trial_or_reach_failure_limit(end_trial, oracle, request, context):
    """Run keras-tuner's `OracleServicer.EndTrial`; return (response, whether the failure limit was reached).

    keras-tuner's oracle raises its consecutive-failure error inside `end_trial`, which on a
    chief is inside the gRPC handler: the worker got an opaque gRPC error, died and was
    restarted, and the sweep never ended with the documented message. Here the limit is
    answered normally, the trial is finished as keras-tuner would have (files saved, no
    longer ongoing) and reported to the caller, who stops the sweep.
    """
    try:
        return end_trial(request, context), False
    except RuntimeError:
        if consecutive_failures(oracle) < oracle.max_consecutive_failed_trials:
            raise
    save_every_trial(oracle)
    trial_id = Trial.from_proto(request.trial).trial_id
    for tuner_id, trial in list(oracle.ongoing_trials.items()):
        if trial.trial_id == trial_id:
            oracle.ongoing_trials.pop(tuner_id)
    return kt_service().EndTrialResponse(), True


class SweepTuner:
    """Behaviour every rnnsweep tuner adds to keras-tuner's (mixed in before it).

    - any exception in a trial fails that trial at once with its reason (keras-tuner
      would retry deterministic failures with the same values); keras-tuner's
      `FatalError` still ends the sweep;
    - median stopping of trials that trail the finished ones (`MedianStopping`);
    - a call to `progress` after each trial;
    - in a worker, a trial the chief took back (`heartbeat`) stops, and leaves no file
      behind: the worker that has it now writes them.
    """

    progress = None  # set by the sweep: called with the finished trial
    median_stopping_min_trials = 0  # set by make_tuner; 0: record each trial's curve, stop none
    heartbeat = None  # a worker's `leases.Heartbeat`, set by the sweep
    architecture_index = 0  # this tuner's architecture in the sweep, as the chief numbers them

    def _taken_back(self, trial) -> bool:
        return self.heartbeat is not None and self.heartbeat.taken_back(self.architecture_index, trial.trial_id)

    def on_trial_begin(self, trial):
        if self.heartbeat is not None:  # given (back) to this worker: its own now
            self.heartbeat.forget(self.architecture_index, trial.trial_id)
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
        if self.heartbeat is not None:
            kwargs["callbacks"].append(StopWhenTakenBack(functools.partial(self._taken_back, trial)))
        try:
            return super().run_trial(trial, *args, **kwargs)
        except (keras_tuner.errors.FatalError, TrialTakenBackError):
            raise
        except keras_tuner.errors.FailedTrialError as error:
            kind = type(error)
            record_failure(self.get_trial_dir(trial.trial_id), f"{kind.__module__}.{kind.__qualname__}: {error}")
            raise
        except Exception as error:  # noqa: BLE001 - every other error fails just this trial
            interrupts.raise_if_requested(error)  # Ctrl-C, disguised by the library it landed in
            name = type(error).__name__
            # One line: keras-tuner stores the traceback, whose last line trials.csv shows;
            # a multi-line message (Keras lists its arguments) left a garbled last line there.
            summary = (str(error).strip().splitlines() or [""])[0][:300]
            out_of_memory = "ResourceExhausted" in name or isinstance(error, MemoryError)
            reason = f"out of memory: {summary}" if out_of_memory else f"{name}: {summary}"
            record_failure(self.get_trial_dir(trial.trial_id), reason)
            raise keras_tuner.errors.FailedTrialError(reason) from error
        finally:
            gc.collect()

    def on_trial_end(self, trial):
        interrupts.raise_if_requested()  # Ctrl-C swallowed inside fit: the trial stays running, to resume
        if self._taken_back(trial):  # the chief ignores this worker's end of it
            logger.warning(
                "[%s] %s trial %s was given to another worker (this worker was silent longer than the "
                "chief's worker_timeout); moving on",
                os.environ.get("KERASTUNER_TUNER_ID"),
                self.project_name,
                trial.trial_id,
            )
            super().on_trial_end(trial)
            return
        record_duration(
            self.get_trial_dir(trial.trial_id), time.monotonic() - self._trial_started, keras.backend.backend()
        )
        super().on_trial_end(trial)
        if self.progress:
            self.progress(trial)


TUNER_CLASSES = {
    "random": type("RandomSweep", (SweepTuner, keras_tuner.RandomSearch), {}),
    "hyperband": type("HyperbandSweep", (SweepTuner, keras_tuner.Hyperband), {}),
    "bayesian": type("BayesianSweep", (SweepTuner, keras_tuner.BayesianOptimization), {}),
}


def make_tuner(
    config: Config,
    architecture: Architecture,
    data: PreparedData,
    project_root: Path,
    *,
    token: str | None = None,
    tls_ca: bytes | None = None,
    deadline: float | None = None,
    **tuner_options,
) -> keras_tuner.Tuner:
    """A keras-tuner tuner for one architecture, resuming its project if one exists.

    Args:
        config: The sweep configuration.
        architecture: The architecture to tune.
        data: The prepared data (for vocabulary, length and classes).
        project_root: Folder holding one project per architecture.
        token: The sweep's token, sent by a worker with every call (default None).
        tls_ca: The certificate a worker trusts for the chief's TLS, PEM (default None: plaintext).
        deadline: A `time.time()` value after which no trial starts (default None: none;
            see `stop_starting_trials_at`).
        **tuner_options: Passed on to the tuner (e.g. `distribution_strategy`).

    Returns:
        The tuner; `overwrite=False`, so ended trials are kept and never run again.
    """
    search = config.search
    spec = model_spec(data, bucket_by_length=search.bucket_by_length, trainable=config.data.embeddings_trainable)
    space = default_search_space(architecture.name, search.space)
    hypermodel = functools.partial(build_model, spec=spec, architecture=architecture, space=space)
    options = {
        "hypermodel": hypermodel,
        "objective": keras_tuner.Objective(search.objective, objectives.direction(search.objective)),
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
    reload_project_oracle(tuner)
    forget_ended_retries(tuner.oracle)
    connect_to_chief(tuner.oracle, token, tls_ca)
    if not isinstance(tuner.oracle, _kt_oracle_client.OracleClient):  # the process that owns the oracle
        if deadline is not None:
            stop_starting_trials_at(tuner.oracle, deadline)
        queue_file = RunLayout(Path(project_root).parent).queue
        queue = json.loads(queue_file.read_text()).get(architecture.name, []) if queue_file.is_file() else []
        if queue:
            try_queued_first(tuner.oracle, queue)
    return tuner
