"""Atomic file writes: every stage's output is whole or absent, never half-written."""

from __future__ import annotations

import os
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
