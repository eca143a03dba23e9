"""Leases on running trials: workers' heartbeats, the chief's record of them, and the worker's wait for work."""

from __future__ import annotations

import collections
import json
import logging
import threading
import time

import grpc

from rnnsweep.tuning.distributed import HEARTBEAT_S, TOKEN_METADATA, Role

logger = logging.getLogger(__name__)

# Each call a worker makes carries its keras-tuner id, so the chief knows who was last heard of.
WORKER_METADATA = "rnnsweep-worker"
SERVICE = "rnnsweep.Sweep"
POLL_S = 2.0  # a worker with nothing to do asks the chief again this often
CHIEF_WAIT_S = 600  # at most this long a worker waits for an unreachable chief


class _CallDetails(
    collections.namedtuple(
        "_CallDetails", ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression")
    ),
    grpc.ClientCallDetails,
):
    pass


class _ToChief(grpc.UnaryUnaryClientInterceptor):
    """Every call: the sweep's token (when there is one) and the worker's id in its metadata,
    and at most `CHIEF_WAIT_S` of waiting for the chief."""

    def __init__(self, token: str | None, tuner_id: str | None):
        self.metadata = [(TOKEN_METADATA, token)] if token else []
        if tuner_id:
            self.metadata.append((WORKER_METADATA, tuner_id))

    def intercept_unary_unary(self, continuation, details, request):
        metadata = [*(details.metadata or ()), *self.metadata]
        timeout = min(details.timeout or CHIEF_WAIT_S, CHIEF_WAIT_S)
        fields = (timeout, metadata, details.credentials, details.wait_for_ready, details.compression)
        return continuation(_CallDetails(details.method, *fields), request)


# A worker whose chief died waits for it: reconnect attempts at most every 2 s rather than
# gRPC's 2 minutes, so a restarted chief is found at once.
RECONNECT_OPTIONS = [("grpc.initial_reconnect_backoff_ms", 500), ("grpc.max_reconnect_backoff_ms", 2000)]


def chief_channel(
    address: str, *, token: str | None, tuner_id: str | None, tls_ca: bytes | None = None
) -> grpc.Channel:
    """A channel to the chief at `address` ("HOST:PORT") that sends the token and the worker's id.

    Args:
        address: The chief's "HOST:PORT".
        token: The sweep's token (None: none sent).
        tuner_id: The worker's keras-tuner id (None: none sent).
        tls_ca: The certificate to trust for the chief's TLS, PEM (default None: plaintext).
    """
    if tls_ca is None:
        channel = grpc.insecure_channel(address, options=RECONNECT_OPTIONS)
    else:
        channel = grpc.secure_channel(
            address, grpc.ssl_channel_credentials(root_certificates=tls_ca), RECONNECT_OPTIONS
        )
    return grpc.intercept_channel(channel, _ToChief(token, tuner_id))


