"""The `rnnsweep` command line: each subcommand parses its flags and calls one library function."""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import sys
import tempfile
import traceback
from pathlib import Path

from rnnsweep.data_prep.errors import InputError
from rnnsweep.data_prep.layout import RunLayout
from rnnsweep.tuning import interrupts
from rnnsweep.tuning.cli_parser import build_parser
from rnnsweep.tuning.terminal import native_output_diverted, save_log
from rnnsweep.tuning.threads import configure_threads

logger = logging.getLogger("rnnsweep")


def _overrides(args: argparse.Namespace) -> dict:
    """Config values from the flags the user actually passed."""
    get = lambda name: getattr(args, name, None)  # noqa: E731
    sections = {
        "data": {
            "path": get("data"),
            "preset": get("preset"),
            "text_column": get("text_column") if args.command != "predict" else None,
            "label_column": get("label_column"),
            "labels": get("labels"),
            "max_rows": get("max_rows"),
            "embeddings": get("embeddings"),
            "embeddings_path": get("embeddings_path"),
        },
        "search": {
            "architectures": get("architectures").split(",") if get("architectures") else None,
            "tuner": get("tuner"),
            "objective": get("objective"),
            "max_trials": get("max_trials"),
            "epochs": get("epochs"),
            "batch_size": get("batch_size"),
            "seed": get("seed"),
            "tensorboard": get("tensorboard"),
            "isolate_trials": get("isolate_trials"),
            "worker_timeout": get("worker_timeout"),
            "time_budget": get("time_budget"),
            "backend": get("backend"),
        },
        "retrain": {
            "top": get("top"),
            "epochs": get("retrain_epochs"),
            "patience": get("patience"),
            "seeds": [int(s) for s in get("seeds").split(",")] if get("seeds") else None,
            "ensemble": get("ensemble"),
        },
    }
    return {s: {k: v for k, v in values.items() if v is not None} for s, values in sections.items()}


def _run_dir(args, config) -> Path:
    from rnnsweep.tuning.config import default_run_dir

    if args.output and args.name:
        raise InputError(f"--output and --name both name the run directory; pass one. Received: --name={args.name!r}")
    return Path(args.output) if args.output else default_run_dir(config, args.name)


def dispatch(args: argparse.Namespace) -> int:
    """Call the library function behind `args.command`."""
    from rnnsweep.tuning import pipeline
    from rnnsweep.tuning.config import continued_config, load_config

    overrides = _overrides(args)
    if args.command in ("data", "tune", "run"):
        given = {k: v for k, v in overrides.items() if v}
        config = load_config(args.config, given, budget=args.budget)
        run_dir = args.log_dir = _run_dir(args, config)
        if args.config is None and args.budget is None and not args.overwrite:
            # An existing run is continued: its own settings, changed only by the flags given.
            config = continued_config(run_dir, given) or config
        if args.command == "data":
            pipeline.data_stage(config, run_dir, overwrite=args.overwrite)
            print(RunLayout(run_dir).summary)
        elif args.command == "tune":
            from rnnsweep.tuning.distributed import parse_role

            pipeline.tune_stage(
                config,
                run_dir,
                overwrite=args.overwrite,
                role=parse_role(
                    args.role,
                    args.oracle,
                    args.worker_id,
                    args.token_file,
                    insecure=args.insecure,
                    tls_cert=args.tls_cert,
                    tls_key=args.tls_key,
                    tls_ca=args.tls_ca,
                ),
                workers=args.workers,
                max_worker_restarts=args.max_worker_restarts,
                enqueue=args.enqueue,
                warm_start=args.warm_start,
                finished_page=True,
            )
            print(RunLayout(run_dir).trials_csv)
        else:
            print(
                pipeline.run_all(
                    config,
                    run_dir,
                    overwrite=args.overwrite,
                    workers=args.workers,
                    max_worker_restarts=args.max_worker_restarts,
                    enqueue=args.enqueue,
                    warm_start=args.warm_start,
                )
            )
    elif args.command == "retrain":
        args.log_dir = Path(args.run_dir)
        pipeline.retrain_stage(Path(args.run_dir), {"retrain": overrides["retrain"]} if overrides["retrain"] else None)
        print(RunLayout(args.run_dir).models)
    elif args.command == "report":
        args.log_dir = Path(args.run_dir)
        print(pipeline.report_stage(Path(args.run_dir)))
    elif args.command == "compare":
        from rnnsweep.tuning.compare import compare_runs

        print(compare_runs(args.run_dirs, args.output))
    elif args.command == "predict":
        from rnnsweep.tuning.backends import use_backend

        use_backend("tensorflow")  # whatever KERAS_BACKEND says: an export cleans text with TensorFlow string ops
        from rnnsweep.tuning.predict import predict_command

        printed = predict_command(
            args.model,
            args.texts,
            input_path=args.input,
            text_column=args.text_column,
            output_path=args.output,
            overwrite=args.overwrite,
        )
        print(printed, end="")
    return 0


