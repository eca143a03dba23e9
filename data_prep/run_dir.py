"""Ownership of a run directory: rnnsweep writes, replaces or deletes only inside folders it made."""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import tomllib
from importlib import metadata
from pathlib import Path

from rnnsweep.data_prep.errors import InputError
from rnnsweep.data_prep.files import write_atomically
from rnnsweep.data_prep.layout import RunLayout

# The first file written into a new run directory. A folder without it is rnnsweep's only when
# it is empty or an earlier release's run directory (`_is_legacy_run`).
MARKER = "rnnsweep-run.json"
# 1: the marker's first format. Version 0 is a run made before the marker (recognised by
# `_is_legacy_run`); it is adopted, marker written, the first time a command writes to it.
FORMAT_VERSION = 1
RUN_SECTIONS = ("data", "search", "retrain", "report")

# Names that become file or folder names (run names, architectures, worker ids): letters, digits,
# `_` and `-`, starting with a letter or digit, at most 64 characters. No dots (no `..`, no
# hidden or suffixed names), no separators, nothing a shell or a URL would need to quote.
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


def check_safe_name(key: str, value) -> str:
    """Raise `InputError` unless `value` may be used as a file or folder name.

    Args:
        key: The setting or flag that gave the value, as the user writes it.
        value: The value received.

    Returns:
        `value`.

    Raises:
        InputError: `value` is not a string of letters, digits, `_` and `-` (at most 64,
            starting with a letter or digit).
    """
    if not isinstance(value, str) or not SAFE_NAME.fullmatch(value):
        raise InputError(
            f"{key} must be letters, digits, '_' and '-' (at most 64, starting with a letter or digit), "
            f"since it names a folder in the run directory. Received: {key}={value!r}"
        )
    return value


def _is_legacy_run(folder: Path) -> bool:
    """A run directory made before the marker: its `config.toml` is an rnnsweep config (only
    rnnsweep's sections, [data] and [search] among them) and `data/summary.json` exists.

    Both are written by every release since the first: the data stage saves the config and
    then the data; a folder that holds neither is not a run, whatever else it holds.
    """
    layout = RunLayout(folder)
    if not (layout.config.is_file() and layout.summary.is_file()):
        return False
    try:
        sections = tomllib.loads(layout.config.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError):
        return False
    return {"data", "search"} <= set(sections) <= set(RUN_SECTIONS)


def run_format(folder: Path) -> int | None:
    """The run directory's format version (0: made before the marker), or None when `folder`
    is not a run directory.

    Raises:
        InputError: The marker is damaged, or written by a newer rnnsweep.
    """
    marker = Path(folder) / MARKER
    if not marker.is_file():
        return 0 if Path(folder).is_dir() and _is_legacy_run(Path(folder)) else None
    try:
        content = json.loads(marker.read_text(encoding="utf-8"))
        version = content["format_version"]
    except (ValueError, KeyError, TypeError, OSError):
        raise InputError(
            f"{marker}: damaged (not rnnsweep's JSON); pass --output or --name for a new run directory"
        ) from None
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise InputError(
            f"{marker}: format_version {version!r} is newer than this rnnsweep reads ({FORMAT_VERSION}); "
            "upgrade rnnsweep, or pass --output or --name for a new run directory"
        )
    return version


def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists():
        path = path.parent
    return path


def check_writable_run_dir(run_dir: str | Path) -> None:
    """Raise unless rnnsweep may write into `run_dir`: absent (with a writable parent), empty,
    or a run directory (`run_format`). Writes nothing.

    Raises:
        InputError: `run_dir` is a file, holds what rnnsweep did not write, or cannot be
            written; the message names the folder and the way out.
    """
    run_dir = Path(run_dir)
    way_out = "pass --name NAME or another --output for a new run directory"
    if run_dir.exists() and not run_dir.is_dir():
        raise InputError(f"{run_dir}: is a file, not a run directory; {way_out}")
    existing = _nearest_existing(run_dir)
    if not existing.is_dir():
        raise InputError(f"{run_dir}: {existing} is a file, so no folder can be made there; {way_out}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"{run_dir}: no permission to write in {existing}; {way_out}")
    if existing != run_dir.absolute():
        return  # absent: made by `claim_run_dir`
    if run_format(run_dir) is not None or not any(run_dir.iterdir()):
        return
    foreign = sorted(entry.name for entry in run_dir.iterdir())
    shown = ", ".join(repr(name) for name in foreign[:3]) + (", ..." if len(foreign) > 3 else "")
    raise InputError(
        f"{run_dir}: holds files rnnsweep did not write ({shown}) and no {MARKER}, so it is not a run "
        f"directory; rnnsweep writes only into its own: {way_out}"
    )


def claim_run_dir(run_dir: str | Path) -> Path:
    """Make `run_dir` rnnsweep's: check it (`check_writable_run_dir`), create it, and write the
    marker first if it has none (an empty folder, or an earlier release's run, adopted).

    Returns:
        `run_dir`.

    Raises:
        InputError: As `check_writable_run_dir`.
    """
    run_dir = Path(run_dir)
    check_writable_run_dir(run_dir)
    marker = run_dir / MARKER
    if marker.is_file():
        return run_dir
    existing = _nearest_existing(run_dir)
    made = None if existing == run_dir.absolute() else existing / run_dir.absolute().relative_to(existing).parts[0]
    try:
        version = metadata.version("rnnsweep")
    except metadata.PackageNotFoundError:  # run from a source tree without an install
        version = "unknown"
    content = {
        "format": "rnnsweep run directory",
        "format_version": FORMAT_VERSION,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "rnnsweep_version": version,
    }
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_atomically(marker, json.dumps(content, indent=1) + "\n")
    except OSError as error:  # permissions that os.access does not see (root, immutable folders, read-only mounts)
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)  # only the folders made just now
        raise InputError(
            f"{run_dir}: cannot be written ({error.strerror}); pass --name NAME or another --output "
            "for a folder you can write to"
        ) from None
    return run_dir


def require_run_dir(run_dir: str | Path) -> Path:
    """`run_dir` if it is a run directory (marked or an earlier release's); writes nothing
    (a command that writes there calls `claim_run_dir`, which adopts an unmarked one).

    Raises:
        InputError: `run_dir` is missing or not a run directory.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir() or run_format(run_dir) is None:
        raise InputError(
            f"{run_dir}: not a run directory (no {MARKER}, no config.toml and data/summary.json); "
            "check the path or run `rnnsweep run` first"
        )
    return run_dir


def owns(run_dir: str | Path) -> bool:
    """Whether `run_dir` carries rnnsweep's marker (so logs and results may be written there)."""
    return (Path(run_dir) / MARKER).is_file()


def remove_generated(run_dir: str | Path) -> None:
    """Delete what the stages wrote (`RunLayout.generated`) from a marked run directory, and
    nothing else: other files there stay. A link is removed, never followed.

    Raises:
        InputError: `run_dir` carries no marker.
    """
    run_dir = Path(run_dir)
    if not owns(run_dir):
        raise InputError(f"{run_dir}: no {MARKER}, so rnnsweep deletes nothing there")
    for path in RunLayout(run_dir).generated():
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.is_dir():
            shutil.rmtree(path)