class Leases:
    """The chief's record of its workers: when each was last heard from, which have been
    told the sweep is over, and which trials were taken back from whom.

    Shared by every architecture's server (gRPC threads) and the chief's loop; `touch` is
    called for every call a worker makes.

    Only workers that took a trial are recorded (`took_trial`): an id that never took one,
    invented or not, neither keeps the chief alive nor grows its records, which are bounded
    by the number of trials.
    """

    def __init__(self, timeout_s: float):
        self.timeout_s = timeout_s
        self.started = time.monotonic()
        self.took_trial: set[str] = set()  # workers given a trial at least once
        self.last_contact: dict[str, float] = {}
        self.longest_gap = 0.0  # the longest silence of a worker that then spoke again, in seconds
        self.seen: set[str] = set()  # workers with a trial or waiting for work, not expired
        self.done: set[str] = set()  # workers told that the sweep is over
        self.told_done = False  # some caller was told the sweep is over
        # (architecture index, trial id) -> the workers it was taken from
        self.taken_back: dict[tuple[int, str], set[str]] = collections.defaultdict(set)
        self.lock = threading.Lock()

    def touch(self, tuner_id: str | None) -> None:
        now = time.monotonic()
        with self.lock:
            if tuner_id not in self.took_trial:
                return
            if tuner_id in self.last_contact:
                self.longest_gap = max(self.longest_gap, now - self.last_contact[tuner_id])
            self.last_contact[tuner_id] = now

    def join(self, tuner_id: str, *, took_trial: bool = False) -> None:
        """`tuner_id` holds a trial (`took_trial`) or, having held one, waits for work."""
        with self.lock:
            if took_trial and tuner_id not in self.took_trial:
                self.took_trial.add(tuner_id)
                self.last_contact[tuner_id] = time.monotonic()
            if tuner_id in self.took_trial:
                self.seen.add(tuner_id)

    def finish(self, tuner_id: str) -> None:
        with self.lock:
            self.told_done = True
            if tuner_id in self.took_trial:
                self.seen.add(tuner_id)
                self.done.add(tuner_id)

    def all_done(self) -> bool:
        """Every worker seen was told the sweep is over (and some caller was told so)."""
        with self.lock:
            return self.told_done and self.seen <= self.done

    def expire(self) -> list[tuple[str, float]]:
        """Forget the workers silent for longer than `timeout_s`; return (id, seconds silent) of each."""
        now = time.monotonic()
        with self.lock:
            silent = {worker: now - self.last_contact.get(worker, self.started) for worker in self.seen - self.done}
            expired = [(tuner_id, seconds) for tuner_id, seconds in silent.items() if seconds > self.timeout_s]
            self.seen.difference_update(tuner_id for tuner_id, _ in expired)
        return expired

    def take_back(self, index: int, trial_id: str, tuner_id: str) -> None:
        with self.lock:
            self.taken_back[(index, trial_id)].add(tuner_id)

    def was_taken_from(self, index: int, trial_id: str, tuner_id: str | None) -> bool:
        with self.lock:
            return tuner_id in self.taken_back.get((index, trial_id), ())

    def give(self, index: int, trial_id: str, tuner_id: str) -> None:
        """`tuner_id` was given `trial_id` (again): its reports count, and it is a worker to wait for."""
        self.join(tuner_id, took_trial=True)
        with self.lock:
            self.taken_back.get((index, trial_id), set()).discard(tuner_id)

    def taken_from(self, tuner_id: str) -> list[list]:
        with self.lock:
            return [[index, trial_id] for (index, trial_id), tuners in self.taken_back.items() if tuner_id in tuners]


def caller(context) -> str | None:
    """The worker id a gRPC call carries (None from a caller that sends none)."""
    return dict(context.invocation_metadata() or ()).get(WORKER_METADATA)


def sweep_service(leases: Leases, next_work) -> grpc.GenericRpcHandler:
    """rnnsweep's own calls beside keras-tuner's oracle service, JSON in and out.

    - `Heartbeat`: {"taken_back": [[architecture index, trial id], ...]} taken from the caller.
    - `NextWork`: `next_work(tuner_id)`, {"done": bool, "architectures": [indices with trials to retry]}.
    """

    def heartbeat(request: bytes, context) -> bytes:
        return json.dumps({"taken_back": leases.taken_from(caller(context) or "")}).encode()

    def work(request: bytes, context) -> bytes:
        return json.dumps(next_work(caller(context) or "")).encode()

    return grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Heartbeat": grpc.unary_unary_rpc_method_handler(heartbeat),
            "NextWork": grpc.unary_unary_rpc_method_handler(work),
        },
    )


class Heartbeat:
    """A worker's beat to the chief every `HEARTBEAT_S`, from a daemon thread, while it lives.

    The chief answers with the trials it took back from this worker (its lease ran out);
    `taken_back(index, trial_id)` tells the running trial to stop.
    """

    def __init__(self, role: Role):
        self.role = role
        channel = chief_channel(
            f"{role.host}:{role.port}", token=role.token, tuner_id=role.tuner_id, tls_ca=role.tls_ca
        )
        self._beat = channel.unary_unary(f"/{SERVICE}/Heartbeat")
        self._work = channel.unary_unary(f"/{SERVICE}/NextWork")
        self._taken_back: set[tuple[int, str]] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rnnsweep-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                answer = json.loads(self._beat(b"", timeout=HEARTBEAT_S))
            except grpc.RpcError:
                continue  # the chief is away (restarting, say): its lease clock starts again when it is back
            self._taken_back = {(index, trial_id) for index, trial_id in answer["taken_back"]}

    def taken_back(self, index: int, trial_id: str) -> bool:
        return (index, trial_id) in self._taken_back

    def forget(self, index: int, trial_id: str) -> None:
        """The chief gave the trial (back) to this worker."""
        self._taken_back = self._taken_back - {(index, trial_id)}

    def next_work(self) -> list[int] | None:
        """Wait for work: the architectures with trials to retry, or None when the sweep is over.

        While other workers' trials run, one of them may be taken back (its worker fell
        silent): asks again every `POLL_S`.
        """
        while True:
            answer = json.loads(self._work(b"", wait_for_ready=True))
            if answer["done"]:
                return None
            if answer["architectures"]:
                return answer["architectures"]
            time.sleep(POLL_S)
