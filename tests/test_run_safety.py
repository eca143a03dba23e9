"""rnnsweep writes, replaces and deletes only what it made: run directories, names, model files, CSVs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from conftest import make_reviews, write_csv

from rnnsweep.data_prep.run_dir import MARKER
from rnnsweep.tuning.cli import main

FIXTURES = Path(__file__).parent / "fixtures"
CLOTHING = ["--preset", "womens-clothing"]


def _tree(folder: Path) -> dict[str, bytes]:
    """Every file and folder under `folder`, files with their bytes."""
    return {
        str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else b"<dir>") for p in sorted(folder.rglob("*"))
    }


def _main(capfd, *argv) -> tuple[int, list[str]]:
    capfd.readouterr()
    code = main(list(argv))
    return code, capfd.readouterr().err.strip().splitlines()


@pytest.fixture
def user_project(tmp_path, monkeypatch) -> Path:
    """A user's own project folder: an input file in data/, a models/ package, notes and a config of another tool."""
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    (project / "models").mkdir()
    write_csv(project / "data" / "reviews.csv", make_reviews(80))
    (project / "data" / "summary.json").write_text('{"rows": 80, "by": "my own script"}\n')
    (project / "models" / "__init__.py").write_text("WEIGHTS = 'mine'\n")
    (project / "notes.md").write_text("my thesis notes\n")
    (project / "config.toml").write_text("[tool.black]\nline-length = 99\n")
    monkeypatch.chdir(project)
    return project


@pytest.mark.parametrize("overwrite", [False, True], ids=["plain", "overwrite"])
def test_a_users_folder_survives_every_command(user_project, capfd, overwrite):
    before = _tree(user_project)
    data = ["--data", "data/reviews.csv", *CLOTHING, "--embeddings", "learned"]
    flags = ["--overwrite"] if overwrite else []
    commands = [
        ["data", *data, "--output", ".", *flags],
        ["tune", *data, "--output", ".", "--max-trials", "1", *flags],
        ["run", *data, "--output", ".", "--max-trials", "1", *flags],
        ["retrain", "."],
        ["report", "."],
        ["data", *data, "--output", "models", *flags],  # a subfolder of the user's
        ["report", "models"],
    ]
    for argv in commands:
        code, err = _main(capfd, *argv)
        assert code == 2, argv
        assert len(err) == 1 and err[0].startswith(f"rnnsweep {argv[0]}: error: "), (argv, err)
        assert "not a run directory" in err[0] or "did not write" in err[0], err
        assert _tree(user_project) == before, argv  # every file byte for byte, nothing added


def test_overwrite_in_a_marked_run_removes_only_what_rnnsweep_wrote(user_project, capfd):
    data = ["--data", "data/reviews.csv", *CLOTHING, "--embeddings", "learned", "--output", "run"]
    assert _main(capfd, "data", *data)[0] == 0
    marker = json.loads((user_project / "run" / MARKER).read_text())
    assert marker["format_version"] == 1 and marker["format"] == "rnnsweep run directory"
    (user_project / "run" / "my-notes.txt").write_text("mine")
    (user_project / "run" / "logs").mkdir(exist_ok=True)
    (user_project / "run" / "logs" / "stale.log").write_text("old")
    assert _main(capfd, "data", *data, "--overwrite", "--max-rows", "60")[0] == 0
    assert (user_project / "run" / "my-notes.txt").read_text() == "mine"
    assert not (user_project / "run" / "logs" / "stale.log").exists()
    assert json.loads((user_project / "run" / "data" / "summary.json").read_text())["rows_used"] == 60
    assert (user_project / "run" / MARKER).is_file()


def test_a_run_made_before_the_marker_is_adopted(user_project, capfd):
    """An earlier release's run directory: config.toml and data/summary.json, no marker."""
    data = ["--data", "data/reviews.csv", *CLOTHING, "--embeddings", "learned", "--output", "run"]
    assert _main(capfd, "data", *data)[0] == 0
    (user_project / "run" / MARKER).unlink()  # the layout every release before the marker wrote
    assert _main(capfd, "data", *data)[0] == 0
    assert (user_project / "run" / MARKER).is_file()
    # Without data/summary.json it is no run: a config.toml alone proves nothing.
    (user_project / "run" / MARKER).unlink()
    shutil.rmtree(user_project / "run" / "data")
    before = _tree(user_project)
    code, err = _main(capfd, "data", *data)
    assert code == 2 and "did not write ('config.toml', 'timings.json')" in err[0]
    assert _tree(user_project) == before


