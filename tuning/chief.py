"""The chief of a distributed sweep: every architecture's keras-tuner oracle served at once over gRPC."""

from __future__ import annotations

import functools
import hmac
import json
import logging
import os
import time
from concurrent import futures
from pathlib import Path

import grpc
from keras_tuner.engine.trial import Trial, TrialStatus

from rnnsweep.data_prep.errors import InputError
from rnnsweep.data_prep.layout import RunLayout
from rnnsweep.data_prep.prepare import PreparedData
from rnnsweep.tuning.config import Config
from rnnsweep.tuning.distributed import (
    CHIEF_RESTART_ENV,
    TOKEN_ENV,
    TOKEN_METADATA,
    Role,
    keras_tuner_environment,
)
from rnnsweep.tuning.leases import WORKER_METADATA, Leases, caller, sweep_service
from rnnsweep.tuning.trials import failure_limit_error, record_lease_expiry, saved_failure_limit_error
from rnnsweep.tuning.tuners import (
    OracleServicer,
    add_oracle_service,
    chief_may_exit,
    end_trial_or_reach_failure_limit,
    give_back_interrupted_trials,
    kt_service,
    make_tuner,
    past_deadline,
    queued_retries,
    take_back_trial,
)

logger = logging.getLogger(__name__)


class _Gate(grpc.ServerInterceptor):
    """Every call: refused (UNAUTHENTICATED) without the sweep's token when there is one;
    else its worker noted as heard from (`Leases.touch`)."""

    def __init__(self, token: str | None, leases: Leases):
        self.token = token.encode() if token else None
        self.leases = leases

        def refuse(request, context):
            context.abort(
                grpc.StatusCode.UNAUTHENTICATED,
                "rnnsweep chief: missing or wrong token; start the worker with the chief's token "
                f"(${TOKEN_ENV} or --token-file)",
            )

        self.refusal = grpc.unary_unary_rpc_method_handler(refuse)

    def intercept_service(self, continuation, handler_call_details):
        metadata = dict(handler_call_details.invocation_metadata or ())
        if self.token is not None and not hmac.compare_digest(metadata.get(TOKEN_METADATA, "").encode(), self.token):
            return self.refusal
        self.leases.touch(metadata.get(WORKER_METADATA))
        return continuation(handler_call_details)


class _Servicer(OracleServicer):
    """keras-tuner's oracle service for architecture `index`, noting the workers that ask for
    trials, ignoring what a worker reports on a trial taken back from it, and noting whether
    the failure limit was reached."""

    def __init__(self, oracle, index: int, leases: Leases):
        super().__init__(oracle)
        self.index, self.leases = index, leases
        self.failure_limit_reached = False

    def CreateTrial(self, request, context):  # noqa: N802 - gRPC method name
        response = super().CreateTrial(request, context)
        if Trial.from_proto(response.trial).status == TrialStatus.RUNNING:
            self.leases.give(self.index, response.trial.trial_id, request.tuner_id)
        return response

    def UpdateTrial(self, request, context):  # noqa: N802 - gRPC method name
        if self.leases.was_taken_from(self.index, request.trial_id, caller(context)):
            stopped = Trial(self.oracle.get_space(), trial_id=request.trial_id, status=TrialStatus.STOPPED)
            return kt_service().UpdateTrialResponse(trial=stopped.to_proto())
        return super().UpdateTrial(request, context)

    def EndTrial(self, request, context):  # noqa: N802 - gRPC method name
        if self.leases.was_taken_from(self.index, request.trial.trial_id, caller(context)):
            return kt_service().EndTrialResponse()  # another worker has it now; its end counts
        response, reached = end_trial_or_reach_failure_limit(super().EndTrial, self.oracle, request, context)
        self.failure_limit_reached |= reached
        return response


def _next_work(servicers, leases: Leases, architectures: int, tuner_id: str) -> dict:
    """What a worker that went through every architecture does next: the architectures with
    trials to retry; nothing yet while other workers' trials run (one may be taken back) or
    while a restarted chief is still loading; or stop, the sweep being over."""
    if len(servicers) < architectures:
        return {"done": False, "architectures": []}
    queued = [
        servicer.index
        for servicer in servicers
        if queued_retries(servicer.oracle) and not past_deadline(servicer.oracle)  # a retry waits for the next command
    ]
    if queued or any(servicer.oracle.ongoing_trials for servicer in servicers):
        leases.join(tuner_id)
        return {"done": False, "architectures": queued}
    leases.finish(tuner_id)
    return {"done": True, "architectures": []}


def _expire_leases(run_dir: Path, architectures, servicers, leases: Leases) -> None:
    """Forget every worker silent for longer than the lease; its running trial goes to the next worker."""
    for tuner_id, silent in leases.expire():
        for servicer in servicers:
            trial_id = take_back_trial(servicer.oracle, tuner_id)
            if trial_id is None:
                continue
            name = architectures[servicer.index].name
            leases.take_back(servicer.index, trial_id, tuner_id)
            record_lease_expiry(RunLayout(run_dir).project(name) / f"trial_{trial_id}", tuner_id, silent)
            logger.warning(
                "[chief] %s trial %s: worker %s silent for %.0f s (worker_timeout %.0f s); "
                "the next worker to ask runs it",
                name,
                trial_id,
                tuner_id,
                silent,
                leases.timeout_s,
            )


