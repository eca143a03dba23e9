"""Trials tried first: hyperparameter sets from a file (`--enqueue`) or another run's best trials (`--warm-start`)."""

from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path

from rnnsweep.data_prep.errors import InputError
from rnnsweep.data_prep.files import write_atomically
from rnnsweep.data_prep.layout import RunLayout, read_trials
from rnnsweep.data_prep.run_dir import require_run_dir
from rnnsweep.models.architectures import resolve_architectures
from rnnsweep.models.search_space import default_search_space, hyperparameter_choices
from rnnsweep.tuning.config import Config, read_saved_settings
from rnnsweep.tuning.trials import best_trials

DEFAULT_WARM_START_TOP = 3


def _in_space(where: str, name: str, value, choices: tuple):
    """The choice equal to `value` (so 64.0 read back from a CSV becomes the int 64)."""
    for choice in choices:
        same = value == choice if isinstance(choice, str) else _close(value, choice)
        if same:
            return choice
    raise InputError(f"{where}: {name} = {value!r} is not in the search space; its choices are {list(choices)}")


def _close(value, choice) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isclose(float(value), float(choice), rel_tol=1e-9, abs_tol=1e-12)


def _checked(where: str, values, choices: dict[str, tuple]) -> dict:
    if not isinstance(values, dict):
        raise InputError(f"{where}: must be a table of hyperparameter values. Received: {values!r}")
    unknown = sorted(set(values) - set(choices))
    if unknown:
        raise InputError(
            f"{where}: {unknown[0]} is not a hyperparameter of it; its hyperparameters are {list(choices)}"
        )
    return {name: _in_space(where, name, value, choices[name]) for name, value in values.items()}


def _read_enqueue_file(path: Path) -> dict:
    if not path.is_file():
        raise InputError(f"{path}: no such file; check --enqueue")
    try:
        text = path.read_text(encoding="utf-8")
        sets = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        kind = "JSON" if path.suffix.lower() == ".json" else "TOML"
        raise InputError(f"{path}: not valid {kind} ({error}); check --enqueue") from None
    if not isinstance(sets, dict) or not all(isinstance(v, list) for v in sets.values()):
        raise InputError(
            f"{path}: must map each architecture to a list of hyperparameter sets, e.g. [[gru1]] tables in "
            'TOML or {"gru1": [{...}]} in JSON; check --enqueue'
        )
    return sets


def parse_warm_start(value: str) -> tuple[Path, int]:
    """`RUN_DIR[:K]` as (run directory, K); K defaults to `DEFAULT_WARM_START_TOP` (3).

    Raises:
        InputError: K is not a whole number > 0.
    """
    run_dir, colon, top = str(value).rpartition(":")
    if not colon:
        return Path(value), DEFAULT_WARM_START_TOP
    if not top.isdigit() or int(top) < 1:
        raise InputError(f"--warm-start takes RUN_DIR or RUN_DIR:K with K a whole number > 0. Received: {value!r}")
    return Path(run_dir), int(top)


def resolve_queue(config: Config, *, enqueue: str | Path | None = None, warm_start: str | None = None) -> dict:
    """The trials to try first, per architecture of `config`'s sweep, each checked against its space.

    Args:
        config: The sweep's configuration (its architectures and search space).
        enqueue: A TOML or JSON file mapping architectures to lists of hyperparameter sets;
            names a set leaves out take the space's default (default None).
        warm_start: `RUN_DIR[:K]`: the K best completed trials of each of this sweep's
            architectures in another run, by that run's objective (default None).

    Returns:
        {architecture: [{"values": {...}, "source": "..."}]}, the file's sets first.

    Raises:
        InputError: The hyperband tuner, an unreadable file, an architecture not in the
            sweep, a name that is not one of the architecture's hyperparameters or a value
            outside its space (one line naming the architecture and the key), or a
            warm-start run without trials.
    """
    search = config.search
    if search.tuner == "hyperband":  # its trials carry its brackets' epochs, which a set cannot give
        raise InputError(
            "--enqueue and --warm-start work with the random and bayesian tuners; Received: tuner='hyperband'"
        )
    choices = {
        a.name: hyperparameter_choices(a, default_search_space(a.name, search.space))
        for a in resolve_architectures(search.architectures, search.custom_architectures)
    }
    queue: dict[str, list[dict]] = {}
    if enqueue is not None:
        path = Path(enqueue)
        for architecture, sets in _read_enqueue_file(path).items():
            if architecture not in choices:
                raise InputError(
                    f"{path}: {architecture} is not an architecture of this sweep ({', '.join(choices)}); "
                    "check --enqueue"
                )
            for number, values in enumerate(sets, start=1):
                where = f"{path}: {architecture} set {number}"
                queue.setdefault(architecture, []).append(
                    {"values": _checked(where, values, choices[architecture]), "source": f"--enqueue {path.name}"}
                )
    if warm_start is not None:
        run_dir, top = parse_warm_start(warm_start)
        require_run_dir(run_dir)
        if not RunLayout(run_dir).trials_csv.is_file():
            raise InputError(f"{run_dir}: no trials.csv, so nothing to warm-start from; check --warm-start")
        objective = (read_saved_settings(run_dir) or {}).get("search", {}).get("objective", "val_auc")
        trials = read_trials(run_dir)
        for architecture in choices:
            part = best_trials(trials[trials["architecture"] == architecture], objective=objective, top=top)
            for row in part.to_dict("records"):
                values = {k[3:]: v for k, v in row.items() if k.startswith("hp_") and v == v}  # v == v: not NaN
                where = f"--warm-start {run_dir}: {architecture} trial {row['trial_id']}"
                queue.setdefault(architecture, []).append(
                    {"values": _checked(where, values, choices[architecture]), "source": where}
                )
    return queue


def save_queue(run_dir: Path, queue: dict) -> None:
    """Write the queue where every process that owns an oracle reads it (`tuners.make_tuner`)."""
    path = RunLayout(run_dir).queue
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, json.dumps(queue, indent=1))