class _Formatter(logging.Formatter):
    def format(self, record):
        message = super().format(record)
        return f"warning: {message}" if record.levelno == logging.WARNING else message


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `rnnsweep` console script.

    Prints rnnsweep's own lines only: what native libraries write to the process's stderr
    (TensorFlow's C++ start-up lines, absl, gRPC) and the libraries' Python warnings go to
    `RUN_DIR/logs/COMMAND.log` instead, unless `-v` is given.

    Returns:
        0 on success, 2 on bad input (one line on stderr, nothing written), 1 on an
        internal error (one line saying where its traceback is), 130 when interrupted.
    """
    args = build_parser().parse_args(argv)
    args.log_dir = None
    # Set before anything imports TensorFlow, which reads these when its runtime starts;
    # both leave values the user set alone.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    configure_threads()
    with contextlib.ExitStack() as stack:
        diverted = None if args.verbose else stack.enter_context(native_output_diverted())
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_Formatter("%(message)s"))
        # Put back as found when done: main() may run in a caller's process (a notebook, a test).
        stack.enter_context(_logger_state_kept(logger))
        logger.handlers[:] = [handler]
        logger.setLevel(logging.WARNING if args.quiet else logging.DEBUG if args.verbose else logging.INFO)
        logger.propagate = False
        # TensorFlow's Python warnings (e.g. retracing notices between models) bury rnnsweep's own lines.
        logging.getLogger("tensorflow").setLevel(logging.DEBUG if args.verbose else logging.ERROR)
        if diverted is not None:
            stack.enter_context(_library_warnings_to_log())
        bug, trace = None, ""
        stack.enter_context(interrupts.watched())
        try:
            code = dispatch(args)
        except InputError as error:
            print(f"rnnsweep {args.command}: error: {error}", file=sys.stderr)
            return 2  # nothing is written for bad input, the log included
        except KeyboardInterrupt:
            print("rnnsweep: interrupted; re-run the same command to resume", file=sys.stderr)
            code = 130
        except Exception as error:  # noqa: BLE001 - our own bug: one line here, the traceback in a log
            bug, trace, code = error, traceback.format_exc(), 1
        # One write: what the libraries printed, then the traceback of a bug, if any.
        log = save_log(args.log_dir, args.command, (diverted() if diverted is not None else "") + trace)
        if bug is not None:
            print(
                f"rnnsweep {args.command}: internal error ({type(bug).__name__}: {str(bug)[:200]}); "
                f"a bug in rnnsweep, not in your input: the traceback is in {log or _temporary_log(trace)}",
                file=sys.stderr,
            )
        return code


@contextlib.contextmanager
def _logger_state_kept(log: logging.Logger):
    """Inside: change `log`'s handlers, level and propagation freely; they are restored after."""
    saved = log.handlers[:], log.level, log.propagate
    try:
        yield
    finally:
        log.handlers[:], log.propagate = saved[0], saved[2]
        log.setLevel(saved[1])


def _temporary_log(text: str) -> Path:
    """A traceback with no run directory to hold it, in a temporary file; its path."""
    handle, name = tempfile.mkstemp(prefix="rnnsweep-error-", suffix=".log")
    os.write(handle, text.encode())
    os.close(handle)
    return Path(name)


@contextlib.contextmanager
def _library_warnings_to_log():
    """Python warnings (Keras, keras-tuner, seaborn...) go where native output goes: the log."""
    stream = io.TextIOWrapper(os.fdopen(2, "wb", closefd=False), line_buffering=True)
    warnings_logger = logging.getLogger("py.warnings")
    saved = warnings_logger.handlers[:], warnings_logger.propagate
    logging.captureWarnings(True)
    warnings_logger.handlers[:] = [logging.StreamHandler(stream)]
    warnings_logger.propagate = False
    try:
        yield
    finally:
        stream.flush()
        logging.captureWarnings(False)
        warnings_logger.handlers[:], warnings_logger.propagate = saved
