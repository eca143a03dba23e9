"""The `rnnsweep` command line's flags, with defaults and choices read from the configuration's own definitions."""

from __future__ import annotations

import argparse
import dataclasses

from rnnsweep.data_prep.config import EMBEDDINGS, LABEL_SCHEMES, PRESETS, DataConfig
from rnnsweep.models.objective import OBJECTIVES
from rnnsweep.tuning.backends import BACKENDS
from rnnsweep.tuning.config import BUDGETS, TUNERS, RetrainConfig, SearchConfig
from rnnsweep.tuning.distributed import DEFAULT_MAX_WORKER_RESTARTS


def _defaults(section) -> dict:
    """A config section's field defaults, so help texts never restate them."""
    return {
        field.name: field.default if field.default is not dataclasses.MISSING else field.default_factory()
        for field in dataclasses.fields(section)
    }


DATA, SEARCH, RETRAIN = _defaults(DataConfig), _defaults(SearchConfig), _defaults(RetrainConfig)


class Parser(argparse.ArgumentParser):
    """argparse, answering a bad flag with one line (`rnnsweep COMMAND: error: ...`, exit 2)
    instead of the usage block and the error."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}; see `{self.prog} --help`\n")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each flag's default, unless its help says it already or there is none
    (None means the config file's or preset's value, which the help names)."""

    def _get_help_string(self, action):
        if action.default is None or "(default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def _data_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("data")
    group.add_argument("--config", metavar="FILE", help="TOML sweep configuration (flags override its values)")
    group.add_argument("--data", metavar="PATH", help="file or folder to read (default: the preset's own source)")
    group.add_argument(
        "--preset", choices=sorted(PRESETS), help="named source (default: rotten-tomatoes, or custom with --data)"
    )
    group.add_argument("--text-column", metavar="COL", help="column with the review text")
    group.add_argument("--label-column", metavar="COL", help="column with the rating or label")
    group.add_argument("--labels", choices=LABEL_SCHEMES, help="label scheme (default: the preset's)")
    group.add_argument("--max-rows", type=int, metavar="N", help="use a seeded random sample of N rows")
    group.add_argument(
        "--embeddings",
        choices=[e for e in EMBEDDINGS if e != "file"],
        help=f"where the embedding starts (default: {DATA['embeddings']}; a vectors file: --embeddings-path)",
    )
    group.add_argument(
        "--embeddings-path", metavar="FILE", help="GloVe text, word2vec text or word2vec binary (.bin) vectors"
    )
    group.add_argument(
        "--budget",
        choices=sorted(BUDGETS),
        help="named settings under the config file and flags (default: quick, every field's own default)",
    )
    group.add_argument("--output", metavar="RUN_DIR", help="run directory (default: runs/NAME)")
    group.add_argument("--name", help="run name under runs/ (default: the preset's name)")
    group.add_argument("--overwrite", action="store_true", help="delete the run directory's earlier results first")


def _search_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("search")
    group.add_argument(
        "--architectures",
        metavar="NAME[,NAME...]",
        help=f"architectures to sweep (default: {','.join(SEARCH['architectures'])})",
    )
    group.add_argument("--tuner", choices=TUNERS, help=f"tuner (default: {SEARCH['tuner']})")
    group.add_argument(
        "--objective", choices=OBJECTIVES, help=f"validation score to rank trials by (default: {SEARCH['objective']})"
    )
    group.add_argument(
        "--max-trials", type=int, metavar="N", help=f"trials per architecture (default: {SEARCH['max_trials']})"
    )
    group.add_argument("--epochs", type=int, metavar="N", help=f"epochs per trial (default: {SEARCH['epochs']})")
    group.add_argument("--batch-size", type=int, metavar="N", help=f"batch size (default: {SEARCH['batch_size']})")
    group.add_argument("--seed", type=int, help=f"seed for the tuner and weights (default: {SEARCH['seed']})")
    group.add_argument(
        "--tensorboard", action="store_true", default=None, help="log trials for TensorBoard's HParams dashboard"
    )
    group.add_argument(
        "--isolate-trials", action="store_true", default=None, help="run each trial in a fresh process (flat memory)"
    )
    group.add_argument(
        "--workers",
        type=_workers,
        metavar="N|auto",
        help="worker processes on this machine, each with its share of the cores; 1: this process alone; "
        "auto: one per CPU core (at most 4) or per GPU (default: auto)",
    )
    group.add_argument(
        "--max-worker-restarts",
        type=int,
        default=DEFAULT_MAX_WORKER_RESTARTS,
        metavar="N",
        help="with --workers: restarts allowed per dead worker, and for the chief",
    )
    group.add_argument(
        "--backend",
        choices=BACKENDS,
        help="Keras backend that trains (default: auto, the one measured faster here; exports stay TensorFlow)",
    )
    group.add_argument(
        "--enqueue",
        metavar="FILE",
        help="TOML or JSON file of hyperparameter sets per architecture, tried before the tuner's own choices",
    )
    group.add_argument(
        "--warm-start",
        metavar="RUN_DIR[:K]",
        help="try the K best completed trials of each architecture of another run first (default K: 3)",
    )
    group.add_argument(
        "--time-budget",
        metavar="DURATION",
        help="start no trial after this wall time: seconds, or e.g. 45m, 2h, 1h30m (default: no limit)",
    )
    group.add_argument(
        "--worker-timeout",
        type=float,
        metavar="SECONDS",
        help="a worker silent this long loses its running trial to another worker "
        f"(default: {SEARCH['worker_timeout']:.0f})",
    )


