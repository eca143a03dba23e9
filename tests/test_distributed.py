"""Distributed sweeps on keras-tuner's chief/worker engine, on 127.0.0.1 only."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import pandas as pd
import pytest
from conftest import make_reviews, write_csv

from rnnsweep.data_prep.errors import InputError
from rnnsweep.tuning import devices, distributed
from rnnsweep.tuning.config import SearchConfig
from rnnsweep.tuning.distributed import HEARTBEAT_S, free_ports, parse_role, resolve_workers

ENV = {
    **os.environ,
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "PYTHONUNBUFFERED": "1",
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
    # A chief started by hand needs the sweep's token (or --insecure); workers send it.
    "RNNSWEEP_TOKEN": "the tests' token",
}

CONFIG = (
    '[data]\npreset = "womens-clothing"\n'
    '[search]\narchitectures = ["gru1", "simple_rnn"]\nmax_trials = 3\nepochs = 2\nearly_stopping_patience = 0\n'
    "[search.space]\nunits = [8, 16]\nlearning_rate = [0.01, 0.001]\ndropout = [0.0]\n"
)


def setup_run(tmp_path, config: str = CONFIG) -> tuple[list[str], Path]:
    data = write_csv(tmp_path / "reviews.csv", make_reviews(300))
    (tmp_path / "sweep.toml").write_text(config)
    run_dir = tmp_path / "run"
    base = [
        sys.executable,
        "-m",
        "rnnsweep",
        "tune",
        "--config",
        str(tmp_path / "sweep.toml"),
        "--data",
        str(data),
        "--output",
        str(run_dir),
    ]
    prepared = subprocess.run(
        [sys.executable, "-m", "rnnsweep", "data", *base[4:]], capture_output=True, text=True, env=ENV, timeout=120
    )
    assert prepared.returncode == 0, prepared.stderr[-2000:]
    return base, run_dir


def assert_complete_sweep(run_dir: Path):
    trials = pd.read_csv(run_dir / "trials.csv")
    assert len(trials) == 6, trials[["architecture", "trial_id", "status"]]
    assert (trials["status"] == "COMPLETED").all()
    assert not trials.duplicated(["architecture", "trial_id"]).any()
    for _, part in trials.groupby("architecture"):
        combos = set(zip(part["hp_units_1"], part["hp_learning_rate"], strict=True))
        assert len(combos) == 3  # no trial run twice with the same values


def descendants(pid: int) -> list[int]:
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            children = (task / "children").read_text().split() if (task / "children").exists() else []
            for child in map(int, children):
                found.append(child)
                stack.append(child)
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@pytest.mark.slow
@pytest.mark.backend
def test_chief_and_two_workers_on_loopback(tmp_path):
    base, run_dir = setup_run(tmp_path)
    port = free_ports(2)
    (tmp_path / "token").write_text("a shared secret\n")
    oracle = ["--oracle", f"127.0.0.1:{port}", "--token-file", str(tmp_path / "token")]
    chief = subprocess.Popen(
        [*base, *oracle, "--role", "chief"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV
    )
    workers = [
        subprocess.Popen(
            [*base, *oracle, "--role", "worker", "--worker-id", str(i)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
        )
        for i in (1, 2)
    ]
    try:
        outputs = [p.communicate(timeout=400) for p in (*workers, chief)]
    finally:
        for p in (*workers, chief):
            p.kill()
    for process, (_, err) in zip((*workers, chief), outputs, strict=True):
        assert process.returncode == 0, err[-2000:]
    for i, (_, err) in zip((1, 2), outputs[:2], strict=True):
        assert f"[tuner{i}] " in err, f"worker {i} ran no trial"
    assert_complete_sweep(run_dir)
    # Each worker trains on the backend this test session runs (KERAS_BACKEND, inherited).
    assert (pd.read_csv(run_dir / "trials.csv")["backend"] == keras.backend.backend()).all()
    assert not any(
        "a shared secret" in path.read_text(errors="replace") for path in run_dir.rglob("*") if path.is_file()
    )


@pytest.mark.slow
def test_the_chief_refuses_calls_without_its_token(tmp_path):
    import grpc
    from keras_tuner.src import protos

    base, run_dir = setup_run(tmp_path)
    port = free_ports(2)
    oracle = ["--oracle", f"127.0.0.1:{port}"]
    chief = subprocess.Popen(
        [*base, *oracle, "--role", "chief"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**ENV, "RNNSWEEP_TOKEN": "s3cret"},
    )
    try:
        stub = protos.get_service_grpc().OracleStub(grpc.insecure_channel(f"127.0.0.1:{port}"))

        def get_space(metadata):
            return stub.GetSpace(
                protos.get_service().GetSpaceRequest(), metadata=metadata, wait_for_ready=True, timeout=120
            )

        for metadata in ((), (("rnnsweep-token", "wrong"),)):
            with pytest.raises(grpc.RpcError) as refused:
                get_space(metadata)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert "missing or wrong token" in refused.value.details()
        assert get_space((("rnnsweep-token", "s3cret"),)).hyperparameters is not None
        worker = subprocess.run(
            [*base, *oracle, "--role", "worker", "--worker-id", "1"],
            capture_output=True,
            text=True,
            env={**ENV, "RNNSWEEP_TOKEN": "wrong"},
            timeout=300,
        )
        assert worker.returncode == 2, worker.stderr[-2000:]
        errors = [line for line in worker.stderr.splitlines() if "error:" in line]
        assert errors == [worker.stderr.strip().splitlines()[-1]]
        assert "the chief refused this worker" in errors[0] and "Traceback" not in worker.stderr
    finally:
        chief.kill()


def role_sweep_losing_a_worker(tmp_path, lose, timeout_s: int = 30):
    """A chief and workers 1 and 2 started with `--role` on 127.0.0.1, `--worker-timeout
    timeout_s`; `lose(worker_2, chief_log)` is called as soon as worker 2 holds a gru1 trial.

    Returns:
        The run directory, the trial id worker 2 held, seconds from `lose` to the chief's
        end, the exit codes (worker 1, worker 2, chief) and the logs by name.
    """
    # 8 epochs: a trial lasts seconds, so worker 2 is caught mid-trial
    base, run_dir = setup_run(tmp_path, CONFIG.replace("epochs = 2", "epochs = 8"))
    port = free_ports(2)
    flags = ["--oracle", f"127.0.0.1:{port}", "--worker-timeout", str(timeout_s)]
    logs = {name: tmp_path / f"{name}.log" for name in ("chief", "worker-1", "worker-2")}

    def start(name, role):
        with open(logs[name], "w") as log:
            return subprocess.Popen([*base, *flags, *role], stdout=log, stderr=subprocess.STDOUT, env=ENV)

    chief = start("chief", ["--role", "chief"])
    workers = {i: start(f"worker-{i}", ["--role", "worker", "--worker-id", str(i)]) for i in (1, 2)}
    try:
        deadline, trial_id = time.monotonic() + 300, None
        oracle_file = run_dir / "search" / "gru1" / "oracle.json"
        while trial_id is None and time.monotonic() < deadline and chief.poll() is None:
            if oracle_file.is_file():  # written atomically by the chief
                trial_id = json.loads(oracle_file.read_text())["ongoing_trials"].get("tuner2")
            time.sleep(0.05)
        assert trial_id is not None, "worker 2 never held a gru1 trial"
        lost = time.monotonic()
        lose(workers[2], logs["chief"])
        chief.wait(timeout=timeout_s + 300)
        elapsed = time.monotonic() - lost
        for worker in workers.values():
            worker.wait(timeout=60)
    finally:
        for process in (chief, *workers.values()):
            if process.poll() is None:
                os.kill(process.pid, signal.SIGCONT)
                process.kill()
    codes = (workers[1].returncode, workers[2].returncode, chief.returncode)
    return run_dir, trial_id, elapsed, codes, {name: path.read_text() for name, path in logs.items()}


def assert_taken_back_once(run_dir: Path, trial_id: str) -> None:
    """The trial taken from worker 2 completed, counted once, its lease expiry recorded."""
    assert_complete_sweep(run_dir)
    trials = pd.read_csv(run_dir / "trials.csv", dtype={"trial_id": str})
    taken = (trials["architecture"] == "gru1") & (trials["trial_id"] == trial_id)
    assert trials.loc[taken, "lease_expiries"].tolist() == [1]
    assert (trials.loc[~taken, "lease_expiries"] == 0).all()
    saved = json.loads((run_dir / "search" / "gru1" / "oracle.json").read_text())
    assert saved["run_times"][trial_id] == 1  # ended once: by the worker it was given to
    expiry = json.loads((run_dir / "search" / "gru1" / f"trial_{trial_id}" / "rnnsweep_leases.json").read_text())
    assert [entry["worker"] for entry in expiry] == ["tuner2"] and expiry[0]["silent_s"] >= 30  # rounded to 0.1 s


@pytest.mark.slow
def test_a_worker_killed_for_good_loses_its_trial_to_another(tmp_path):
    run_dir, trial_id, elapsed, codes, logs = role_sweep_losing_a_worker(
        tmp_path, lambda worker, _: os.kill(worker.pid, signal.SIGKILL)
    )
    assert codes == (0, -signal.SIGKILL, 0), logs["chief"][-3000:]
    assert f"gru1 trial {trial_id}: worker tuner2 silent for" in logs["chief"]
    assert_taken_back_once(run_dir, trial_id)
    durations = pd.read_csv(run_dir / "trials.csv")["duration_s"]
    # The lease, then the rerun of the taken-back trial (worker 1 had finished its own by then).
    assert elapsed < 30 + HEARTBEAT_S + 2 * durations.max() + 20, (elapsed, durations.tolist())


@pytest.mark.slow
def test_a_late_worker_is_told_its_trial_went_to_another(tmp_path):
    def stop_until_taken_back(worker, chief_log):
        worker.send_signal(signal.SIGSTOP)  # silent, as a worker cut off from the chief
        deadline = time.monotonic() + 120
        while "worker tuner2 silent for" not in chief_log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        worker.send_signal(signal.SIGCONT)

    run_dir, trial_id, _, codes, logs = role_sweep_losing_a_worker(tmp_path, stop_until_taken_back)
    assert codes == (0, 0, 0), logs["chief"][-3000:]
    assert f"[tuner2] gru1 trial {trial_id} was given to another worker" in logs["worker-2"], logs["worker-2"][-3000:]
    assert_taken_back_once(run_dir, trial_id)


def _ongoing_trials(run_dir: Path) -> dict[str, dict]:
    """Each architecture's running trials by worker, as its oracle.json says (written atomically)."""
    return {
        path.parent.name: json.loads(path.read_text())["ongoing_trials"]
        for path in (run_dir / "search").glob("*/oracle.json")
    }


