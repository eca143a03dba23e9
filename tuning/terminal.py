"""What reaches the user's terminal: rnnsweep's own lines; native libraries' output goes to the run's logs."""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
from pathlib import Path

from rnnsweep.data_prep.layout import RunLayout
from rnnsweep.data_prep.run_dir import owns


@contextlib.contextmanager
def native_output_diverted():
    """Inside: whatever native code writes to this process's stderr goes to a temporary file.

    TensorFlow's C++ runtime, absl and gRPC write their start-up lines ("oneDNN custom
    operations are on", "failed call to cuInit", ...) straight to file descriptor 2, whatever
    Python's logging or TF_CPP_MIN_LOG_LEVEL say. Here descriptor 2 points to a
    temporary file while Python's `sys.stderr` (rnnsweep's messages, warnings, tracebacks)
    keeps the terminal.

    Yields:
        A function that returns what was diverted so far, as text.
    """
    sys.stderr.flush()
    terminal = os.dup(2)
    original = sys.stderr
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        if _writes_to_descriptor_2(original):  # else a harness (pytest) holds sys.stderr: leave it
            sys.stderr = io.TextIOWrapper(os.fdopen(terminal, "wb", closefd=False), line_buffering=True)

        def diverted() -> str:
            captured.flush()
            captured.seek(0)
            return captured.read().decode("utf-8", "replace")

        try:
            yield diverted
        finally:
            sys.stderr.flush()
            sys.stderr = original
            os.dup2(terminal, 2)
            os.close(terminal)


def _writes_to_descriptor_2(stream) -> bool:
    try:
        return stream.fileno() == 2
    except (AttributeError, OSError, ValueError):
        return False


def save_log(run_dir: Path | None, name: str, text: str) -> Path | None:
    """Append `text` to `RUN_DIR/logs/NAME.log` when the run directory is rnnsweep's (marked:
    nothing is created for a run that bad input stopped, nor in another program's folder);
    return the log's path, or None."""
    if run_dir is None or not text or not owns(run_dir):
        return None
    folder = RunLayout(run_dir).logs
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.log"
    with open(path, "a", encoding="utf-8") as log:
        log.write(text)
    return path