def _workers(value: str) -> int | str:
    # Only converts: tuning.distributed.resolve_workers checks the value, for Python callers too.
    return int(value) if value.isdigit() else value


def _distributed_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("distributed (keras-tuner chief/worker)")
    group.add_argument("--role", choices=["chief", "worker"], help="this process's part (default: single process)")
    group.add_argument("--oracle", metavar="HOST:PORT", help="chief address; architecture i uses PORT+i")
    group.add_argument("--worker-id", metavar="ID", help="a worker's unique id (reuse it when restarting a worker)")
    group.add_argument(
        "--token-file",
        metavar="FILE",
        help="the sweep's shared secret, first line (default: $RNNSWEEP_TOKEN; the chief refuses calls without it)",
    )
    group.add_argument(
        "--insecure",
        action="store_true",
        help="let a chief start without a token: any process that reaches its ports can then run, end or "
        "rewrite the sweep's trials",
    )
    group.add_argument("--tls-cert", metavar="FILE", help="the chief's TLS certificate (PEM), with --tls-key")
    group.add_argument("--tls-key", metavar="FILE", help="the chief's TLS private key (PEM), with --tls-cert")
    group.add_argument(
        "--tls-ca", metavar="FILE", help="a worker's trusted certificate (PEM) for a chief that serves TLS"
    )


def _retrain_flags(parser: argparse.ArgumentParser, *, prefix: str = "") -> None:
    group = parser.add_argument_group("retrain")
    group.add_argument(
        f"--{prefix}top",
        dest="top",
        type=int,
        metavar="K",
        help=f"retrain the K best trials overall; 0: the best of each architecture (default: {RETRAIN['top']})",
    )
    group.add_argument(
        f"--{prefix}epochs",
        dest="retrain_epochs",
        type=int,
        metavar="N",
        help=f"most epochs when retraining (default: {RETRAIN['epochs']})",
    )
    group.add_argument(
        f"--{prefix}patience",
        dest="patience",
        type=int,
        metavar="N",
        help=f"early-stopping patience on {RETRAIN['monitor']} (default: {RETRAIN['patience']})",
    )
    group.add_argument(
        f"--{prefix}seeds",
        dest="seeds",
        metavar="S[,S...]",
        help=f"one retraining per seed (default: {','.join(map(str, RETRAIN['seeds']))})",
    )
    group.add_argument(
        f"--{prefix}no-ensemble",
        dest="ensemble",
        action="store_false",
        default=None,
        help="with several seeds, keep the seed with the best validation score instead of their average",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = Parser(
        prog="rnnsweep",
        description="Hyperparameter sweeps for recurrent text classifiers on review text.",
        formatter_class=HelpFormatter,
    )
    loudness = parser.add_mutually_exclusive_group()
    loudness.add_argument("-q", "--quiet", action="store_true", help="print warnings and errors only")
    loudness.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="print everything, the libraries' own lines too (by default they go to RUN_DIR/logs/)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)

    data = sub.add_parser("data", help="load, clean, split and summarise the data", formatter_class=HelpFormatter)
    _data_flags(data)
    tune = sub.add_parser(
        "tune", help="run or resume the sweep (prepares the data if needed)", formatter_class=HelpFormatter
    )
    _data_flags(tune)
    _search_flags(tune)
    _distributed_flags(tune)
    retrain = sub.add_parser(
        "retrain", help="retrain the best trials, evaluate them, score the baselines", formatter_class=HelpFormatter
    )
    retrain.add_argument("run_dir", metavar="RUN_DIR", help="an existing run directory")
    _retrain_flags(retrain)
    report = sub.add_parser(
        "report", help="write RUN_DIR/report/index.html from saved results", formatter_class=HelpFormatter
    )
    report.add_argument("run_dir", metavar="RUN_DIR", help="an existing run directory")
    predict = sub.add_parser("predict", help="classify raw texts with an exported model", formatter_class=HelpFormatter)
    predict.add_argument("model", metavar="MODEL", help="RUN_DIR/models/<architecture>/export.keras")
    predict.add_argument("texts", nargs="*", metavar="TEXT", help="texts to classify")
    predict.add_argument("--input", metavar="FILE", help="CSV/TSV/JSON Lines file of texts")
    predict.add_argument("--text-column", default="text", metavar="COL", help="text column of --input")
    predict.add_argument("--output", metavar="FILE", help="write predictions to this CSV instead of printing")
    predict.add_argument("--overwrite", action="store_true", help="replace a file already at --output")
    run = sub.add_parser("run", help="every stage: data, tune, retrain, report", formatter_class=HelpFormatter)
    _data_flags(run)
    _search_flags(run)
    _retrain_flags(run, prefix="retrain-")
    compare = sub.add_parser(
        "compare",
        help="compare finished runs on one page (paired test where the test rows are the same)",
        formatter_class=HelpFormatter,
    )
    compare.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="two or more finished run directories")
    compare.add_argument("--output", required=True, metavar="DIR", help="folder for index.html and its figures")
    return parser