def sweep_with_a_kill(tmp_path, victim_flag: str, extra=()) -> tuple[Path, int, str, list[int], dict]:
    """`tune --workers 2`, SIGKILL of the child whose command line holds `victim_flag` once the
    sweep's second trial has started, then the launcher's end.

    Returns:
        The run directory, the launcher's exit code, its output, its children's pids, and the
        trials running (by architecture and worker) just before the kill.
    """
    base, run_dir = setup_run(tmp_path)
    log = open(tmp_path / "launcher.log", "w")  # a file, not a pipe: nothing blocks on a full buffer
    launcher = subprocess.Popen([*base, "--workers", "2", *extra], stdout=log, stderr=subprocess.STDOUT, env=ENV)
    try:
        deadline = time.monotonic() + 300
        victim = None
        while time.monotonic() < deadline and victim is None and launcher.poll() is None:
            if (run_dir / "search" / "gru1" / "trial_1" / "trial.json").exists():
                victim = next((p for p in descendants(launcher.pid) if victim_flag in cmdline(p)), None)
            time.sleep(0.2)
        assert victim is not None, "the sweep never reached its second trial"
        time.sleep(1.0)
        running = _ongoing_trials(run_dir)
        os.kill(victim, signal.SIGKILL)  # mid-sweep: both workers are training
        launcher.wait(timeout=400)
    finally:
        children = descendants(launcher.pid)
        launcher.kill()
        log.close()
    return run_dir, launcher.returncode, (tmp_path / "launcher.log").read_text(), children, running