def test_an_unwritable_output_is_one_line(tmp_path, capfd, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_csv(tmp_path / "r.csv", make_reviews(60))
    locked = tmp_path / "locked"
    locked.mkdir()
    # chattr +i stops root too (CI runs as root, for whom permission bits mean nothing).
    if subprocess.run(["chattr", "+i", str(locked)], capture_output=True).returncode != 0:
        if os.geteuid() == 0:
            pytest.skip("no chattr +i here, and root ignores permission bits")
        locked.chmod(0o500)
    try:
        for output in ("locked", "locked/run"):
            code, err = _main(capfd, "data", "--data", "r.csv", *CLOTHING, "--output", output)
            assert code == 2 and len(err) == 1, err
            assert "no permission to write" in err[0] or "cannot be written" in err[0], err
        assert list(locked.iterdir()) == []
    finally:
        subprocess.run(["chattr", "-i", str(locked)], capture_output=True)
        locked.chmod(0o700)


UNSAFE_NAMES = ["../../sentinel", "/tmp/rnnsweep-thesis", "a/b", ".hidden", "x" * 65, "name with space"]


@pytest.mark.parametrize("name", UNSAFE_NAMES)
def test_unsafe_names_are_refused_before_anything_is_written(tmp_path, capfd, monkeypatch, name):
    work = tmp_path / "work"
    sentinel = tmp_path / "sentinel"
    sentinel.mkdir()
    (sentinel / "keep.txt").write_text("keep")
    work.mkdir()
    monkeypatch.chdir(work)
    write_csv(work / "r.csv", make_reviews(60))
    config = work / "c.toml"
    config.write_text(f'[search.custom_architectures.{json.dumps(name)}]\ncell = "gru"\ndepth = 1\n')
    before, sentinel_before = _tree(work), _tree(sentinel)
    data = ["--data", "r.csv", *CLOTHING]
    cases = [
        (["tune", "--config", "c.toml", *data, "--output", "run"], "search.custom_architectures name"),
        (["run", "--config", "c.toml", *data, "--overwrite", "--output", "run"], "search.custom_architectures name"),
        (["run", *data, "--name", name], "--name must be"),
        (["data", *data, "--name", name, "--overwrite"], "--name must be"),
        (["tune", *data, "--role", "worker", "--oracle", "127.0.0.1:7000", "--worker-id", name], "--worker-id must"),
    ]
    for argv, key in cases:
        code, err = _main(capfd, *argv)
        assert code == 2 and len(err) == 1, (argv, err)
        assert key in err[0] and repr(name) in err[0], err
    assert _tree(work) == before
    assert _tree(sentinel) == sentinel_before
    assert not Path("/tmp/rnnsweep-thesis").exists()


def test_a_model_file_with_code_is_refused_and_its_code_never_runs(tmp_path, capfd):
    import keras

    ran = tmp_path / "the-code-ran"
    # A lambda is saved as its bytecode: loading the file runs it (the attack safe mode stops).
    payload = eval(f"lambda x: (open({str(ran)!r}, 'w').write('pwned'), x)[1]")  # the path a constant in it
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Lambda(payload)(inputs))
    model.save(tmp_path / "hostile.keras")
    ran.unlink()  # building the model ran it once, here
    code, err = _main(capfd, "predict", str(tmp_path / "hostile.keras"), "a lovely dress")
    assert code == 2 and len(err) == 1, err
    assert "hostile.keras: holds code (a Lambda layer), which safe mode refuses to run" in err[0]
    assert not ran.exists()
    # The check can fail: loaded without safe mode, the file does run its code.
    keras.models.load_model(tmp_path / "hostile.keras", safe_mode=False)
    assert ran.read_text() == "pwned"


def test_pinned_keras_has_no_known_loading_advisory():
    from importlib import metadata

    from packaging.version import Version

    assert Version(metadata.version("keras")) >= Version("3.15")
    requirement = next(r for r in metadata.requires("rnnsweep") if r.startswith("keras>") or r.startswith("keras<"))
    assert ">=3.15" in requirement


