"""The sweep configuration: a TOML file with [data], [search], [retrain] and [report] sections."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path

import tomli_w

from rnnsweep.data_prep.config import DataConfig, check_types, resolve_preset
from rnnsweep.data_prep.errors import InputError, check_one_of, check_positive_int
from rnnsweep.data_prep.files import write_atomically
from rnnsweep.data_prep.layout import RunLayout
from rnnsweep.data_prep.run_dir import (
    check_safe_name,
    check_writable_run_dir,
    claim_run_dir,
    remove_generated,
    run_format,
)
from rnnsweep.models.architectures import ARCHITECTURES, resolve_architectures
from rnnsweep.models.objective import OBJECTIVES
from rnnsweep.models.search_space import default_search_space
from rnnsweep.tuning.backends import BACKENDS
from rnnsweep.tuning.distributed import DEFAULT_WORKER_TIMEOUT_S, HEARTBEAT_S

TUNERS = ("random", "hyperband", "bayesian")


@dataclasses.dataclass
class SearchConfig:
    """The `[search]` section: which architectures, which tuner, what budget.

    Attributes:
        architectures: Names to sweep, in order (default all six of the study).
        tuner: "random", "hyperband" or "bayesian" (default "random", as the study).
        objective: "val_auc" (maximised), "val_loss" or "val_accuracy" (default
            "val_auc"); always measured on the validation split.
        max_trials: Trials per architecture (default 2: the quick budget).
        executions_per_trial: Fits per trial, averaged (default 1).
        epochs: Epochs per trial; Hyperband's maximum (default 1).
        batch_size: Batch size (default 32).
        early_stopping_patience: Stop a trial after this many epochs without
            improvement of the objective; 0 turns it off (default 2).
        max_consecutive_failures: Stop the sweep after this many failed trials in a
            row (default 3).
        median_stopping: End a trial after an epoch at which its best objective so far
            is worse than the median of the finished trials at the same epoch (default
            True; random and bayesian tuners, see `tuning.stopping.MedianStopping`).
        median_stopping_min_trials: Finished trials needed before any trial is stopped
            (default 3).
        bucket_by_length: Batch texts of similar length together and pad each batch
            only to its own longest text (default True; faster on CPU, BENCHMARKS.md).
        tensorboard: Write TensorBoard HParams logs to `RUN_DIR/tensorboard`
            (default False).
        multi_gpu: Train each trial on every visible GPU with TensorFlow's
            `MirroredStrategy` (default False; needs the TensorFlow backend).
        isolate_trials: Run each trial in a fresh Python process, so memory never
            accumulates across a long sweep (default False; costs a few seconds of
            start-up per trial; random and bayesian tuners).
        seed: Seed for the tuner and the weights (default 42).
        backend: Keras backend that trains the sweep and the retraining: "auto",
            "tensorflow" or "jax" (default "auto": see `tuning.backends.resolve_backend`;
            the raw-text export is always built on TensorFlow).
        time_budget: Wall time after which no trial starts, counted from the start of each
            `tune`/`run` command's search: seconds, or a duration such as "45m", "2h",
            "1h30m" (default None: no limit). Trials already running finish; retraining
            and the report still run; resuming with a new budget continues the sweep.
        worker_timeout: Seconds a distributed sweep's worker may stay silent before the
            chief gives its running trial to another worker (default 300; workers beat
            every 10 s, see `tuning.leases`). Changing it never changes results, so a run
            may be resumed with another value.
        space: Value sets overriding the study's space for every architecture
            (`units`, `dropout`, `learning_rate`, `embedding_dim`; default {}).
        custom_architectures: Extra architectures, name -> {cell, depth,
            bidirectional} (TOML: `[search.custom_architectures.NAME]`; default {}).
    """

    architectures: list[str] = dataclasses.field(default_factory=lambda: list(ARCHITECTURES))
    tuner: str = "random"
    objective: str = "val_auc"
    max_trials: int = 2
    executions_per_trial: int = 1
    epochs: int = 1
    batch_size: int = 32
    early_stopping_patience: int = 2
    max_consecutive_failures: int = 3
    median_stopping: bool = True
    median_stopping_min_trials: int = 3
    bucket_by_length: bool = True
    tensorboard: bool = False
    multi_gpu: bool = False
    isolate_trials: bool = False
    seed: int = 42
    backend: str = "auto"
    worker_timeout: float = DEFAULT_WORKER_TIMEOUT_S
    time_budget: float | str | None = None
    space: dict = dataclasses.field(default_factory=dict)
    custom_architectures: dict = dataclasses.field(default_factory=dict)

    def validate(self) -> None:
        check_types("search", self)
        check_one_of("tuner", self.tuner, TUNERS)
        check_one_of("objective", self.objective, OBJECTIVES)
        check_one_of("backend", self.backend, BACKENDS)
        for name in (
            "max_trials",
            "executions_per_trial",
            "epochs",
            "batch_size",
            "max_consecutive_failures",
            "median_stopping_min_trials",
        ):
            check_positive_int(name, getattr(self, name))
        if self.isolate_trials and self.multi_gpu:
            raise InputError("isolate_trials and multi_gpu cannot be combined; turn one off")
        if self.isolate_trials and self.tuner == "hyperband":
            raise InputError("isolate_trials works with the random and bayesian tuners; Received: tuner='hyperband'")
        if self.worker_timeout < 3 * HEARTBEAT_S:
            raise InputError(
                f"worker_timeout must be at least {3 * HEARTBEAT_S:.0f} s (three heartbeats). "
                f"Received: {self.worker_timeout!r}"
            )
        parse_duration("time_budget", self.time_budget)
        if self.early_stopping_patience < 0:
            raise InputError(f"early_stopping_patience must be >= 0. Received: {self.early_stopping_patience!r}")
        for architecture in resolve_architectures(self.architectures, self.custom_architectures):
            default_search_space(architecture.name, self.space)


_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?")


def parse_duration(key: str, value: float | str | None) -> float | None:
    """Seconds in `value`: a number of seconds, or "90s", "45m", "2h", "1h30m" (None stays None).

    Raises:
        InputError: Not a positive duration in one of those forms.
    """
    if value is None:
        return None
    seconds = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        text, match = value.strip(), _DURATION.fullmatch(value.strip())
        if re.fullmatch(r"\d+(?:\.\d+)?", text):  # "90" from the command line: seconds
            seconds = float(text)
        elif match and any(match.groups()):
            hours, minutes, secs = (float(part or 0) for part in match.groups())
            seconds = 3600 * hours + 60 * minutes + secs
    if seconds is None or not seconds > 0:
        raise InputError(
            f"{key} must be a positive duration: seconds, or e.g. '90s', '45m', '2h', '1h30m'. Received: {value!r}"
        )
    return seconds


@dataclasses.dataclass
class RetrainConfig:
    """The `[retrain]` section: how the best trials are trained again.

    Attributes:
        top: 0 retrains the best completed trial of each architecture; k > 0 the k best
            trials overall (default 0).
        epochs: Most epochs (default 4: the quick budget; the study used 15).
        patience: Early-stopping patience on `monitor` (default 2; the study used 5).
        monitor: Quantity early stopping watches (default "val_loss", as the study).
        batch_size: Batch size (default 32).
        seeds: One retraining per seed; metrics report mean and spread (default [42]).
        ensemble: With several seeds, True keeps the average of the seeds' models (a
            seed ensemble, one saved model whose figures are the split metrics); False
            keeps the seed with the best validation `monitor` value (default True).
        mixed_precision: Train in float16 on a GPU (default False).
    """

    top: int = 0
    epochs: int = 4
    patience: int = 2
    monitor: str = "val_loss"
    batch_size: int = 32
    seeds: list[int] = dataclasses.field(default_factory=lambda: [42])
    ensemble: bool = True
    mixed_precision: bool = False

    def validate(self) -> None:
        check_types("retrain", self)
        if self.top < 0:
            raise InputError(f"top must be >= 0. Received: top={self.top!r}")
        check_positive_int("epochs", self.epochs)
        check_positive_int("batch_size", self.batch_size)
        check_positive_int("patience", self.patience)
        check_one_of("monitor", self.monitor, OBJECTIVES)
        if not self.seeds:
            raise InputError("seeds must list at least one seed, e.g. seeds = [42]")


@dataclasses.dataclass
class ReportConfig:
    """The `[report]` section.

    Attributes:
        error_examples: Confident mistakes and disagreements shown (default 10).
        compare: Two architectures whose right/wrong disagreements are listed
            (default ["simple_rnn", "lstm"], as the study; skipped if either is absent).
    """

    error_examples: int = 10
    compare: list[str] = dataclasses.field(default_factory=lambda: ["simple_rnn", "lstm"])

    def validate(self) -> None:
        check_types("report", self)
        check_positive_int("error_examples", self.error_examples)
        if len(self.compare) != 2:
            raise InputError(f"compare must name two architectures. Received: compare={self.compare!r}")


SECTIONS = {"data": DataConfig, "search": SearchConfig, "retrain": RetrainConfig, "report": ReportConfig}


@dataclasses.dataclass
class Config:
    """A whole sweep configuration. See the README for the file format."""

    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    search: SearchConfig = dataclasses.field(default_factory=SearchConfig)
    retrain: RetrainConfig = dataclasses.field(default_factory=RetrainConfig)
    report: ReportConfig = dataclasses.field(default_factory=ReportConfig)

    def to_dict(self) -> dict:
        """Plain dict with None values left out (TOML has no null)."""

        def strip(value):
            if isinstance(value, dict):
                return {k: strip(v) for k, v in value.items() if v is not None}
            return value

        return strip(dataclasses.asdict(self))


def _check_keys(section: str, values: dict, cls) -> None:
    valid = sorted(f.name for f in dataclasses.fields(cls))
    for key in values:
        if key not in valid:
            raise InputError(f"unknown key {key!r} in [{section}]; valid keys are {valid}")


def build_config(values: dict | None = None, *, source: str = "configuration") -> Config:
    """Build and validate a `Config` from nested section values.

    Args:
        values: {"data": {...}, "search": {...}, ...}; absent keys take defaults.
        source: Where the values came from, for messages (default "configuration").

    Returns:
        The validated configuration.

    Raises:
        InputError: An unknown section or key, or an invalid value.
    """
    values = values or {}
    for section in values:
        if section not in SECTIONS:
            raise InputError(f"{source}: unknown section [{section}]; valid sections are {sorted(SECTIONS)}")
        if not isinstance(values[section], dict):
            raise InputError(f"{source}: [{section}] must be a table of keys")
        _check_keys(section, values[section], SECTIONS[section])
    try:
        data = resolve_preset(dict(values.get("data", {})))
        search = SearchConfig(**values.get("search", {}))
        retrain = RetrainConfig(**values.get("retrain", {}))
        report = ReportConfig(**values.get("report", {}))
    except TypeError as error:
        raise InputError(f"{source}: {error}") from None
    for section in (search, retrain, report):
        section.validate()
    return Config(data=data, search=search, retrain=retrain, report=report)


# Named settings under the config file and the flags (`--budget`). "quick" is every field's
# own default (the README's first command). "thorough" was chosen on validation figures of the
# built-in dataset (BENCHMARKS.md, "How the budgets were chosen"), to finish within 30 minutes on
# 2 CPU cores for about 20,000 reviews: fine-tuned GloVe over learned, word2vec and frozen GloVe;
# a 20,000-word vocabulary over 5,000 (pretrained vectors give rare words meaning); the
# bidirectional LSTM, best of all six after retraining, with the 2-layer GRU, level with the
# 4-layer GRU and the stacked LSTM at half the 4-layer GRU's depth; 3 trials of units 32/64
# (6 trials, mean pooling and units 64/128 were no better); three seeds and their average.
BUDGETS: dict[str, dict] = {
    "quick": {},
    "thorough": {
        "data": {"embeddings": "glove-6b-50d", "vocab_size": 20000},
        "search": {
            "architectures": ["bilstm", "gru2"],
            "max_trials": 3,
            "epochs": 2,
            "space": {"units": [32, 64], "dropout": [0.2, 0.3, 0.4], "learning_rate": [0.001]},
        },
        "retrain": {"epochs": 15, "patience": 3, "seeds": [1, 2, 3]},
    },
}


def _layered(lower: dict, upper: dict) -> dict:
    """`upper`'s values over `lower`'s, table by table (a budget's [search.space] keeps the keys
    a config file's [search.space] does not set); a user's vectors file replaces a budget's
    named vectors."""
    merged = dict(lower)
    for key, value in upper.items():
        merged[key] = (
            _layered(lower[key], value) if isinstance(value, dict) and isinstance(lower.get(key), dict) else value
        )
    data = upper.get("data")
    if isinstance(data, dict) and data.get("embeddings_path") and "embeddings" not in data:
        merged["data"].pop("embeddings", None)
    return merged


def load_config(path: str | Path | None = None, overrides: dict | None = None, *, budget: str | None = None) -> Config:
    """Read a TOML config file (optional) and apply overrides on top, over a named budget.

    Args:
        path: The TOML file (default None: every default).
        overrides: Nested section values that win over the file, e.g. from CLI flags.
        budget: A name from `BUDGETS` whose values lie under the file's (default None:
            "quick", every field's own default).

    Returns:
        The validated configuration.

    Raises:
        InputError: Missing or unparsable file, unknown budget, key or value.
    """
    values: dict = {}
    source = "configuration"
    if path is not None:
        path = Path(path)
        source = str(path)
        if not path.is_file():
            raise InputError(f"{path}: no such config file; check --config")
        try:
            values = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise InputError(f"{path}: not valid TOML ({error})") from None
    for section, section_values in (overrides or {}).items():
        values.setdefault(section, {}).update(section_values)
    check_one_of("budget", budget or "quick", BUDGETS)
    lower = BUDGETS[budget or "quick"]
    data = values.get("data")
    if isinstance(data, dict) and data.get("embeddings_path") and "embeddings" not in data:
        # The user's own vectors file replaces the budget's named vectors.
        lower = {**lower, "data": {k: v for k, v in lower.get("data", {}).items() if k != "embeddings"}}
    return build_config(_layered(lower, values), source=source)


def save_config(config: Config, path: Path) -> None:
    """Write the resolved configuration as TOML, atomically (other processes may read it)."""
    write_atomically(path, tomli_w.dumps(config.to_dict()))


def default_run_dir(config: Config, name: str | None = None) -> Path:
    """`runs/NAME`, NAME defaulting to the data preset.

    Raises:
        InputError: `name` is not a safe folder name (`run_dir.check_safe_name`).
    """
    return Path("runs") / check_safe_name("--name", name or config.data.preset)


# Keys added since the first release (commit 658dc66), each with the value that gives the
# behaviour of the releases before it. Every release writes all the keys it knows into
# RUN_DIR/config.toml, so a key missing there was added after the run was made: the run is read
# with this value, not with today's default (median stopping, seed averaging and GloVe became
# defaults later). The marker's `rnnsweep_version` says which release made the run.
LEGACY_VALUES: dict[tuple[str, str], object] = {
    ("search", "isolate_trials"): False,  # 407e784
    ("search", "multi_gpu"): False,  # 277b9ea
    ("search", "median_stopping"): False,  # 1fc19a7: no trial was stopped early before it
    ("search", "median_stopping_min_trials"): 3,
    ("retrain", "ensemble"): False,  # 1fc19a7: the seed best on validation was kept before it
    ("data", "embeddings"): "learned",  # 2f1a326 ("file" when embeddings_path is set); GloVe since 720cb4d
    ("data", "word2vec_dimension"): 100,  # 2f1a326
    ("data", "word2vec_window"): 5,
    ("data", "word2vec_epochs"): 10,
    ("search", "worker_timeout"): DEFAULT_WORKER_TIMEOUT_S,  # 48750b9
    ("search", "backend"): "tensorflow",  # 5cecc2c: TensorFlow trained everything before it
    ("data", "max_input_bytes"): 4 * 1024**3,  # d6fdeee
    ("search", "time_budget"): None,
}

# What re-running `tune`/`run` on a run directory with another value of a setting does
# (README, "Continuing a run"). [data] and [search] keys not listed are REFUSED.
ANY = "accepted: changes no trial's result"
EXTENDS = "extends the search"
FOLLOWS = "re-runs retraining, baselines and the report"
REFUSED = "refused: changes what a trial means"
SETTING_CHANGES: dict[tuple[str, str], str] = {
    ("search", "max_trials"): EXTENDS,  # a larger value; not with hyperband
    ("search", "architectures"): EXTENDS,  # more names, none removed
    ("search", "custom_architectures"): EXTENDS,  # new names, none changed
    # Where, how and for how long trials run, never what they compute: the lease, the backend
    # (BENCHMARKS.md: equal validation AUC within the spread), TensorBoard logs, subprocesses,
    # the failure limit, the time budget.
    ("search", "worker_timeout"): ANY,
    ("search", "backend"): ANY,
    ("search", "tensorboard"): ANY,
    ("search", "isolate_trials"): ANY,
    ("search", "max_consecutive_failures"): ANY,
    ("search", "time_budget"): ANY,  # how long this command searches; a cut sweep continues
    ("data", "max_input_bytes"): ANY,  # a guard on reading the file, which the run has read already
}


def setting_change(section: str, key: str) -> str:
    """What another value of `[section] key` does to an existing run: ANY, EXTENDS, FOLLOWS
    or REFUSED."""
    if section in ("retrain", "report"):
        return FOLLOWS
    return SETTING_CHANGES.get((section, key), REFUSED)


def _refused_extension(key: str, saved, wanted, search: dict) -> str | None:
    """Why a change of an EXTENDS key does not extend the search (None when it does)."""
    if key == "max_trials":
        if search.get("tuner") == "hyperband":
            return "hyperband decides its own trial count from search.epochs, so max_trials cannot extend it"
        if wanted < saved:
            return f"it cannot shrink from {saved} to {wanted}: completed trials stay in the run"
    elif key == "architectures":
        removed = [name for name in saved if name not in wanted]
        if removed:
            return f"{', '.join(removed)} cannot be removed: its trials are part of the run"
    elif key == "custom_architectures":
        changed = sorted(name for name in saved if wanted.get(name) != saved[name])
        if changed:
            return f"{', '.join(changed)} cannot be changed or removed, only new names added"
    return None


def _changed_settings(saved: dict, wanted: dict) -> list[str]:
    """The refused differences between two configs' [data] and [search], each as
    "section.key differ" or "section.key differ: why"."""
    refused = []
    for section in ("data", "search"):
        old, new = saved.get(section, {}), wanted.get(section, {})
        for key in sorted(set(old) | set(new)):
            if old.get(key) == new.get(key):
                continue
            change = setting_change(section, key)
            why = _refused_extension(key, old.get(key), new.get(key), new) if change == EXTENDS else None
            if change == REFUSED:
                refused.append(f"{section}.{key} differ")
            elif why:
                refused.append(f"{section}.{key} differ: {why}")
    return refused


def with_legacy_values(saved: dict) -> dict:
    """`saved` (a run's config.toml) with each key it lacks set to its `LEGACY_VALUES` value."""
    filled = {section: dict(values) for section, values in saved.items()}
    for (section, key), value in LEGACY_VALUES.items():
        values = filled.setdefault(section, {})
        if key == "embeddings" and values.get("embeddings_path"):
            continue  # resolve_preset makes it "file", as the release that wrote it did
        values.setdefault(key, value)
    return filled


def read_saved_settings(run_dir: Path) -> dict | None:
    """`RUN_DIR/config.toml` as a dict, with `LEGACY_VALUES` for the keys an earlier release
    did not write, or None when there is none.

    Raises:
        InputError: The file is not valid TOML or not a table of sections.
    """
    path = RunLayout(run_dir).config
    if not path.is_file():
        return None
    try:
        saved = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise InputError(
            f"{path}: damaged, not valid TOML ({error}); pass --overwrite to start the run again, "
            "or --name NAME for a new run directory"
        ) from None
    if not all(isinstance(values, dict) for values in saved.values()):
        raise InputError(f"{path}: damaged, not a table of sections; pass --overwrite to start the run again")
    return with_legacy_values(saved)


def check_same_settings(run_dir: Path, config: Config) -> None:
    """Refuse settings that change what the run's trials mean (`setting_change`): a changed
    [data] or [search] key, unless it extends the search or changes no result.

    Raises:
        InputError: `RUN_DIR/config.toml` is damaged, or a refused change; names the keys
            (and why, for an extension that is not one) and the two ways out.
    """
    saved = read_saved_settings(run_dir)
    if saved is None:
        return
    wanted = tomllib.loads(tomli_w.dumps(config.to_dict()))  # same types as the saved side
    changed = _changed_settings(saved, wanted)
    if changed:
        raise InputError(
            f"{run_dir} holds a run with other settings ({'; '.join(changed)}); "
            "pass --overwrite to start it again, or --name NAME for a new run directory"
        )


def continued_config(run_dir: Path, overrides: dict | None = None) -> Config | None:
    """The settings of the run in `run_dir` with `overrides` on top, or None when `run_dir`
    holds no run (`run_dir.run_format`): re-running a command with a few flags changes only those.

    Raises:
        InputError: A damaged `config.toml`, or an invalid override.
    """
    if run_format(Path(run_dir)) is None:  # a config.toml of someone else's is not a run's settings
        return None
    saved = read_saved_settings(run_dir)
    if saved is None:
        return None
    for section, values in (overrides or {}).items():
        saved.setdefault(section, {}).update(values)
    return build_config(saved, source=str(RunLayout(run_dir).config))


def check_run_can_open(run_dir: Path, config: Config, *, overwrite: bool = False) -> None:
    """Everything `open_run` checks, writing nothing: the folder is rnnsweep's to write
    (`run_dir.check_writable_run_dir`) and, unless `overwrite`, holds the same settings.

    Raises:
        InputError: As `open_run`.
    """
    check_writable_run_dir(run_dir)
    if not overwrite:
        check_same_settings(run_dir, config)


def open_run(run_dir: Path, config: Config, *, overwrite: bool = False) -> Path:
    """Prepare `run_dir` for `config`: claim it (marker first), wipe what rnnsweep wrote there
    (overwrite), check the settings match, save config.toml.

    Raises:
        InputError: `run_dir` is not rnnsweep's to write (a file, another program's folder,
            no permission), or the saved settings differ and `overwrite` is False.
    """
    run_dir = Path(run_dir)
    check_run_can_open(run_dir, config, overwrite=overwrite)
    claim_run_dir(run_dir)
    if overwrite:
        remove_generated(run_dir)
    save_config(config, RunLayout(run_dir).config)
    return run_dir


def load_run_config(run_dir: Path, overrides: dict | None = None) -> Config:
    """The configuration saved in `RUN_DIR/config.toml`, with `overrides` applied.

    Raises:
        InputError: No run in `run_dir`.
    """
    config = continued_config(run_dir, overrides)
    if config is None:
        raise InputError(f"{run_dir}: no config.toml, so no run there; check the path or run `rnnsweep run` first")
    return config