def serve_architectures(
    run_dir: Path,
    config: Config,
    architectures,
    *,
    data: PreparedData,
    role: Role,
    tuner_options: dict | None = None,
    deadline: float | None = None,
) -> set[str]:
    """Serve every architecture's oracle until the sweep ends; the chief never trains.

    Architecture i is served on port `role.port + i`. keras-tuner's own chief serves one
    oracle and, once it has told a worker to stop, polls every 20 s until the others have
    left; serving the architectures one after another made every worker wait for the
    slowest at each architecture. Here a worker that finds no trial left in one
    architecture moves straight on to the next; after the last it asks for more work
    (`_next_work`), and the chief ends once every worker seen has been told the sweep is
    over and no trial runs or waits for a retry.

    Each worker holds a lease: one silent (no call, no heartbeat) for longer than
    `config.search.worker_timeout` is forgotten and its running trial goes to the next
    worker that asks (keras-tuner would wait for it for ever); the expiry is saved beside
    the trial, and what the silent worker says of that trial later is ignored. Started again
    by the launcher after dying (`CHIEF_RESTART_ENV` set), the chief leaves the trials it had
    handed out with their workers (`give_back_interrupted_trials`), leases counted from its start.
    After `deadline` (a `time.time()` value; default None: none) no trial starts, a retry
    included (it waits for the next command).

    Returns:
        The names of the architectures the deadline kept a trial from.

    Raises:
        InputError: A port is taken, or an architecture's trials failed
            `max_consecutive_failures` times in a row (the workers' trials end with the chief).
    """
    leases = Leases(config.search.worker_timeout)
    servers, servicers = [], []
    try:
        restarted = bool(os.environ.get(CHIEF_RESTART_ENV))
        for index, architecture in enumerate(architectures):
            # Read before the reload below empties it and `tuner.save()` overwrites it.
            saved = RunLayout(run_dir).project(architecture.name) / "oracle.json"
            ongoing = json.loads(saved.read_text()).get("ongoing_trials", {}) if restarted and saved.is_file() else {}
            with keras_tuner_environment(role, index):
                tuner = make_tuner(
                    config, architecture, data, RunLayout(run_dir).search, deadline=deadline, **(tuner_options or {})
                )
            given = give_back_interrupted_trials(tuner.oracle, ongoing)
            if given:
                logger.info("[chief] %s: trial(s) %s stay with their workers", architecture.name, ", ".join(given))
            for tuner_id in tuner.oracle.ongoing_trials:
                leases.join(tuner_id, took_trial=True)  # a worker that never comes back loses its trial
            tuner.save()
            servicer = _Servicer(tuner.oracle, index, leases)
            server = grpc.server(futures.ThreadPoolExecutor(max_workers=1), interceptors=[_Gate(role.token, leases)])
            add_oracle_service(servicer, server)
            next_work = functools.partial(_next_work, servicers, leases, len(architectures))
            server.add_generic_rpc_handlers((sweep_service(leases, next_work),))
            address = f"{role.host}:{role.port + index}"
            try:
                if role.tls_key_and_cert is not None:
                    bound = server.add_secure_port(address, grpc.ssl_server_credentials([role.tls_key_and_cert]))
                else:
                    bound = server.add_insecure_port(address)
            except RuntimeError:  # grpc raises where older versions returned 0
                bound = 0
            if not bound:
                raise InputError(f"the chief cannot listen on {address}; pass --oracle with a free HOST:PORT")
            servicers.append(servicer)
            server.start()
            servers.append(server)
        logger.info(
            "[chief] serving %d architecture(s) on %s:%d, worker_timeout %.0f s",
            len(servers),
            role.host,
            role.port,
            leases.timeout_s,
        )
        if not role.token:  # only with --insecure (`parse_role`)
            logger.warning(
                "[chief] --insecure, no token: any process that reaches %s:%d can create trials, report scores "
                "and end the sweep; set %s (or --token-file) on the chief and its workers",
                role.host,
                role.port,
                TOKEN_ENV,
            )
        if role.tls_key_and_cert is None and role.host not in ("127.0.0.1", "localhost", "::1"):
            logger.warning(
                "[chief] plaintext gRPC on %s: the token can be read off the network; pass --tls-cert and "
                "--tls-key (and --tls-ca on the workers)",
                role.host,
            )
        while not (leases.all_done() and all(chief_may_exit(servicer.oracle) for servicer in servicers)):
            if any(servicer.failure_limit_reached for servicer in servicers):
                # As in one process, the sweep ends at the first architecture that reaches it.
                limit = config.search.max_consecutive_failures
                raise saved_failure_limit_error(run_dir, architectures, limit) or failure_limit_error(limit, None)
            _expire_leases(run_dir, architectures, servicers, leases)
            time.sleep(0.5)
        logger.info("[chief] the longest silence of a worker that spoke again: %.1f s", leases.longest_gap)
        return {
            a.name
            for a, servicer in zip(architectures, servicers, strict=True)
            if getattr(servicer.oracle, "cut_by_time", False)
        }
    finally:
        for server in servers:
            server.stop(grace=None)