def test_predictions_csv_cannot_run_as_a_spreadsheet_formula(tmp_path, capfd):
    export = FIXTURES / "legacy_export.keras"
    texts = ['=HYPERLINK("http://x","click")', "+1+1", "-2", "@SUM(A1)", "a plain lovely dress"]
    code, _ = _main(capfd, "predict", str(export), *texts, "--output", str(tmp_path / "out.csv"))
    assert code == 0
    written = pd.read_csv(tmp_path / "out.csv", keep_default_na=False)
    assert written["text"].tolist() == ["'" + t for t in texts[:4]] + [texts[4]]
    assert not written["label"].astype(str).str.match(r"[=+\-@]").any()
    # Printed CSV too; a second write to the same file needs --overwrite.
    code, err = _main(capfd, "predict", str(export), *texts, "--output", str(tmp_path / "out.csv"))
    assert code == 2 and "exists; pass --overwrite" in err[0]
    assert _main(capfd, "predict", str(export), *texts, "--output", str(tmp_path / "out.csv"), "--overwrite")[0] == 0


def test_the_runs_own_rows_keep_every_text_byte_exact(tmp_path):
    from rnnsweep.data_prep.config import resolve_preset
    from rnnsweep.data_prep.layout import read_rows
    from rnnsweep.data_prep.prepare import build_prepared, save_prepared

    rows = make_reviews(80)
    for row, prefix in zip(rows, ["=cmd|' /C calc'!A0 ", "+", "-", "@"], strict=False):
        row["Review Text"] = prefix + row["Review Text"]
    source = write_csv(tmp_path / "r.csv", rows)
    config = resolve_preset({"preset": "womens-clothing", "path": str(source), "embeddings": "learned"})
    save_prepared(build_prepared(config), tmp_path / "run")
    kept = set(read_rows(tmp_path / "run")["text"])
    assert {row["Review Text"] for row in rows[:4]} <= kept


def test_a_zip_made_by_macos_finder_is_read(tmp_path):
    from rnnsweep.data_prep.sources import read_table_file

    source = write_csv(tmp_path / "reviews.csv", make_reviews(40))
    with zipfile.ZipFile(tmp_path / "reviews.csv.zip", "w") as archive:
        archive.write(source, "reviews.csv")
        archive.writestr("__MACOSX/", b"")
        archive.writestr("__MACOSX/._reviews.csv", b"\x00\x05\x16\x07resource fork")
        archive.writestr(".DS_Store", b"\x00\x00\x00\x01Bud1")
    frame, _ = read_table_file(tmp_path / "reviews.csv.zip")
    assert len(frame) == 40 and "Review Text" in frame.columns


def test_labels_with_math_syntax_are_drawn_literally(tiny_run, tmp_path):
    from rnnsweep.reports import build_report

    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run, run_dir)
    names = ["$\\notacommand$", "$x^$", "two $ signs $", "4", "5"]
    for path in [run_dir / "data" / "summary.json", *run_dir.glob("models/*/metrics.json")]:
        content = json.loads(path.read_text())
        content["class_names"] = names
        if "class_counts" in content:
            content["class_counts"] = {
                split: dict(zip(names, counts.values(), strict=True))
                for split, counts in content["class_counts"].items()
            }
        path.write_text(json.dumps(content))
    for path in run_dir.glob("*/**/predictions.csv"):
        frame = pd.read_csv(path)
        frame.rename(columns={f"p_{old}": f"p_{new}" for old, new in zip("12345", names, strict=True)}).to_csv(
            path, index=False
        )
    index = build_report(run_dir)
    assert "$\\notacommand$" in index.read_text().replace("&#36;", "$")
    assert (index.parent / "data_class_counts.png").stat().st_size > 0


def _config_keys():
    import dataclasses

    from rnnsweep.tuning.config import SECTIONS

    return [(section, field.name) for section, cls in SECTIONS.items() for field in dataclasses.fields(cls)]


@pytest.mark.parametrize("section,key", _config_keys())
def test_every_config_key_refuses_a_value_of_the_wrong_type(section, key):
    """Each key of every section, given a value of no type it accepts, is refused and named;
    booleans given as strings ("false" would be taken as true) too."""
    import typing

    from rnnsweep.data_prep.errors import InputError
    from rnnsweep.tuning.config import SECTIONS, load_config

    hint = typing.get_type_hints(SECTIONS[section])[key]
    wrong = "a string" if hint is dict else {"a": 1}  # a table: no key but the dict-valued ones takes it
    with pytest.raises(InputError, match=rf"\[{section}\] {key} must be .* Received: {key}="):
        load_config(None, {section: {key: wrong}})
    if hint is bool:
        with pytest.raises(InputError, match=rf"\[{section}\] {key} must be true or false. Received: {key}='false'"):
            load_config(None, {section: {key: "false"}})
