"""Atomic writes: every stage's files and folders are whole or absent, never half-written."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from pathlib import Path


def write_atomically(path: str | Path, content: str | bytes) -> None:
    """Write `content` to a sibling file, then rename it over `path`.

    A rename is atomic, so a process killed mid-write leaves the old file (or none),
    and readers in other processes never see a truncated one. The sibling's name
    carries the process id, so concurrent writers never share it.
    """
    path = Path(path)
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    if isinstance(content, bytes):
        partial.write_bytes(content)
    else:
        partial.write_text(content, encoding="utf-8")
    os.replace(partial, path)


@contextlib.contextmanager
def staged_directory(target: str | Path, *, beside: str | Path | None = None):
    """A scratch folder that replaces `target` whole once the block succeeds.

    The folder is made with `mkdir`, so it gets the user's umask (`tempfile.mkdtemp` makes
    `drwx------` folders, which a web server or a group could not read once renamed). On
    success any old `target` is removed and the scratch folder renamed to it; on failure the
    scratch folder is removed and `target` is left as it was.

    Args:
        target: The folder to write.
        beside: Where the scratch folder goes (default None: `target`'s parent); on the
            same filesystem, so the rename is atomic.

    Yields:
        The scratch folder's path.
    """
    target = Path(target)
    parent = Path(beside) if beside is not None else target.parent
    parent.mkdir(parents=True, exist_ok=True)
    scratch = parent / f".{target.name}-{os.getpid()}-{secrets.token_hex(4)}"
    scratch.mkdir()
    try:
        yield scratch
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            shutil.rmtree(target)
        scratch.rename(target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
