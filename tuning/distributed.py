"""Sweeps over several processes or machines on keras-tuner's chief/worker engine.

keras-tuner's chief serves the oracle over gRPC; workers ask it for trials and share
the run directory. rnnsweep runs one keras-tuner project per architecture, so the
chief serves architecture i on port PORT + i, all at once, and workers go through them in order.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from rnnsweep.data_prep.errors import InputError
from rnnsweep.data_prep.layout import RunLayout
from rnnsweep.data_prep.run_dir import check_safe_name
from rnnsweep.tuning.threads import available_cores, recurrent_thread_settings, user_thread_settings

logger = logging.getLogger(__name__)

ENV_KEYS = ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")
LAUNCHER_PID = "RNNSWEEP_LAUNCHER_PID"
# The sweep's shared secret: workers send it with every call, the chief refuses calls without it.
TOKEN_ENV = "RNNSWEEP_TOKEN"
TOKEN_METADATA = "rnnsweep-token"
# Set by the launcher on a chief it restarts after the previous one died under running workers.
CHIEF_RESTART_ENV = "RNNSWEEP_CHIEF_RESTART"
# The launcher's search deadline (a `time.time()` value) for the chief it starts and restarts:
# the time budget counts from the launcher's start, not from each chief's.
DEADLINE_ENV = "RNNSWEEP_SEARCH_DEADLINE"

# keras-tuner's workers call the chief only when a trial starts and ends; between, a thread in
# each worker beats this often, whatever the epoch length.
HEARTBEAT_S = 10.0
# How long a running trial's worker may stay silent before the chief takes the trial back.
# With a beat every 10 s from a thread, silence means a dead or cut-off worker; the longest
# silence of a live worker that bench/chaos.py saw was 5.3 s (BENCHMARKS.md), and a worker
# the local launcher restarts is back within a minute. 5 minutes leaves room for a slow
# network and a chief restart without taking back a live worker's trial.
DEFAULT_WORKER_TIMEOUT_S = 300.0

# "auto" starts at most this many CPU workers: each is a whole Keras runtime with its own
# copy of the data (about 0.8 GB on the clothing reviews), and parallel workers were
# measured only on 2 cores (BENCHMARKS.md); more is one `--workers N` away.
AUTO_MAX_CPU_WORKERS = 4
DEFAULT_MAX_WORKER_RESTARTS = 3


@dataclasses.dataclass(frozen=True)
class Role:
    """This process's part in a distributed sweep.

    Attributes:
        role: "chief" (serves the oracle, never trains) or "worker" (trains trials).
        host: Address the chief listens on and workers connect to.
        port: First port; architecture i uses port + i.
        worker_id: A worker's id, unique in the sweep; a restarted worker must reuse it
            to pick up the trial it was running.
        token: The sweep's shared secret (None: the chief accepts any caller, which
            `parse_role` allows only with `insecure`).
        tls_key_and_cert: The chief's TLS private key and certificate, PEM (default None:
            plaintext gRPC).
        tls_ca: The certificate a worker trusts for the chief's TLS, PEM (default None:
            plaintext gRPC).
    """

    role: str
    host: str
    port: int
    worker_id: str | None = None
    token: str | None = dataclasses.field(default=None, repr=False)  # never in a log line
    tls_key_and_cert: tuple[bytes, bytes] | None = dataclasses.field(default=None, repr=False)
    tls_ca: bytes | None = dataclasses.field(default=None, repr=False)

    @property
    def tuner_id(self) -> str:
        return "chief" if self.role == "chief" else f"tuner{self.worker_id}"


def read_token(token_file: str | Path | None) -> str | None:
    """The sweep's shared secret: the first line of `token_file`, else `$RNNSWEEP_TOKEN`, else None.

    Raises:
        InputError: The file is missing or its first line is empty.
    """
    if token_file is None:
        return os.environ.get(TOKEN_ENV) or None
    path = Path(token_file)
    if not path.is_file():
        raise InputError(f"{path}: no such token file; check --token-file")
    if path.stat().st_mode & 0o077:
        logger.warning("%s: the token file can be read by other users; make it private with `chmod 600 %s`", path, path)
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    token = lines[0].strip() if lines else ""
    if not token:
        raise InputError(f"{path}: the token file's first line is empty; write the sweep's token there")
    return token


def _read_pem(flag: str, path: str) -> bytes:
    """The bytes of a PEM file named by `flag`.

    Raises:
        InputError: The file is missing or holds no PEM block.
    """
    file = Path(path)
    if not file.is_file():
        raise InputError(f"{file}: no such file; check {flag}")
    content = file.read_bytes()
    if b"-----BEGIN " not in content:
        raise InputError(f"{file}: not a PEM file (no -----BEGIN line); pass a PEM certificate or key with {flag}")
    return content


def parse_role(
    role: str | None,
    oracle: str | None,
    worker_id: str | None,
    token_file: str | None = None,
    *,
    insecure: bool = False,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    tls_ca: str | None = None,
) -> Role | None:
    """Validate the `--role`, `--oracle HOST:PORT`, `--worker-id`, `--token-file`,
    `--insecure` and `--tls-*` flags.

    A chief needs the sweep's token (`read_token`) unless `insecure` is True: without one,
    any process that reaches its ports can end, fail or rewrite trials.

    Args:
        role: "chief", "worker" or None (a single-process sweep).
        oracle: The chief's "HOST:PORT".
        worker_id: A worker's id (letters, digits, `_`, `-`: it names keras-tuner's files).
        token_file: A file whose first line is the token (default None: `$RNNSWEEP_TOKEN`).
        insecure: Let a chief start without a token (default False).
        tls_cert, tls_key: The chief's TLS certificate and key, PEM files (default None).
        tls_ca: The certificate a worker trusts for the chief's TLS, a PEM file (default None).

    Returns:
        The role with the sweep's token and TLS material, or None for an ordinary
        single-process sweep.

    Raises:
        InputError: A flag is missing, malformed, or given to the wrong role; a chief
            without a token and without `insecure`.
    """
    given = [
        flag
        for flag, value in (
            ("--oracle", oracle),
            ("--worker-id", worker_id),
            ("--token-file", token_file),
            ("--insecure", insecure or None),
            ("--tls-cert", tls_cert),
            ("--tls-key", tls_key),
            ("--tls-ca", tls_ca),
        )
        if value is not None
    ]
    if role is None:
        if given:
            raise InputError(f"{', '.join(given)}: these flags need --role chief or --role worker")
        return None
    if role not in ("chief", "worker"):
        raise InputError(f"Expected one of ['chief', 'worker']. Received: role={role!r}")
    if not oracle:
        raise InputError(f"--role {role} needs --oracle HOST:PORT (the chief's address)")
    host, _, port = oracle.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(f"--oracle must be HOST:PORT with a port from 1 to 65535. Received: oracle={oracle!r}")
    if role == "worker" and not worker_id:
        raise InputError("--role worker needs --worker-id ID (unique per worker; reuse it when restarting one)")
    if role == "worker":
        check_safe_name("--worker-id", worker_id)  # keras-tuner names a file after it
    if role == "chief" and worker_id is not None:
        raise InputError("--worker-id is for workers; the chief has none")
    wrong = [f for f, v in (("--tls-cert", tls_cert), ("--tls-key", tls_key), ("--insecure", insecure)) if v]
    if role == "worker" and wrong:
        raise InputError(f"{', '.join(wrong)} are for the chief; a worker takes --token-file and --tls-ca")
    if role == "chief" and tls_ca is not None:
        raise InputError("--tls-ca is for workers; the chief takes --tls-cert and --tls-key")
    if (tls_cert is None) != (tls_key is None):
        raise InputError("--tls-cert and --tls-key go together: pass both (the chief's certificate and its key)")
    token = read_token(token_file)
    if role == "chief" and token is None and not insecure:
        raise InputError(
            f"a chief needs the sweep's token: set ${TOKEN_ENV} or --token-file FILE (first line a long random "
            "string, e.g. from `python -c 'import secrets; print(secrets.token_urlsafe(32))'`) on the chief and "
            "its workers, or pass --insecure to let any process that reaches its ports run the sweep"
        )
    if role == "chief" and token is not None and insecure:
        raise InputError("--insecure is for a chief without a token, and a token was given; drop --insecure")
    return Role(
        role,
        host,
        int(port),
        worker_id,
        token,
        tls_key_and_cert=(_read_pem("--tls-key", tls_key), _read_pem("--tls-cert", tls_cert)) if tls_cert else None,
        tls_ca=_read_pem("--tls-ca", tls_ca) if tls_ca else None,
    )


@contextlib.contextmanager
def keras_tuner_environment(role: Role, index: int):
    """Set keras-tuner's distribution variables for architecture `index`, then restore them."""
    saved = {key: os.environ.get(key) for key in ENV_KEYS}
    os.environ.update(
        KERASTUNER_TUNER_ID=role.tuner_id, KERASTUNER_ORACLE_IP=role.host, KERASTUNER_ORACLE_PORT=str(role.port + index)
    )
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def free_ports(count: int, host: str = "127.0.0.1") -> int:
    """A first port such that `count` consecutive ports are free on `host`."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind((host, 0))
            first = probe.getsockname()[1]
        if first + count >= 65536:
            continue
        try:
            with contextlib.ExitStack() as stack:
                for port in range(first, first + count):
                    sock = stack.enter_context(socket.socket())
                    sock.bind((host, port))
            return first
        except OSError:
            continue
    raise InputError(f"found no {count} consecutive free ports on {host}; pass --oracle HOST:PORT")


def check_workers(workers: int | str | None) -> None:
    """Raise `InputError` unless `workers` is a positive integer, "auto" or None ("auto")."""
    if workers is None or workers == "auto":
        return
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InputError(
            f"workers must be a positive integer or 'auto'. Received: workers={workers!r}; "
            "1 runs the sweep in this process"
        )


def resolve_workers(workers: int | str | None, search, *, tuner_options: dict | None = None) -> int:
    """How many local worker processes a sweep runs; 1 means a single process.

    "auto" runs one worker per GPU when there are several GPUs, one process when there is
    one GPU, and otherwise one single-threaded worker per CPU core (at most
    `AUTO_MAX_CPU_WORKERS`): two single-threaded trials side by side train about 1.6x
    faster than one trial on two cores (BENCHMARKS.md). It never starts more workers than
    the sweep has trials, and runs one process when the settings need one (`multi_gpu`,
    `isolate_trials`, `tuner_options`).

    Args:
        workers: A number of workers (>= 1), or "auto" (None means "auto").
        search: The sweep's `SearchConfig`.
        tuner_options: Extra tuner arguments; they cannot cross processes (default None).

    Returns:
        The number of workers.

    Raises:
        InputError: `workers` is neither a positive integer nor "auto".
    """
    check_workers(workers)
    if workers is not None and workers != "auto":
        return workers
    if search.multi_gpu or search.isolate_trials or tuner_options:
        return 1
    from rnnsweep.tuning.devices import visible_gpus  # imports Keras: only when it must count GPUs

    wanted = visible_gpus() or min(available_cores(), AUTO_MAX_CPU_WORKERS)
    if search.tuner != "hyperband":  # Hyperband's trial count is not max_trials
        wanted = min(wanted, search.max_trials * len(search.architectures))
    return max(1, wanted)


def exit_with_launcher() -> None:
    """In a chief or worker started by `run_local_workers`: die when the launcher dies.

    Ctrl-C reaches every process of the terminal's group, but a launcher killed with
    SIGKILL cannot stop its children, which would go on writing the run directory while
    a resumed sweep does too. On Linux the kernel then kills them (PR_SET_PDEATHSIG);
    elsewhere this does nothing.
    """
    launcher = os.environ.pop(LAUNCHER_PID, None)
    if launcher is None or not sys.platform.startswith("linux"):
        return
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    if os.getppid() != int(launcher):  # the launcher died before the line above
        os._exit(1)


def _thread_env(threads: int, gpu: int | None, token: str) -> dict:
    """A child's environment: its share of the threads, unless the user set their own, and
    the sweep's token (in the environment, never on a command line or in a log)."""
    env = dict(os.environ)
    env[LAUNCHER_PID] = str(os.getpid())
    env[TOKEN_ENV] = token
    env.update({**recurrent_thread_settings(threads), **user_thread_settings()})
    if gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = str(gpu)
    return env


