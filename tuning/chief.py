"""The chief of a distributed sweep: every architecture's keras-tuner oracle served at once over gRPC."""

from __future__ import annotations

import logging
import time
from concurrent import futures
from pathlib import Path

import grpc
from keras_tuner.engine.trial import Trial, TrialStatus

from rnnsweep.data_prep.errors import InputError
from rnnsweep.data_prep.layout import RunLayout
from rnnsweep.data_prep.prepare import PreparedData
from rnnsweep.tuning.config import Config
from rnnsweep.tuning.distributed import Role, keras_tuner_environment
from rnnsweep.tuning.tuners import OracleServicer, add_oracle_service, chief_may_exit, make_tuner

logger = logging.getLogger(__name__)


class _Servicer(OracleServicer):
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
    """Serve every architecture's oracle until the sweep ends; the chief never trains.

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
                tuner = make_tuner(config, architecture, data, RunLayout(run_dir).search, **(tuner_options or {}))
            tuner.save()
            servicer = _Servicer(tuner.oracle, seen, finished if index == len(architectures) - 1 else None)
            server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
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
        while not (seen and seen <= finished and all(chief_may_exit(servicer.oracle) for servicer in servicers)):
            time.sleep(0.5)
    finally:
        for server in servers:
            server.stop(grace=None)