def assert_no_child_left(children: list[int], run_dir: Path) -> None:
    time.sleep(0.5)
    assert not [p for p in children if Path(f"/proc/{p}").exists() and str(run_dir) in cmdline(p)], "a child was left"


@pytest.mark.slow
def test_local_workers_survive_a_killed_worker(tmp_path):
    run_dir, code, err, children, _ = sweep_with_a_kill(tmp_path, "--worker-id 0", ["--max-worker-restarts", "1"])
    assert code == 0, err[-3000:]
    assert "worker 0 exited with code -9; restarting it (1 of 1)" in err  # the flag's value, not the default 3
    assert_complete_sweep(run_dir)
    assert_no_child_left(children, run_dir)


@pytest.mark.slow
def test_a_worker_out_of_restarts_ends_the_sweep_in_one_line(tmp_path):
    run_dir, code, err, children, _ = sweep_with_a_kill(tmp_path, "--worker-id 0", ["--max-worker-restarts", "0"])
    assert code == 2, err[-3000:]
    assert err.strip().splitlines()[-1] == (
        f"rnnsweep tune: error: worker 0 died 1 times (last exit code -9); see {run_dir / 'logs' / 'worker-0.log'}"
    )
    assert "restarting it" not in err
    assert_no_child_left(children, run_dir)