def _stop(processes) -> None:
    """Terminate every child still running, then kill what ignores that."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_local_workers(
    run_dir: Path,
    *,
    workers: int,
    architectures: int,
    max_restarts: int = DEFAULT_MAX_WORKER_RESTARTS,
    host: str = "127.0.0.1",
    on_poll=None,
    deadline: float | None = None,
) -> None:
    """Run a chief and `workers` worker processes on this machine until the sweep ends.

    Each worker gets its share of the CPU threads (or one GPU each, when there are
    GPUs). A worker that dies is restarted with the same id, at most `max_restarts`
    times each, and its interrupted trial is run again. A chief that dies (killed, say,
    by the out-of-memory killer) is restarted on the same ports, at most `max_restarts`
    times: it reloads the oracle from the run directory, the workers reconnect, and
    their running trials stay theirs. Ctrl-C or any error stops every
    child; none is left behind. What each child prints goes to `RUN_DIR/logs/chief.log`
    and `RUN_DIR/logs/worker-N.log`, never to the terminal.

    Args:
        run_dir: A run directory whose config.toml and data are in place.
        workers: Worker processes (>= 1).
        architectures: How many architectures the sweep has (one port each).
        max_restarts: Restarts allowed per worker (default `DEFAULT_MAX_WORKER_RESTARTS`, 3).
        host: Loopback address for the chief (default "127.0.0.1").
        on_poll: Called about every half second while the sweep runs, e.g. to report
            finished trials (default None).
        deadline: A `time.time()` value after which the chief starts no trial (default
            None: the time budget, if any, counts from the chief's start).

    Raises:
        InputError: The chief stopped the sweep (exit code 2, its reason in chief.log), or
            it or a worker died more than `max_restarts` times.
    """
    if workers < 1:
        raise InputError(f"workers must be 1 or more. Received: workers={workers}")
    port = free_ports(architectures, host)
    base = [
        sys.executable,
        "-P",  # not the working directory first on sys.path: a models.py there would shadow ours
        "-m",
        "rnnsweep",
        "-v",  # everything a child prints goes to its own log file
        "tune",
        "--config",
        str(Path(run_dir) / "config.toml"),
        "--output",
        str(run_dir),
        "--oracle",
        f"{host}:{port}",
    ]
    from rnnsweep.tuning.devices import visible_gpus

    gpus = visible_gpus()
    threads = max(1, available_cores() // workers)
    token = os.environ.get(TOKEN_ENV) or secrets.token_urlsafe(32)  # one per sweep unless the user set one

    logs = RunLayout(run_dir).logs
    logs.mkdir(parents=True, exist_ok=True)

    def start(name: str, role: list[str], env: dict) -> subprocess.Popen:
        with open(logs / f"{name}.log", "ab") as log:  # the child keeps its own copy of the descriptor
            return subprocess.Popen([*base, *role], env=env, stdout=log, stderr=subprocess.STDOUT)

    def start_worker(worker_id: int) -> subprocess.Popen:
        env = _thread_env(threads, worker_id % gpus if gpus else None, token)
        return start(f"worker-{worker_id}", ["--role", "worker", "--worker-id", str(worker_id)], env)

    def start_chief(restarted: bool) -> subprocess.Popen:
        env = _thread_env(1, None, token)
        if restarted:
            env[CHIEF_RESTART_ENV] = "1"
        if deadline is not None:
            env[DEADLINE_ENV] = repr(deadline)
        return start("chief", ["--role", "chief"], env)

    chief = start_chief(restarted=False)
    running = {i: start_worker(i) for i in range(workers)}
    restarts = dict.fromkeys(running, 0)
    chief_restarts = 0
    logger.info(
        "chief on %s:%d-%d, %d workers of %d thread(s) each", host, port, port + architectures - 1, workers, threads
    )
    try:
        while True:
            code = chief.poll()
            if code is not None:
                # 0: the sweep ended; 2: it stopped for a reason the user must see (failure limit, a
                # port taken); all workers done: nothing is left for a new chief to serve.
                if code in (0, 2) or all(process.poll() == 0 for process in running.values()):
                    break
                if chief_restarts >= max_restarts:
                    raise InputError(
                        f"the chief died {chief_restarts + 1} times (last exit code {code}); see {logs / 'chief.log'}"
                    )
                chief_restarts += 1
                logger.warning(
                    "the chief exited with code %d; restarting it on the same ports (%d of %d)",
                    code,
                    chief_restarts,
                    max_restarts,
                )
                chief = start_chief(restarted=True)
            for worker_id, process in running.items():
                code = process.poll()
                if code is None or code == 0:
                    continue
                if restarts[worker_id] >= max_restarts:
                    raise InputError(
                        f"worker {worker_id} died {restarts[worker_id] + 1} times (last exit code {code}); "
                        f"see {logs / f'worker-{worker_id}.log'}"
                    )
                restarts[worker_id] += 1
                logger.warning(
                    "worker %d exited with code %d; restarting it (%d of %d)",
                    worker_id,
                    code,
                    restarts[worker_id],
                    max_restarts,
                )
                running[worker_id] = start_worker(worker_id)
            if on_poll is not None:
                on_poll()
            time.sleep(0.5)
        for process in running.values() if chief.returncode == 0 else ():  # a failed chief: stop them now
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=60)
    finally:
        _stop([chief, *running.values()])
    if chief.returncode != 0 and not all(process.returncode == 0 for process in running.values()):
        raise InputError(f"the chief process exited with code {chief.returncode}; see {logs / 'chief.log'}")
