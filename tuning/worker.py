"""One sweep step in a fresh process: `python -m tuning.worker RUN_DIR ARCHITECTURE MAX_TRIALS`.

Started by the sweep when `isolate_trials` is on; reads everything from the run directory.
"""

from __future__ import annotations

import argparse
import logging
import sys

from data_prep.errors import InputError


def main(argv: list[str] | None = None) -> int:
    """Resume one architecture's project until it has MAX_TRIALS trials.

    Returns:
        0 when done; 2 on bad input, with the message as the last line of stdout.
    """
    parser = argparse.ArgumentParser(prog="python -m tuning.worker")
    parser.add_argument("run_dir")
    parser.add_argument("architecture")
    parser.add_argument("max_trials", type=int)
    args = parser.parse_args(argv)

    from data_prep.prepare import load_prepared
    from models.architectures import resolve_architectures
    from tuning.config import load_run_config
    from tuning.search import Progress, search_architecture

    logger = logging.getLogger("rnnsweep")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
