"""Isolated trials (`isolate_trials`): each trial of a sweep in a fresh Python process.

The sweep runs `python -P -m rnnsweep.tuning.trial_process RUN_DIR ARCHITECTURE MAX_TRIALS`
once per trial; each process resumes the architecture's project, runs one more trial and
exits, so memory held by TensorFlow or leaked by a trial goes back to the system.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import time
from pathlib import Path

from rnnsweep.data_prep.errors import InputError
from rnnsweep.data_prep.layout import RunLayout
from rnnsweep.tuning.trials import finished_trials

MODULE = "rnnsweep.tuning.trial_process"


def search_in_subprocesses(
    run_dir: Path, config, architecture, *, deadline: float | None = None, on_trial=None
) -> bool:
    """Run the trials of one architecture, each in its own process, until it has `max_trials`
    or `deadline` (a `time.time()` value; default None: none) has passed; `on_trial` (default
    None) is called with no arguments after each trial process.

    Returns:
        Whether the deadline kept a trial from starting.

    Raises:
        InputError: A trial process reported bad input, or two in a row ended without
            finishing a trial.
    """
    project = RunLayout(run_dir).project(architecture.name)
    deaths = 0
    while (finished := finished_trials(project)) < config.search.max_trials:
        if deadline is not None and time.time() >= deadline:
            return True
        command = [sys.executable, "-P", "-m", MODULE, str(run_dir), architecture.name, str(finished + 1)]
        result = subprocess.run(command, stdout=subprocess.PIPE, text=True)
        if result.returncode == 2:
            raise InputError(result.stdout.strip().splitlines()[-1])
        if result.returncode != 0 or finished_trials(project) == finished:
            deaths += 1
            if deaths >= 2:
                raise InputError(
                    f"the trial process for {architecture.name} ended twice (exit code {result.returncode}) "
                    "without finishing a trial; see the messages above, or set isolate_trials = false"
                )
            continue
        deaths = 0
        if on_trial is not None:
            on_trial()
    return False


def main(argv: list[str] | None = None) -> int:
    """Resume one architecture's project until it has MAX_TRIALS trials.

    Returns:
        0 when done; 2 on bad input, with the message as the last line of stdout.
    """
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}")
    parser.add_argument("run_dir")
    parser.add_argument("architecture")
    parser.add_argument("max_trials", type=int)
    args = parser.parse_args(argv)

    from rnnsweep.data_prep.prepare import load_prepared
    from rnnsweep.models.architectures import resolve_architectures
    from rnnsweep.tuning import interrupts
    from rnnsweep.tuning.config import load_run_config
    from rnnsweep.tuning.progress import Progress
    from rnnsweep.tuning.search import search_architecture

    logger = logging.getLogger("rnnsweep")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False

    with interrupts.watched():
        try:
            config = load_run_config(args.run_dir)
            architectures = resolve_architectures(config.search.architectures, config.search.custom_architectures)
            (architecture,) = [a for a in architectures if a.name == args.architecture]
            progress = Progress(args.run_dir, architectures, config.search.max_trials, config.search.objective)
            search_architecture(
                args.run_dir,
                config,
                architecture,
                data=load_prepared(args.run_dir),
                progress=progress,
                max_trials=args.max_trials,
            )
        except InputError as error:
            print(error)
            return 2
        except KeyboardInterrupt:  # Ctrl-C reaches the whole process group: the sweep's own process says so
            return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