@pytest.mark.slow
def test_a_killed_chief_is_restarted_and_the_sweep_completes_every_trial_once(tmp_path):
    run_dir, code, err, children, running = sweep_with_a_kill(tmp_path, "--role chief")
    assert code == 0, err[-3000:]
    assert "the chief exited with code -9; restarting it on the same ports (1 of 3)" in err
    # The chief died with trials handed out, and the new one left them with their workers.
    held = {(architecture, trial) for architecture, trials in running.items() for trial in trials.values()}
    assert held, f"no trial was running when the chief was killed: {running}"
    chief_log = (run_dir / "logs" / "chief.log").read_text()
    given_back = [
        (architecture, trial)
        for architecture, trial in held
        if re.search(rf"\[chief\] {architecture}: trial\(s\) [\d, ]*\b{trial}\b[\d, ]* stay with", chief_log)
    ]
    assert given_back, (held, chief_log[-2000:])  # (one may have ended in the instant before the kill)
    assert_complete_sweep(run_dir)
    # every trial trained to its end once: one finished-trial line per trial in the workers' logs
    finished = re.findall(
        r"\[tuner\d\] (\w+) trial \d+ of \d+:",
        "".join((run_dir / "logs" / f"worker-{i}.log").read_text() for i in (0, 1)),
    )
    assert len(finished) == 6, finished
    assert_no_child_left(children, run_dir)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the kernel kills orphaned workers on Linux only")
