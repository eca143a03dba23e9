"""Sweep progress: one log line per finished trial with the sweep's count, best so far and ETA."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

from rnnsweep.data_prep.layout import RunLayout
from rnnsweep.models import objective as objectives
from rnnsweep.tuning.trials import ENDED, completed_scores, finished_trials, read_curve, trial_files

logger = logging.getLogger(__name__)


class Progress:
    """Called with each finished trial; logs one line about the sweep.

    Counts are read from the trial files, so they stay right on resume and when other
    processes (isolated trials, distributed workers) finish trials too.

    Args:
        run_dir: The run directory.
        architectures: The sweep's architectures (objects with `name`, or names).
        max_trials: Trials per architecture.
        objective: The objective's name.
        prefix: Put in front of each line, e.g. "[tuner0] " (default "").
        on_trial: Called with no arguments after each line, e.g. a `LiveReport` (default None).
    """

    def __init__(self, run_dir: Path, architectures, max_trials: int, objective: str, prefix: str = "", on_trial=None):
        self.on_trial = on_trial
        layout = RunLayout(run_dir)
        self.projects = {getattr(a, "name", a): layout.project(getattr(a, "name", a)) for a in architectures}
        self.max_trials = max_trials
        self.total = max_trials * len(self.projects)
        self.objective = objective
        self.prefix = prefix
        self.started = time.monotonic()
        self.done_at_start = self.count()

    def count(self) -> int:
        """Trials of the sweep that ended, at most `max_trials` per architecture."""
        return sum(min(finished_trials(p), self.max_trials) for p in self.projects.values())

    def timing(self, done: int) -> tuple[float, float | None]:
        """Seconds since the start and the ETA with `done` trials ended (None before one ended here)."""
        elapsed = time.monotonic() - self.started
        finished_here = done - self.done_at_start
        return elapsed, elapsed / finished_here * max(0, self.total - done) if finished_here > 0 else None

    def __call__(self, architecture: str, trial) -> None:
        done = self.count()
        elapsed, eta = self.timing(done)
        # The trial's file is the truth: a distributed worker's copy holds no score.
        path = self.projects[architecture] / f"trial_{trial.trial_id}" / "trial.json"
        saved = json.loads(path.read_text()) if path.is_file() else {}
        status, score = saved.get("status", trial.status), saved.get("score", trial.score)
        if status == "COMPLETED" and score is not None:
            best = objectives.best(completed_scores(self.projects[architecture]) or [score], self.objective)
            text = f"{self.objective} {score:.4f}, best {best:.4f}"
        else:
            lines = (saved.get("message") or trial.message or "").strip().splitlines()
            text = f"{str(status).lower()}: {lines[-1][:120] if lines else 'no message'}"
        logger.info(
            "%s%s trial %d of %d: %s | elapsed %s, ETA %s",
            self.prefix,
            architecture,
            done,
            self.total,
            text,
            _clock(elapsed),
            _clock(eta or 0.0),
        )
        if self.on_trial is not None:
            self.on_trial()


# After a live page, its drawer rests this many seconds per second the page took: drawing
# takes at most 1/50 of a sweep's time.
PAUSE_PER_DRAW_S = 49
# Set to "0" to turn the live report off (a CI machine with no one to watch; the test suite).
LIVE_REPORT_ENV = "RNNSWEEP_LIVE_REPORT"


class LiveReport:
    """`RUN_DIR/report/index.html` while the sweep runs, rewritten after each finished trial
    (`reports.live.write_live_report`).

    Each call asks a background thread for a new page and returns at once; the thread draws
    it in a separate process at the lowest CPU priority (`tuning.live_page`, `nice` 19), so
    the sweep neither waits for matplotlib nor shares its interpreter lock with it. After a
    page the thread rests `PAUSE_PER_DRAW_S` times as long as the page took, so drawing
    stays under 2% of the sweep's time (BENCHMARKS.md): a sweep whose trials take longer
    gets a page per trial, a fast one a page per few trials, each with every trial ended so
    far. A page that cannot be written is logged once and never stops the sweep. Use as a
    context manager: leaving it stops a page being drawn, so that nothing writes into the
    report folder once the search has ended (`pipeline.tune_stage` draws the last page,
    marked finished, for a `tune` command that no report follows).

    `RNNSWEEP_LIVE_REPORT=0` in the environment turns it off.

    Args:
        run_dir: The run directory.
        architectures: The sweep's architectures (objects with `name`).
        max_trials: Trials per architecture.
        objective: The objective's name.
    """

    def __init__(self, run_dir: Path, architectures, max_trials: int, objective: str):
        self.command = [
            sys.executable,
            "-P",  # not the working directory first on sys.path (a user's models.py there)
            "-m",
            "rnnsweep.tuning.live_page",
            str(run_dir),
            "--architectures",
            ",".join(getattr(a, "name", a) for a in architectures),
            "--max-trials",
            str(max_trials),
            "--objective",
            objective,
        ]
        self._wanted, self._closed, self._failed = threading.Event(), threading.Event(), False
        self._page = None
        self.enabled = os.environ.get(LIVE_REPORT_ENV, "1") != "0"
        self._thread = threading.Thread(target=self._draw_when_asked, name="rnnsweep-live-report", daemon=True)

    def __enter__(self) -> LiveReport:
        if self.enabled:
            self._thread.start()
        return self

    def __call__(self) -> None:
        self._wanted.set()

    def __exit__(self, *exc) -> None:
        if not self.enabled:
            return
        self._closed.set()
        self._wanted.set()
        page = self._page
        if page is not None and page.poll() is None:
            page.terminate()  # the search has ended: what comes next (the report) replaces the page
        self._thread.join()

    def _draw_when_asked(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            if self._closed.is_set():
                return
            started = time.monotonic()
            self._draw()
            self._closed.wait(PAUSE_PER_DRAW_S * (time.monotonic() - started))  # cut short at the end

    def _draw(self) -> None:
        # Its own session: a Ctrl-C at the terminal is the sweep's to answer, not the page's.
        self._page = subprocess.Popen(
            self.command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True
        )
        _, stderr = self._page.communicate()
        if self._page.returncode != 0 and not self._closed.is_set() and not self._failed:
            self._failed = True  # the page is a convenience; the sweep goes on
            last = (stderr.strip().splitlines() or ["no message"])[-1]
            logger.warning("the live report could not be written (%s); the sweep goes on", last)


class TrialWatcher:
    """The launcher's view of a sweep run by other processes: each call reports, through
    `progress`, the trials that ended since the last call (read from the trial files), one
    line each and never interleaved. Trials that had ended before it started are not reported.

    Args:
        progress: The `Progress` that writes the lines.
    """

    def __init__(self, progress: Progress):
        self.progress = progress
        self.reported = self._ended()

    def _ended(self) -> set[tuple[str, str]]:
        return {
            (name, trial["trial_id"])
            for name, project in self.progress.projects.items()
            for trial in trial_files(project)
            if trial["status"] in ENDED
        }

    def __call__(self) -> None:
        for name, trial_id in sorted(self._ended() - self.reported):
            self.reported.add((name, trial_id))
            self.progress(name, types.SimpleNamespace(trial_id=trial_id, status=None, score=None, message=None))


class LiveDisplay:
    """One live table in the terminal while workers sweep (rich): per architecture the trials
    done of its total and the best score so far, each worker's running trial and epoch, and
    the sweep's elapsed time and ETA. Lines logged meanwhile (one per finished trial) print
    above it. Use it only when stderr is a terminal; elsewhere the lines alone are the record.

    Args:
        progress: The sweep's `Progress` (projects, totals, objective, start time).
        epochs: Epochs per trial, for "epoch 2 of 3".
    """

    def __init__(self, progress: Progress, *, epochs: int):
        self.progress, self.epochs = progress, epochs
        self.live = None

    def __enter__(self) -> LiveDisplay:
        from rich.console import Console
        from rich.live import Live

        self.live = Live(self.render(), console=Console(file=sys.stderr), refresh_per_second=2, transient=True)
        self.live.__enter__()
        # rich prints what goes to sys.stderr above the table; rnnsweep's handlers held the
        # stream from before, which wrote through the table and left stale copies of it.
        self.streams = [
            (handler, handler.setStream(sys.stderr))
            for handler in logging.getLogger("rnnsweep").handlers
            if isinstance(handler, logging.StreamHandler)
        ]
        return self

    def __exit__(self, *exc) -> None:
        for handler, stream in self.streams:
            handler.setStream(stream)
        self.live.__exit__(*exc)

    def update(self) -> None:
        if self.live is not None:
            self.live.update(self.render())

    def render(self):
        from rich.table import Table

        progress = self.progress
        table = Table(title=None, show_edge=False, pad_edge=False)
        for column in ("architecture", "trials", f"best {progress.objective}", "running"):
            table.add_column(column)
        done = 0
        for name, project in progress.projects.items():
            trials = trial_files(project)
            statuses = {t["trial_id"]: t["status"] for t in trials}
            ended = min(sum(status in ENDED for status in statuses.values()), progress.max_trials)
            done += ended
            scores = [t["score"] for t in trials if t["status"] == "COMPLETED" and t["score"] is not None]
            best = f"{objectives.best(scores, progress.objective):.4f}" if scores else "-"
            running = _running(project, statuses, self.epochs)
            table.add_row(name, f"{ended} / {progress.max_trials}", best, running)
        elapsed, eta = progress.timing(done)
        remaining = _clock(eta) if eta is not None else "-"
        table.caption = f"{done} of {progress.total} trials | elapsed {_clock(elapsed)} | ETA {remaining}"
        return table


def _running(project: Path, statuses: dict[str, str], epochs: int) -> str:
    """Which worker runs which trial of a project, and at which epoch, from the chief's state
    file; `statuses` are the project's trial statuses by id."""
    path = Path(project) / "oracle.json"
    try:
        ongoing = json.loads(path.read_text()).get("ongoing_trials", {}) if path.is_file() else {}
    except json.JSONDecodeError:
        return ""
    parts = []
    for tuner_id, trial_id in sorted(ongoing.items()):
        if statuses.get(trial_id) in ENDED:
            continue  # keras-tuner's chief saves its state before it forgets an ended trial
        curve = read_curve(Path(project) / f"trial_{trial_id}") or {}
        parts.append(f"{tuner_id}: trial {trial_id}, epoch {min(len(curve.get('values', [])) + 1, epochs)} of {epochs}")
    return "; ".join(parts)


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}m{seconds:02d}s"
