"""Sweep progress: one log line per finished trial with the sweep's count, best so far and ETA."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from rnnsweep.data_prep.layout import RunLayout
from rnnsweep.models import objective as objectives
from rnnsweep.tuning.trials import completed_scores, finished_trials

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
    """

    def __init__(self, run_dir: Path, architectures, max_trials: int, objective: str, prefix: str = ""):
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

    def __call__(self, architecture: str, trial) -> None:
        done = self.count()
        elapsed = time.monotonic() - self.started
        finished_here = done - self.done_at_start
        eta = elapsed / finished_here * max(0, self.total - done) if finished_here > 0 else 0.0
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
            _clock(eta),
        )


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}m{seconds:02d}s"
