"""One import namespace: rnnsweep.* installed (editable and wheel), no bare packages, saved models still load."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"
BARE = ("data_prep", "models", "tuning", "reports")
PROBE = """
import importlib, json, sys
import rnnsweep.reports, rnnsweep.tuning.config
bare = {}
for name in json.loads(sys.argv[1]):
    try:
        importlib.import_module(name)
        bare[name] = True
    except ModuleNotFoundError:
        bare[name] = False
print(json.dumps({"bare": bare, "config": rnnsweep.tuning.config.__file__, "templates": rnnsweep.reports.__path__[0]}))
"""


def _probe(python: str, cwd: Path, env: dict | None = None) -> dict:
    command = [python, "-c", PROBE, json.dumps(BARE)]
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_editable_install_has_rnnsweep_and_no_bare_packages(tmp_path):
    """The environment the README's commands make (`pip install -e .`), seen from outside the repository."""
    found = _probe(sys.executable, tmp_path)
    assert found["bare"] == dict.fromkeys(BARE, False)
    assert Path(found["config"]) == REPO / "tuning" / "config.py"  # the folders keep their places


@pytest.mark.slow
def test_wheel_install_has_rnnsweep_and_no_bare_packages(tmp_path):
    """A wheel in a fresh virtual environment (its dependencies borrowed from this one)."""
    wheels = tmp_path / "wheels"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(REPO)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = wheels.glob("rnnsweep-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # This environment's packages without its editable rnnsweep: a .pth line adds the
    # folder, and .pth files inside a folder added that way are not read.
    Path(site, "borrowed.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", site, str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    found = _probe(python, tmp_path, env)
    assert found["bare"] == dict.fromkeys(BARE, False)
    assert Path(found["config"]).is_relative_to(site)
    assert (Path(found["templates"]) / "templates" / "index.html.j2").is_file()  # package data travels
    for cwd in (tmp_path, REPO):  # from the repository root too: no folder there shadows the package
        command = subprocess.run([python, "-m", "rnnsweep", "--help"], capture_output=True, text=True, cwd=cwd, env=env)
        assert command.returncode == 0 and "usage: rnnsweep" in command.stdout, command.stderr[-2000:]


def test_models_saved_before_the_namespace_change_load_and_predict_identically():
    """tests/fixtures/legacy_*.keras were saved by the code of commit a5795aa (bare `tuning`,
    `models` packages): every registered layer rnnsweep has, by its registered name."""
    import keras
    import tensorflow as tf

    from rnnsweep.tuning.export import class_names_of, load_text_model

    expected = json.loads((FIXTURES / "legacy_expected.json").read_text())
    exported = load_text_model(FIXTURES / "legacy_export.keras")
    assert class_names_of(exported) == ["bad", "meh", "good"]
    probabilities = exported.predict(tf.constant(expected["texts"]), verbose=0)
    np.testing.assert_allclose(probabilities, expected["probabilities"], atol=1e-6)
    model = keras.models.load_model(FIXTURES / "legacy_model.keras", safe_mode=True)
    token_probabilities = model.predict(np.asarray(expected["token_ids"], dtype="int32"), verbose=0)
    np.testing.assert_allclose(token_probabilities, expected["token_probabilities"], atol=1e-6)


def test_registered_names_are_stable():
    """Saved `.keras` files name rnnsweep's layers by these strings; changing one breaks old files."""
    import keras

    from rnnsweep.models import recurrent
    from rnnsweep.tuning import export

    names = {
        keras.saving.get_registered_name(layer)
        for layer in (
            recurrent.LSTM,
            recurrent.GRU,
            recurrent.SimpleRNN,
            export.TextCleaning,
            export.ClassProbabilities,
        )
    }
    assert names == {
        "rnnsweep>LSTM",
        "rnnsweep>GRU",
        "rnnsweep>SimpleRNN",
        "rnnsweep>TextCleaning",
        "rnnsweep>ClassProbabilities",
    }


def test_public_face_is_lazy_and_complete():
    code = (
        "import sys, rnnsweep;"
        "heavy = tuple(f'rnnsweep.{p}' for p in ('data_prep', 'models', 'tuning', 'reports'));"
        "heavy += ('tensorflow', 'keras');"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)));"
        "[getattr(rnnsweep, name) for name in rnnsweep.__all__]; print('ok')"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    loaded, ok = result.stdout.strip().splitlines()[-2:]
    assert loaded == "[]" and ok == "ok"  # nothing imported until used; every public name resolves
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        import rnnsweep

        rnnsweep.nope  # noqa: B018


def test_the_project_imports_only_rnnsweep_names(tmp_path):
    """The lint rule (ruff TID251 in pyproject.toml) bans bare imports; this checks it is on and holds."""

    def ruff(path):
        command = ["check", "--config", str(REPO / "pyproject.toml"), "--select", "TID251", "--no-cache", str(path)]
        return subprocess.run([sys.executable, "-m", "ruff", *command], capture_output=True, text=True, cwd=REPO)

    result = ruff(REPO)
    assert result.returncode == 0, result.stdout[-3000:]
    probe = tmp_path / "probe.py"
    probe.write_text("from models.builders import build_model  # noqa: F401\n")
    flagged = ruff(probe)
    assert flagged.returncode == 1 and "`models` is banned" in flagged.stdout