def test_killed_launcher_takes_its_workers_along_and_the_sweep_resumes(tmp_path):
    base, run_dir = setup_run(tmp_path)
    log = open(tmp_path / "launcher.log", "w")
    launcher = subprocess.Popen([*base, "--workers", "2"], stdout=log, stderr=subprocess.STDOUT, env=ENV)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and launcher.poll() is None:
            if (run_dir / "search" / "gru1" / "trial_1" / "trial.json").exists():
                break
            time.sleep(0.2)
        children = descendants(launcher.pid)
        assert len(children) == 3, "expected a chief and two workers"  # checked before the kill
        time.sleep(1.0)
        launcher.send_signal(signal.SIGKILL)
        launcher.wait()
    finally:
        log.close()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(str(run_dir) in cmdline(p) for p in children):
        time.sleep(0.2)
    assert not [p for p in children if str(run_dir) in cmdline(p)], "a worker outlived its launcher"
    trials = [Path(f).read_text() for f in (run_dir / "search").glob("*/trial_*/trial.json")]
    assert any('"RUNNING"' in t for t in trials), "the kill came after the sweep"

    # Resumed from a folder whose data_prep.py would shadow rnnsweep's package on sys.path
    # if the workers put the working directory first (a user's models.py would do the same).
    decoy = tmp_path / "decoy"
    decoy.mkdir()
    (decoy / "data_prep.py").write_text("raise ImportError('the working directory shadowed data_prep')\n")
    # Resumed in one process (tuner id "tuner0"), which must also finish the trials keras-tuner
    # recorded for the workers ("tuner1"); resuming with workers after a kill is
    # test_an_extension_killed_midway_resumes_and_keeps_every_completed_trial's.
    again = subprocess.run(
        [sys.executable, "-P", *base[1:], "--workers", "1"],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=decoy,
        timeout=400,
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert_complete_sweep(run_dir)


def first_trial_files(run_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in (run_dir / "search").glob("*/trial_0/*")}


@pytest.mark.slow
def test_an_extension_killed_midway_resumes_and_keeps_every_completed_trial(tmp_path):
    base, run_dir = setup_run(tmp_path, CONFIG.replace("max_trials = 3", "max_trials = 1"))
    first = subprocess.run([*base, "--workers", "2"], capture_output=True, text=True, env=ENV)
    assert first.returncode == 0, first.stderr[-3000:]
    before = first_trial_files(run_dir)
    assert len(before) > 2 and len(pd.read_csv(run_dir / "trials.csv")) == 2

    extend = [*base, "--workers", "2", "--max-trials", "2"]  # 1 -> 2 trials per architecture
    with open(tmp_path / "launcher.log", "w") as log:
        launcher = subprocess.Popen(extend, stdout=log, stderr=subprocess.STDOUT, env=ENV)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and launcher.poll() is None:
            if (run_dir / "search" / "gru1" / "trial_1" / "trial.json").exists():
                break
            time.sleep(0.2)
        time.sleep(1.0)
        launcher.send_signal(signal.SIGKILL)
        launcher.wait()
    time.sleep(2.0)  # the workers follow their launcher (PR_SET_PDEATHSIG)
    assert any('"RUNNING"' in p.read_text() for p in (run_dir / "search").glob("*/trial_*/trial.json")), (
        "the kill came after the extension"
    )
    assert first_trial_files(run_dir) == before

    again = subprocess.run(extend, capture_output=True, text=True, env=ENV, timeout=400)
    assert again.returncode == 0, again.stderr[-3000:]
    trials = pd.read_csv(run_dir / "trials.csv")
    assert len(trials) == 4 and (trials["status"] == "COMPLETED").all(), trials[["architecture", "status"]]
    for _, part in trials.groupby("architecture"):  # each trial once, with its own values
        assert len(set(zip(part["hp_units_1"], part["hp_learning_rate"], strict=True))) == 2
    assert first_trial_files(run_dir) == before  # the first sweep's trials, byte for byte


def test_auto_workers(monkeypatch):
    monkeypatch.setattr(distributed, "available_cores", lambda: 8)
    monkeypatch.setattr(devices, "visible_gpus", lambda: 0)
    search = SearchConfig(architectures=["lstm", "gru1"], max_trials=5)
    assert resolve_workers("auto", search) == distributed.AUTO_MAX_CPU_WORKERS == 4
    assert resolve_workers(3, search) == 3  # a number is taken as given
    assert resolve_workers(None, search) == 4  # None is "auto"
    assert resolve_workers("auto", SearchConfig(architectures=["lstm"], max_trials=2)) == 2  # never more than trials
    assert resolve_workers("auto", SearchConfig(architectures=["lstm"], max_trials=1, tuner="hyperband")) == 4
    for one_process in ({"multi_gpu": True}, {"isolate_trials": True}):
        assert resolve_workers("auto", SearchConfig(**one_process)) == 1
    assert resolve_workers("auto", search, tuner_options={"distribution_strategy": object()}) == 1
    monkeypatch.setattr(distributed, "available_cores", lambda: 1)
    assert resolve_workers("auto", search) == 1
    monkeypatch.setattr(devices, "visible_gpus", lambda: 1)
    monkeypatch.setattr(distributed, "available_cores", lambda: 8)
    assert resolve_workers("auto", search) == 1  # one GPU: one process trains on it
    monkeypatch.setattr(devices, "visible_gpus", lambda: 3)
    assert resolve_workers("auto", search) == 3  # one worker per GPU


def _self_signed(folder: Path, name: str) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made with openssl."""
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    made = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        capture_output=True,
        text=True,
    )
    if made.returncode != 0:
        pytest.skip(f"openssl could not make a certificate: {made.stderr[-300:]}")
    return cert, key


def _heartbeat(port: int, *, tls_ca: bytes | None, timeout: float = 20):
    from rnnsweep.tuning.leases import SERVICE, chief_channel

    channel = chief_channel(f"127.0.0.1:{port}", token=ENV["RNNSWEEP_TOKEN"], tuner_id="tuner9", tls_ca=tls_ca)
    return json.loads(channel.unary_unary(f"/{SERVICE}/Heartbeat")(b"", timeout=timeout, wait_for_ready=True))


@pytest.mark.slow
def test_a_chief_over_tls_serves_only_workers_that_trust_its_certificate(tmp_path):
    import grpc

    config = CONFIG.replace("max_trials = 3", "max_trials = 1").replace("epochs = 2", "epochs = 1")
    base, run_dir = setup_run(tmp_path, config)
    cert, key = _self_signed(tmp_path, "chief")
    other_cert, _ = _self_signed(tmp_path, "other")
    port = free_ports(2)
    oracle = ["--oracle", f"127.0.0.1:{port}"]
    with open(tmp_path / "chief.log", "w") as log:
        chief = subprocess.Popen(
            [*base, *oracle, "--role", "chief", "--tls-cert", str(cert), "--tls-key", str(key)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=ENV,
        )
    try:
        assert _heartbeat(port, tls_ca=cert.read_bytes(), timeout=120) == {"taken_back": []}  # up, and trusted
        for refused_ca in (None, other_cert.read_bytes()):  # plaintext, and a certificate it does not trust
            with pytest.raises(grpc.RpcError) as refused:
                _heartbeat(port, tls_ca=refused_ca, timeout=5)
            assert refused.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
        worker = subprocess.run(
            [*base, *oracle, "--role", "worker", "--worker-id", "1", "--tls-ca", str(cert)],
            capture_output=True,
            text=True,
            env=ENV,
            timeout=400,
        )
        assert worker.returncode == 0, worker.stderr[-2000:]
        assert chief.wait(timeout=120) == 0, (tmp_path / "chief.log").read_text()[-2000:]
    finally:
        chief.kill()
    trials = pd.read_csv(run_dir / "trials.csv")
    assert len(trials) == 2 and (trials["status"] == "COMPLETED").all()


@pytest.mark.slow
def test_a_chief_without_a_token_starts_only_with_insecure_and_warns(tmp_path):
    from keras_tuner.src import protos

    base, _ = setup_run(tmp_path)
    port = free_ports(2)
    env = {key: value for key, value in ENV.items() if key != "RNNSWEEP_TOKEN"}
    refused = subprocess.run(
        [*base, "--oracle", f"127.0.0.1:{port}", "--role", "chief"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert refused.returncode == 2 and "a chief needs the sweep's token" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    chief = subprocess.Popen(
        [*base, "--oracle", f"127.0.0.1:{port}", "--role", "chief", "--insecure"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        import grpc

        stub = protos.get_service_grpc().OracleStub(grpc.insecure_channel(f"127.0.0.1:{port}"))
        answer = stub.GetSpace(protos.get_service().GetSpaceRequest(), wait_for_ready=True, timeout=120)
        assert answer.hyperparameters is not None  # any caller is served: what --insecure allows
    finally:
        chief.terminate()
        _, err = chief.communicate(timeout=60)
    assert "--insecure, no token: any process that reaches" in err


def test_the_token_file_must_be_private_or_it_warns(tmp_path, caplog):
    from rnnsweep.tuning.distributed import read_token

    token = tmp_path / "token"
    token.write_text("s3cret\n")
    token.chmod(0o644)
    with caplog.at_level("WARNING"):
        assert read_token(token) == "s3cret"
    assert "can be read by other users" in caplog.text and "chmod 600" in caplog.text
    caplog.clear()
    token.chmod(0o600)
    with caplog.at_level("WARNING"):
        assert read_token(token) == "s3cret"
    assert caplog.text == ""


def test_worker_ids_that_never_took_a_trial_neither_keep_the_chief_alive_nor_grow_its_records():
    from types import SimpleNamespace

    from rnnsweep.tuning.chief import _next_work
    from rnnsweep.tuning.leases import Leases

    leases = Leases(30)
    running = SimpleNamespace(index=0, oracle=SimpleNamespace(ongoing_trials={"tuner1": object()}, _retry_queue=[]))
    leases.give(0, "00", "tuner1")  # a real worker holds a trial
    for number in range(10_000):  # invented ids, calling while that trial runs
        leases.touch(f"stranger{number}")
        assert _next_work([running], leases, 1, f"stranger{number}") == {"done": False, "architectures": []}
    assert leases.seen == {"tuner1"} and set(leases.last_contact) == {"tuner1"}
    running.oracle.ongoing_trials.clear()  # the trial ended
    assert _next_work([running], leases, 1, "stranger0") == {"done": True, "architectures": []}
    assert not leases.all_done()  # the real worker has not been told yet
    assert _next_work([running], leases, 1, "tuner1")["done"]
    assert leases.all_done() and leases.done == {"tuner1"}


@pytest.mark.parametrize("workers", [0, -2, 1.5, "two", True])
def test_bad_workers(workers):
    with pytest.raises(InputError, match=r"positive integer or 'auto'. Received: workers="):
        resolve_workers(workers, SearchConfig())


@pytest.mark.parametrize(
    "role,oracle,worker_id,pattern",
    [
        ("worker", "127.0.0.1:7000", None, "needs --worker-id"),
        ("chief", None, None, "needs --oracle HOST:PORT"),
        ("chief", "localhost", None, "HOST:PORT with a port"),
        (None, "127.0.0.1:7000", None, "need --role"),
        (None, None, None, "need --role"),  # a token file without a role
        ("boss", "127.0.0.1:7000", None, r"Received: role='boss'"),
        ("worker", "127.0.0.1:7000", "../1", r"--worker-id must be letters.*Received: --worker-id='../1'"),
    ],
)
def test_bad_distributed_flags(role, oracle, worker_id, pattern, tmp_path):
    token_file = None if role or oracle else str(tmp_path / "token")
    with pytest.raises(InputError, match=pattern):
        parse_role(role, oracle, worker_id, token_file)


@pytest.mark.parametrize(
    "role,options,pattern",
    [
        ("chief", {}, "a chief needs the sweep's token"),
        ("chief", {"token_file": "token", "insecure": True}, "drop --insecure"),
        ("chief", {"insecure": True, "tls_cert": "cert.pem"}, "--tls-cert and --tls-key go together"),
        ("chief", {"insecure": True, "tls_ca": "cert.pem"}, "--tls-ca is for workers"),
        ("worker", {"tls_cert": "cert.pem", "tls_key": "cert.pem"}, "are for the chief"),
        ("worker", {"tls_ca": "missing.pem"}, "missing.pem: no such file"),
        ("worker", {"tls_ca": "token"}, "token: not a PEM file"),
    ],
)
def test_bad_security_flags(role, options, pattern, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RNNSWEEP_TOKEN", raising=False)
    (tmp_path / "token").write_text("s3cret\n")
    (tmp_path / "cert.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    with pytest.raises(InputError, match=pattern):
        parse_role(role, "127.0.0.1:7000", "1" if role == "worker" else None, **options)


@pytest.mark.slow
def test_failing_trials_under_two_workers_end_with_the_documented_message(tmp_path):
    """Every trial's loss is NaN (the embedding starts from NaN vectors): keras-tuner raises its
    failure limit inside the chief's gRPC handler, and the sweep still ends in one line, exit 2."""
    rows = make_reviews(300)
    words = sorted({word for row in rows for word in row["Review Text"].split()})
    (tmp_path / "nan.txt").write_text("".join(f"{word} nan nan nan nan\n" for word in words))
    data = write_csv(tmp_path / "reviews.csv", rows)
    (tmp_path / "sweep.toml").write_text(
        '[data]\npreset = "womens-clothing"\nembeddings_path = "nan.txt"\n'
        '[search]\narchitectures = ["gru1", "simple_rnn"]\nmax_trials = 6\nmax_consecutive_failures = 2\n'
        "[search.space]\nunits = [8, 16]\nlearning_rate = [0.01, 0.001]\ndropout = [0.0]\n"
    )
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "rnnsweep", "tune", "--config", "sweep.toml", "--data", str(data)]
    launcher = subprocess.Popen(
        [*command, "--output", str(run_dir), "--workers", "2"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    try:
        _, err = launcher.communicate(timeout=400)
    finally:
        children = descendants(launcher.pid)
        launcher.kill()
    assert launcher.returncode == 2, err[-3000:]
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1 and err.strip().splitlines()[-1] == errors[0], err[-3000:]
    assert errors[0].startswith("rnnsweep tune: error: sweep stopped: 2 trials failed in a row (last: ")
    assert "non-finite" in errors[0] or "nan" in errors[0].lower(), errors[0]
    assert "Traceback" not in err
    trials = pd.read_csv(run_dir / "trials.csv")
    assert (trials["status"] == "FAILED").sum() >= 2 and (trials["status"] != "COMPLETED").all()
    assert_no_child_left(children, run_dir)
