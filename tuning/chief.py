"""The chief of a distributed sweep: every architecture's keras-tuner oracle served at once over gRPC."""

from __future__ import annotations

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
from rnnsweep.tuning.trials import failure_limit_error, saved_failure_limit_error
from rnnsweep.tuning.tuners import (
    OracleServicer,
    add_oracle_service,
    chief_may_exit,
    end_trial_or_reach_failure_limit,
    give_back_interrupted_trials,
    make_tuner,
)

logger = logging.getLogger(__name__)


class _TokenCheck(grpc.ServerInterceptor):
    """Refuse every call that does not carry the sweep's token (UNAUTHENTICATED)."""

    def __init__(self, token: str):
        self.token = token.encode()

        def refuse(request, context):
            context.abort(
                grpc.StatusCode.UNAUTHENTICATED,
                "rnnsweep chief: missing or wrong token; start the worker with the chief's token "
                f"(${TOKEN_ENV} or --token-file)",
            )

        self.refusal = grpc.unary_unary_rpc_method_handler(refuse)

    def intercept_service(self, continuation, handler_call_details):
        given = dict(handler_call_details.invocation_metadata or ()).get(TOKEN_METADATA, "")
        if hmac.compare_digest(given.encode(), self.token):
            return continuation(handler_call_details)
        return self.refusal


class _Servicer(OracleServicer):
    """keras-tuner's oracle service, noting which workers asked for trials, (when given a
    `stopped` set) which were told to stop, and whether the failure limit was reached."""

    def __init__(self, oracle, seen: set, stopped: set | None = None):
        super().__init__(oracle)
        self.seen, self.stopped = seen, stopped
        self.failure_limit_reached = False

    def EndTrial(self, request, context):  # noqa: N802 - gRPC method name
        response, reached = end_trial_or_reach_failure_limit(super().EndTrial, self.oracle, request, context)
        self.failure_limit_reached |= reached
        return response

    def CreateTrial(self, request, context):  # noqa: N802 - gRPC method name
        self.seen.add(request.tuner_id)
        response = super().CreateTrial(request, context)
        if self.stopped is not None and Trial.from_proto(response.trial).status == TrialStatus.STOPPED:
            self.stopped.add(request.tuner_id)
        return response


def serve_architectures(
    run_dir: Path, config: Config, architectures, *, data: PreparedData, role: Role, tuner_options: dict | None = None
) -> None:
    """Serve every architecture's oracle until the sweep ends; the chief never trains.

    Architecture i is served on port `role.port + i`. keras-tuner's own chief serves one
    oracle and, once it has told a worker to stop, polls every 20 s until the others have
    left; serving the architectures one after another made every worker wait for the
    slowest at each architecture. Here a worker that finds no trial left in one
    architecture moves straight on to the next. Every server stays up until each worker
    seen has been told to stop by the last architecture (workers go through all of them in
    order, so a restarted worker can still reach the one it died in), and no trial runs.
    Started again by the launcher after dying (`CHIEF_RESTART_ENV` set), it leaves the trials
    it had handed out with their workers (`give_back_interrupted_trials`).

    Raises:
        InputError: A port is taken, or an architecture's trials failed
            `max_consecutive_failures` times in a row (the workers' trials end with the chief).
    """
    seen, finished = set(), set()
    servers, servicers = [], []
    try:
        restarted = bool(os.environ.get(CHIEF_RESTART_ENV))
        for index, architecture in enumerate(architectures):
            # Read before the reload below empties it and `tuner.save()` overwrites it.
            saved = RunLayout(run_dir).project(architecture.name) / "oracle.json"
            ongoing = json.loads(saved.read_text()).get("ongoing_trials", {}) if restarted and saved.is_file() else {}
            with keras_tuner_environment(role, index):
                tuner = make_tuner(config, architecture, data, RunLayout(run_dir).search, **(tuner_options or {}))
            given = give_back_interrupted_trials(tuner.oracle, ongoing)
            if given:
                logger.info("[chief] %s: trial(s) %s stay with their workers", architecture.name, ", ".join(given))
            tuner.save()
            servicer = _Servicer(tuner.oracle, seen, finished if index == len(architectures) - 1 else None)
            checks = [_TokenCheck(role.token)] if role.token else []
            server = grpc.server(futures.ThreadPoolExecutor(max_workers=1), interceptors=checks)
            add_oracle_service(servicer, server)
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
        if not role.token:
            logger.warning(
                "[chief] no token: any process that reaches %s:%d can create trials, report scores and end the "
                "sweep; set %s (or --token-file) on the chief and its workers",
                role.host,
                role.port,
                TOKEN_ENV,
            )
        while not (seen and seen <= finished and all(chief_may_exit(servicer.oracle) for servicer in servicers)):
            if any(servicer.failure_limit_reached for servicer in servicers):
                # As in one process, the sweep ends at the first architecture that reaches it.
                limit = config.search.max_consecutive_failures
                raise saved_failure_limit_error(run_dir, architectures, limit) or failure_limit_error(limit, None)
            time.sleep(0.5)
    finally:
        for server in servers:
            server.stop(grace=None)
