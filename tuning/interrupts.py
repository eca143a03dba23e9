"""Ctrl-C, remembered: a sweep stops even where a library turned the KeyboardInterrupt into another error."""

from __future__ import annotations

import contextlib
import signal
import threading

# Process-wide, as the signal is: set by the handler `watched` installs, read by the tuner.
_requested = threading.Event()


def requested() -> bool:
    """Whether Ctrl-C (SIGINT) arrived while `watched` was active."""
    return _requested.is_set()


def raise_if_requested(error: BaseException | None = None) -> None:
    """Raise KeyboardInterrupt if Ctrl-C arrived, chained to `error` (default None).

    A SIGINT that lands inside TensorFlow's C++ tensor conversion comes back out as a
    TypeError ("Failed to convert elements ..."): without this, the trial counted as
    failed and the sweep went on (seen in CI).
    """
    if _requested.is_set():
        raise KeyboardInterrupt from error


@contextlib.contextmanager
def watched():
    """Inside: Ctrl-C raises KeyboardInterrupt as usual, and is also remembered for `requested`.

    For entry points only; outside the main thread (where no handler can be set) it does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def remember(signum, frame):
        _requested.set()
        signal.default_int_handler(signum, frame)

    previous = signal.signal(signal.SIGINT, remember)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _requested.clear()
