"""The command line: help, exit codes, end to end on tiny data, and kill-and-resume."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import make_reviews, write_csv

from rnnsweep.tuning.cli import build_parser, main

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}


# A developer's shell: TensorFlow's log level not set by hand, every Python warning shown (so a
# library warning that reached the terminal would be seen here).
USER_ENV = {**{k: v for k, v in ENV.items() if k != "TF_CPP_MIN_LOG_LEVEL"}, "PYTHONWARNINGS": "always"}


def rnnsweep(*args, env=ENV, **kwargs):
    return subprocess.run([sys.executable, "-m", "rnnsweep", *args], capture_output=True, text=True, env=env, **kwargs)


def test_help_lists_every_option_with_defaults(capsys):
    parser = build_parser()
    for command in ("data", "tune", "retrain", "report", "predict", "run"):
        with pytest.raises(SystemExit) as exit_info:
            parser.parse_args([command, "--help"])
        assert exit_info.value.code == 0
        text = capsys.readouterr().out
        assert "usage: rnnsweep " + command in text
        assert "(default: None)" not in text, text
        if command in ("tune", "run"):
            assert "(default: auto)" in text and "(default: 3)" in text
    parser.parse_args(["tune", "--max-trials", "3"])  # parses
    with pytest.raises(SystemExit):
        parser.parse_args(["tune", "--tuner", "grid"])


FIXTURES = Path(__file__).parent / "fixtures"
GOOD = make_reviews(60)
CLOTHING = ["--preset", "womens-clothing"]

# name: (files to write, argv, text the one stderr line must contain). Paths are relative to
# a fresh working directory; "run" is the run directory every case checks is left untouched
# ("prepared" runs the data stage there first, "existing" leaves a finished data stage).
BAD_INPUTS = {
    "missing file": ({}, ["data", "--data", "missing.csv", *CLOTHING], "missing.csv: no such file"),
    "directory": ({"d/x.txt": b"x"}, ["data", "--data", "d", *CLOTHING], "is a directory"),
    "empty file": ({"e.csv": b""}, ["data", "--data", "e.csv", *CLOTHING], "e.csv"),
    "header only": ({"h.csv": b"Title,Review Text,Rating\n"}, ["data", "--data", "h.csv", *CLOTHING], "h.csv"),
    "binary file": ({"b.csv": b"\x00\x01\x02" * 100}, ["data", "--data", "b.csv", *CLOTHING], "binary"),
    "bad gzip": ({"g.csv.gz": b"not gzip at all"}, ["data", "--data", "g.csv.gz", *CLOTHING], "g.csv.gz"),
    "truncated gzip": ("truncated", ["data", "--data", "t.csv.gz", *CLOTHING], "t.csv.gz"),
    "unknown preset": ({}, ["data", "--data", "r.csv", "--preset", "yelp"], "invalid choice: 'yelp'"),
    "unknown label scheme": ({}, ["data", "--data", "r.csv", "--labels", "stars5"], "invalid choice: 'stars5'"),
    "missing text column": ({}, ["data", "--data", "r.csv", *CLOTHING, "--text-column", "body"], "'body'"),
    "missing label column": ({}, ["data", "--data", "r.csv", *CLOTHING, "--label-column", "stars"], "'stars'"),
    "no usable labels": (
        {"x.csv": [{**r, "Rating": "x"} for r in GOOD]},
        ["data", "--data", "x.csv", *CLOTHING],
        "no usable values",
    ),
    "one class": ({"one.csv": [{**r, "Rating": 5} for r in GOOD]}, ["data", "--data", "one.csv", *CLOTHING], "'5'"),
    "class too small to stratify": (
        {"small.csv": [*GOOD[:59], {**GOOD[0], "Review Text": "lonely", "Rating": 6}]},
        [
            "data",
            "--data",
            "small.csv",
            "--text-column",
            "Review Text",
            "--label-column",
            "Rating",
            "--labels",
            "stars",
        ],
        "class '6' has 1 row",
    ),
    "all texts empty after cleaning": (
        {"empty.csv": [{**r, "Review Text": "123 !!"} for r in GOOD]},
        ["data", "--data", "empty.csv", *CLOTHING],
        "empty after cleaning",
    ),
    "unknown config key": ({"c.toml": b"[search]\nmax_trial = 3\n"}, ["tune", "--config", "c.toml"], "'max_trial'"),
    "bad config value": ({"c.toml": b"[data]\nvocab_size = 1\n"}, ["data", "--config", "c.toml"], "vocab_size"),
    "malformed TOML": ({"c.toml": b"[search\n"}, ["run", "--config", "c.toml"], "c.toml: not valid TOML"),
    "missing config file": ({}, ["data", "--config", "nope.toml"], "nope.toml: no such config file"),
    "vector file with varying dimensions": (
        {"c.toml": b'[data]\nembeddings_path = "v.txt"\n', "v.txt": b"dress 0.1 0.2\ngreat 0.1 0.2 0.3\n"},
        ["data", "--config", "c.toml", "--data", "r.csv", *CLOTHING],
        "v.txt",
    ),
    "unknown budget": ({}, ["run", "--data", "r.csv", *CLOTHING, "--budget", "huge"], "invalid choice: 'huge'"),
    "vectors file and named vectors": (
        {"v.txt": b"dress 0.1 0.2\n"},
        ["data", "--data", "r.csv", *CLOTHING, "--embeddings", "word2vec", "--embeddings-path", "v.txt"],
        "embeddings_path goes with embeddings",
    ),
    "unknown architecture": ({}, ["tune", "--data", "r.csv", *CLOTHING, "--architectures", "lstm,tx"], "'tx'"),
    "workers 0": ({}, ["tune", "--data", "r.csv", *CLOTHING, "--workers", "0"], "Received: workers=0"),
    "workers many": ({}, ["run", "--data", "r.csv", *CLOTHING, "--workers", "many"], "Received: workers='many'"),
    "unknown backend": ({}, ["tune", "--data", "r.csv", *CLOTHING, "--backend", "torch"], "invalid choice: 'torch'"),
    "short worker timeout": (
        {},
        ["tune", "--data", "r.csv", *CLOTHING, "--workers", "2", "--worker-timeout", "3"],
        "worker_timeout must be at least 30 s",
    ),
    "bad data on tune": ({}, ["tune", "--data", "missing.csv", *CLOTHING], "missing.csv: no such file"),
    "bad data on run": ({}, ["run", "--data", "missing.csv", *CLOTHING], "missing.csv: no such file"),
    "overwrite with bad data keeps the run": (
        "existing",
        ["data", "--data", "missing.csv", *CLOTHING, "--overwrite"],
        "missing.csv: no such file",
    ),
    "retrain a missing run": ({}, ["retrain", "run"], "run: not a run directory"),
    "retrain a half-made run": ("prepared", ["retrain", "run"], "trials.csv: no trials table"),
    "report a folder that is no run": ({"run/notes.txt": b"x"}, ["report", "run"], "run: not a run directory"),
    # Archives: damaged, encrypted, too large once decompressed, or holding several files.
    "damaged deflate stream in a gzip": (
        "damaged gzip",
        ["data", "--data", "d.csv.gz", *CLOTHING],
        "d.csv.gz: cannot be decompressed (Error -3",
    ),
    "damaged deflate stream in a zip": (
        "damaged zip",
        ["data", "--data", "d.csv.zip", *CLOTHING],
        "d.csv.zip: cannot be decompressed (Error -3",
    ),
    "encrypted zip": ("encrypted zip", ["data", "--data", "e.csv.zip", *CLOTHING], "e.csv.zip: the zip is encrypted"),
    "zip of two files": ("two-file zip", ["data", "--data", "two.csv.zip", *CLOTHING], "found 2"),
    "decompressed input over max_input_bytes": (
        "gzip",
        ["data", "--data", "r.csv.gz", *CLOTHING, "--config", "c.toml"],
        "more than 1,000 bytes of data (max_input_bytes)",
    ),
    # The file's content.
    "a header naming a column twice": (
        {"dup.csv": b"Title,Review Text,Rating,Rating\n,nice dress,5,4\n"},
        ["data", "--data", "dup.csv", *CLOTHING],
        "dup.csv: the header names column 'Rating' more than once",
    ),
    "a NUL byte past the first 8 KB": (
        "late NUL",
        ["data", "--data", "nul.csv", *CLOTHING],
        "nul.csv: holds a NUL byte",
    ),
    "a vectors header claiming 10^12 words": (
        {"c.toml": b'[data]\nembeddings_path = "v.txt"\n', "v.txt": b"1000000000000 2\ndress 0.1 0.2\n"},
        ["data", "--config", "c.toml", "--data", "r.csv", *CLOTHING],
        "v.txt: the header line says 1000000000000 words",
    ),
    # The output folder: a file, another program's folder, a damaged or foreign config.toml.
    "output is a file": ({"run": b"my notes"}, ["data", "--data", "r.csv", *CLOTHING], "run: is a file"),
    "output holds another program's files": (
        {"run/notes.txt": b"mine"},
        ["data", "--data", "r.csv", *CLOTHING],
        "run: holds files rnnsweep did not write ('notes.txt')",
    ),
    "output holds another program's files, with --overwrite": (
        {"run/models/__init__.py": b"x = 1", "run/config.toml": b"[tool]\nx = 1\n"},
        ["run", "--data", "r.csv", *CLOTHING, "--overwrite"],
        "run: holds files rnnsweep did not write ('config.toml', 'models')",
    ),
    "damaged config.toml in a run": ("damaged config", ["tune", "--data", "r.csv", *CLOTHING], "config.toml: damaged"),
    "damaged marker": ("damaged marker", ["data", "--data", "r.csv", *CLOTHING], "rnnsweep-run.json: damaged"),
    # Config values of the wrong type or range, each named.
    "dropout as a number, not a list": (
        {"c.toml": b"[search.space]\ndropout = 1.5\n"},
        ["tune", "--config", "c.toml", "--data", "r.csv", *CLOTHING],
        "[search.space] dropout must be a list",
    ),
    "a boolean as a string": (
        {"c.toml": b'[data]\nlowercase = "false"\n'},
        ["data", "--config", "c.toml", "--data", "r.csv", *CLOTHING],
        "[data] lowercase must be true or false. Received: lowercase='false'",
    ),
    "a number as a string": (
        {"c.toml": b'[retrain]\nepochs = "4"\n'},
        ["run", "--config", "c.toml", "--data", "r.csv", *CLOTHING],
        "[retrain] epochs must be a whole number",
    ),
    "a class listed twice": (
        {"c.toml": b'[data]\nlabels = "categorical"\nclasses = ["a", "b", "a"]\n'},
        ["data", "--config", "c.toml", "--data", "r.csv", *CLOTHING],
        "classes must list each class once",
    ),
    "a section that is not a table": ({"c.toml": b"search = 3\n"}, ["tune", "--config", "c.toml"], "[search] must be"),
    # Names that would become paths.
    "an architecture name with ..": (
        {"c.toml": b'[search.custom_architectures."../../x"]\ncell = "gru"\ndepth = 1\n'},
        ["tune", "--config", "c.toml", "--data", "r.csv", *CLOTHING],
        "Received: search.custom_architectures name='../../x'",
    ),
    "an absolute architecture name": (
        {"c.toml": b'[search.custom_architectures."/tmp/thesis"]\ncell = "gru"\ndepth = 1\n'},
        ["run", "--config", "c.toml", "--data", "r.csv", *CLOTHING],
        "name='/tmp/thesis'",
    ),
    "a worker id with a slash": (
        {},
        ["tune", "--role", "worker", "--oracle", "127.0.0.1:7000", "--worker-id", "../w", "--data", "r.csv"],
        "--worker-id must be letters",
    ),
    "a chief without a token": (
        {},
        ["tune", "--role", "chief", "--oracle", "127.0.0.1:7000", "--data", "r.csv", *CLOTHING],
        "a chief needs the sweep's token",
    ),
    "TLS certificate without its key": (
        {"cert.pem": b"-----BEGIN CERTIFICATE-----\n"},
        ["tune", "--role", "chief", "--oracle", "127.0.0.1:7000", "--insecure", "--tls-cert", "cert.pem"],
        "--tls-cert and --tls-key go together",
    ),
    # Model files.
    "predict an HDF5 model": ({"m.h5": b"\x89HDF\r\n"}, ["predict", "m.h5", "text"], "m.h5: not a .keras model file"),
    "predict a .keras file that is no zip": ({"m.keras": b"junk"}, ["predict", "m.keras", "x"], "not a .keras model"),
    "predict over an existing file": (
        {"mine.csv": b"my own table"},
        ["predict", str(FIXTURES / "legacy_export.keras"), "lovely", "--output", "mine.csv"],
        "mine.csv: exists; pass --overwrite",
    ),
    "predict a missing model": ({}, ["predict", "none.keras", "some text"], "none.keras: no such model file"),
    "predict with a model that is not an export": (
        {},
        ["predict", str(FIXTURES / "legacy_model.keras"), "text"],
        "not an rnnsweep export",
    ),
    "predict a file without the text column": (
        {"in.csv": b"body\nlovely dress\n"},
        ["predict", str(FIXTURES / "legacy_export.keras"), "--input", "in.csv", "--output", "out.csv"],
        "no text column 'text'",
    ),
}


def _tree(folder: Path) -> dict[str, bytes] | None:
    """Every file under `folder` with its bytes (None when the folder does not exist)."""
    if not folder.exists():
        return None
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _special_files(kind: str, folder: Path) -> dict:
    """The files of a table row that are made rather than written out (archives, prepared runs)."""
    import gzip
    import zipfile

    good = (folder / "r.csv").read_bytes()
    if kind == "truncated":
        full = gzip.compress(good)
        return {"t.csv.gz": full[: len(full) // 2]}
    if kind == "damaged gzip":
        full = bytearray(gzip.compress(good * 20))
        full[20:84] = b"\xff" * 64  # inside the first deflate block: zlib.error, header and trailer intact
        return {"d.csv.gz": bytes(full)}
    if kind in ("damaged zip", "encrypted zip", "two-file zip"):
        name = {"damaged zip": "d.csv.zip", "encrypted zip": "e.csv.zip", "two-file zip": "two.csv.zip"}[kind]
        with zipfile.ZipFile(folder / name, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("reviews.csv", good * 20)
            if kind == "two-file zip":
                archive.writestr("more.csv", good)
        raw = bytearray((folder / name).read_bytes())
        if kind == "damaged zip":
            start = 30 + len("reviews.csv")  # the member's data, after its local header
            raw[start + 40 : start + 104] = b"\xff" * 64
        elif kind == "encrypted zip":
            for at in (6, raw.rfind(b"PK\x01\x02") + 8):  # the flag of the local and the central header
                raw[at] |= 0x1
        return {name: bytes(raw)}
    if kind == "gzip":
        return {"r.csv.gz": gzip.compress(good), "c.toml": b"[data]\nmax_input_bytes = 1000\n"}
    if kind == "late NUL":
        return {"nul.csv": good * 10 + b",lovely \x00 dress,5\n"}
    assert main(["-q", "data", "--data", "r.csv", *CLOTHING, "--output", "run"]) == 0
    if kind == "damaged config":
        return {"run/config.toml": b"[data\n"}
    if kind == "damaged marker":
        return {"run/rnnsweep-run.json": b"{not json"}
    return {}  # "prepared", "existing": a finished data stage


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, monkeypatch, capfd, case):
    files, argv, message = BAD_INPUTS[case]
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RNNSWEEP_TOKEN", raising=False)
    # An internal error's log would land in the temporary folder: an empty one of its own here.
    (tmp_path / ".tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / ".tmp"))
    write_csv(tmp_path / "r.csv", GOOD)
    if isinstance(files, str):
        files = _special_files(files, tmp_path)
    for name, content in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            (tmp_path / name).write_bytes(content)
        else:
            write_csv(tmp_path / name, content)
    command, *rest = argv
    if command in ("data", "tune", "run"):
        rest += ["--output", "run"]
    before = _tree(tmp_path)
    capfd.readouterr()
    with pytest.raises(SystemExit) if "invalid choice" in message else contextlib.nullcontext() as exited:
        code = main([command, *rest])
    code = exited.value.code if exited else code
    captured = capfd.readouterr()  # file descriptor 2 itself: native libraries' lines too
    err = captured.err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith(f"rnnsweep {command}: error: "), err
    assert message in err[0] and "Traceback" not in captured.err, err
    assert captured.out == ""
    # Nothing written anywhere: absent stays absent, an existing run and the user's files as they were.
    assert _tree(tmp_path) == before
    assert not (tmp_path / "runs").exists()


def test_bad_data_is_answered_without_importing_tensorflow(tmp_path):
    code = (
        "import sys; from rnnsweep.tuning.cli import main;"
        "code = main(['data', '--data', 'missing.csv']);"
        "print(code, 'tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=ENV)
    assert result.stdout.split() == ["2", "False", "False"], result.stderr
    assert result.stderr.strip().splitlines() == [
        "rnnsweep data: error: missing.csv: no such file; check the path given with --data"
    ]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_run_end_to_end_in_a_subprocess(tmp_path):
    data = write_csv(tmp_path / "reviews.csv", make_reviews(300))
    config = tmp_path / "sweep.toml"
    config.write_text(
        '[data]\npreset = "womens-clothing"\nembeddings = "word2vec"\nword2vec_dimension = 8\nword2vec_epochs = 2\n'
        '[search]\narchitectures = ["lstm", "bilstm"]\nmax_trials = 1\nepochs = 1\n'
        '[search.space]\nunits = [8]\nlearning_rate = [0.01]\npooling = ["mean"]\n'
        "[retrain]\nepochs = 1\npatience = 1\n"
    )
    result = rnnsweep(
        "run",
        *("--config", str(config), "--data", str(data), "--output", str(tmp_path / "run"), "--workers", "2"),
        env=USER_ENV,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    index = Path(result.stdout.strip().splitlines()[-1])
    assert index == tmp_path / "run" / "report" / "index.html" and index.is_file()
    # One line per finished trial from the launcher, the leaderboard, and no library noise.
    assert len(re.findall(r"^(lstm|bilstm) trial [12] of 2: val_auc", result.stderr, re.MULTILINE)) == 2
    assert "leaderboard" in result.stderr
    both = result.stdout + result.stderr
    library_noise = ("I0000", "E0000", "W0000", "absl::InitializeLog", "Search: Running Trial", "Best val_auc So Far")
    python_noise = ("Warning:", "warnings.warn", "Traceback")
    for noise in library_noise + python_noise:
        assert noise not in both, noise
    logs = tmp_path / "run" / "logs"
    assert {"chief.log", "worker-0.log", "worker-1.log"} <= {p.name for p in logs.iterdir()}
    # ... they went to the logs: keras-tuner's tables to the chief's, TensorFlow's start-up to each process's.
    assert "Search: Running Trial" in (logs / "chief.log").read_text()
    assert all("I0000" in (logs / f"worker-{i}.log").read_text() for i in (0, 1))
    assert "I0000" in (logs / "run.log").read_text()
    assert "DeprecationWarning" in (logs / "run.log").read_text()  # the libraries' warnings went to the log
    trials = pd.read_csv(tmp_path / "run" / "trials.csv")
    assert sorted(trials["architecture"]) == ["bilstm", "lstm"] and (trials["status"] == "COMPLETED").all()
    for name in ("lstm", "bilstm"):
        metrics = json.loads((tmp_path / "run" / "models" / name / "metrics.json").read_text())
        assert 0.5 < metrics["test"]["auc_macro"] <= 1
    assert len(list(index.parent.glob("*.png"))) >= 8
    # word2vec vectors trained on the run's reviews started the embedding; the report says so
    assert re.search(
        r"word2vec, 8 dimensions, fine-tuned, trained .* vectors for 100.0% of the vocabulary", index.read_text()
    )
    # predict with the export, from the command line
    out = rnnsweep("predict", str(tmp_path / "run" / "models" / "lstm" / "export.keras"), "lovely soft dress", "awful")
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.strip().splitlines()
    assert lines[0] == "text,label,p_1,p_2,p_3,p_4,p_5" and len(lines) == 3
    # report alone works again from saved artifacts
    again = rnnsweep("report", str(tmp_path / "run"))
    assert again.returncode == 0 and Path(again.stdout.strip()) == index


@pytest.mark.slow
def test_sigkill_mid_trial_then_resume(tmp_path):
    """A sweep killed in the middle of a trial resumes: no completed trial is lost or repeated."""
    data = write_csv(tmp_path / "reviews.csv", make_reviews(300))
    run_dir = tmp_path / "run"
    config = tmp_path / "sweep.toml"
    config.write_text(
        '[data]\npreset = "womens-clothing"\n'
        '[search]\narchitectures = ["gru1"]\nmax_trials = 4\nepochs = 4\nearly_stopping_patience = 0\n'
        "[search.space]\nunits = [8, 16]\nlearning_rate = [0.01, 0.001]\ndropout = [0.0]\n"
    )
    command = [
        sys.executable,
        "-m",
        "rnnsweep",
        "tune",
        "--config",
        str(config),
        "--data",
        str(data),
        "--output",
        str(run_dir),
        "--workers",
        "1",  # keras-tuner's own resume in one process; tests/test_distributed.py kills a launcher of workers
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    target = run_dir / "search" / "gru1" / "trial_2" / "trial.json"
    deadline = time.monotonic() + 240
    while not target.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    assert target.exists(), "the sweep never reached its third trial"
    time.sleep(1.0)  # inside trial 2's training
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert json.loads(target.read_text())["status"] == "RUNNING"
    before = {i: json.loads((run_dir / "search" / "gru1" / f"trial_{i}" / "trial.json").read_text()) for i in (0, 1)}
    assert all(t["status"] == "COMPLETED" for t in before.values())

    result = subprocess.run(command, capture_output=True, text=True, env=ENV, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    trials = pd.read_csv(run_dir / "trials.csv")
    assert len(trials) == 4 and (trials["status"] == "COMPLETED").all()
    assert trials["trial_id"].astype(str).is_unique
    for i, trial in before.items():
        after = json.loads((run_dir / "search" / "gru1" / f"trial_{i}" / "trial.json").read_text())
        assert after["score"] == trial["score"] and after["hyperparameters"] == trial["hyperparameters"]
    combos = {(r.hp_units_1, r.hp_learning_rate) for r in trials.itertuples()}
    assert len(combos) == 4  # every combination once: nothing repeated


def test_an_internal_error_is_one_line_naming_its_traceback(tiny_run, tmp_path, monkeypatch, capsys):
    """Our own bugs are not dressed up as the user's mistake: exit 1, one line, the traceback in the run's log."""
    import shutil

    from rnnsweep.tuning import pipeline

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)

    def broken(run_dir):
        raise RuntimeError("something inside rnnsweep broke")

    monkeypatch.setattr(pipeline, "report_stage", broken)
    capsys.readouterr()
    assert main(["report", str(run)]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("rnnsweep report: internal error (RuntimeError: something inside rnnsweep broke)")
    log = run / "logs" / "report.log"
    text = log.read_text()
    assert line.endswith(str(log)) and "Traceback" in text and "in broken" in text
    assert "RuntimeError: something inside rnnsweep broke" in text


def test_an_architecture_whose_trials_all_fail_is_named(tmp_path, caplog, monkeypatch):
    import logging

    from rnnsweep.tuning.trials import log_leaderboard

    monkeypatch.setattr(logging.getLogger("rnnsweep"), "propagate", True)  # main() in other tests turns it off

    table = pd.DataFrame(
        {
            "architecture": ["gru1", "lstm", "lstm"],
            "trial_id": ["0", "0", "1"],
            "status": ["COMPLETED", "FAILED", "FAILED"],
            "objective": [0.8, None, None],
            "reason": ["", "x", "RuntimeError: Unable to automatically build the model"],
        }
    )
    with caplog.at_level("INFO", logger="rnnsweep"):
        log_leaderboard(table, "val_auc")
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert set(warnings) == {
        "lstm: no trial completed (last reason: RuntimeError: Unable to automatically build the model); see trials.csv"
    }
