"""Search efficiency: the same random search with rnnsweep and with the study's plain keras-tuner setup.

Both sides run keras-tuner's RandomSearch with the same seed over the same search space
(rnnsweep's default for `--arch`), the same number of trials and epochs per trial, on the
same tokens (the study's cleaning, bench/_common.py): the reference (bench/reference.py)
pre-pads to the longest review and feeds numpy arrays, batch 32, TensorFlow's default
threads, every trial trained for all its epochs; rnnsweep runs `tuning.pipeline.tune_stage`
with its defaults (parallel workers, median stopping, bucketed batches). The
hyperparameters are declared alike, so both sides try the same configurations in the
same order (checked); `--seed` picks them. After each sweep every
trial's best-epoch model is scored with scikit-learn's macro AUC on the validation split.
Reports each sweep's wall time and best AUC, and when rnnsweep first matched the
reference's best.

    python bench/search.py [--arch lstm] [--trials 12] [--epochs 3] [--seed 42] [--max-rows N]
                           [--data PATH] [--preset NAME] [--json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

from _common import DEFAULT_DATA, data_settings, emit, machine, side_environment
from reference import build_reference_model, pre_padded


def trial_scores(tuner, x_validation, data, started: float) -> list[dict]:
    """Each trial in the order it ended: seconds since `started`, hyperparameters, sklearn AUC."""
    from rnnsweep.models import predict_proba
    from rnnsweep.tuning.evaluation import macro_auc
    from rnnsweep.tuning.trials import read_curve

    rows = []
    for trial in tuner.oracle.trials.values():
        if trial.status != "COMPLETED":
            continue
        trial_json = Path(tuner.get_trial_dir(trial.trial_id)) / "trial.json"
        with warnings.catch_warnings():  # the checkpoint's optimizer state is not needed here
            warnings.simplefilter("ignore")
            model = tuner.load_model(trial)  # the trial's best epoch
        proba = predict_proba(model, x_validation, num_classes=data.num_classes)
        curve = read_curve(trial_json.parent) or {}  # written by rnnsweep's trials only
        rows.append(
            {
                "trial_id": trial.trial_id,
                "end_s": round(trial_json.stat().st_mtime - started, 1),
                "hyperparameters": dict(trial.hyperparameters.values),
                "val_auc": round(macro_auc(data.y["validation"], proba), 4),
                "stopped_at_epoch": curve.get("stopped_at_epoch"),
            }
        )
    return sorted(rows, key=lambda row: row["end_s"])


def run_side(args, folder: Path) -> dict:
    """Prepare the data (untimed), run one side's sweep, score its trials."""
    if args.side == "rnnsweep":
        from rnnsweep.tuning.threads import configure_threads

        configure_threads()  # rnnsweep's thread defaults, before TensorFlow starts
    import functools

    import keras_tuner

    from rnnsweep.models import ARCHITECTURES, default_search_space, encode_targets
    from rnnsweep.tuning.config import load_config
    from rnnsweep.tuning.distributed import resolve_workers
    from rnnsweep.tuning.pipeline import data_stage, tune_stage
    from rnnsweep.tuning.tuners import make_tuner

    overrides = {
        "data": data_settings(args),
        "search": {"architectures": [args.arch], "max_trials": args.trials, "epochs": args.epochs, "seed": args.seed},
    }
    config = load_config(None, overrides)
    data = data_stage(config, folder)
    architecture = ARCHITECTURES[args.arch]
    if args.side == "reference":
        builder = functools.partial(
            build_reference_model,
            architecture=architecture,
            space=default_search_space(args.arch),
            vocab_size=len(data.vocabulary),
            num_classes=data.num_classes,
        )
        tuner = keras_tuner.RandomSearch(
            builder,
            objective=keras_tuner.Objective("val_auc", "max"),
            max_trials=args.trials,
            seed=config.search.seed,
            directory=str(folder / "search"),
            project_name=args.arch,
        )
        x_train, x_validation = pre_padded(data)
        started = time.time()
        tuner.search(
            x_train,
            encode_targets(data.y["train"], data.num_classes),
            validation_data=(x_validation, encode_targets(data.y["validation"], data.num_classes)),
            epochs=args.epochs,
            batch_size=32,
            verbose=0,
        )
    else:
        started = time.time()
        tune_stage(config, folder)
        tuner = make_tuner(config, architecture, data, folder / "search")
        x_validation = data.x["validation"]
    wall = time.time() - started
    result = {"wall_s": round(wall, 1), "trials": trial_scores(tuner, x_validation, data, started)}
    if args.side == "rnnsweep":
        table = json.loads((folder / "trials.json").read_text())
        result["stopped_early"] = sum(row.get("stopped_at_epoch") is not None for row in table)
        result["workers"] = resolve_workers("auto", config.search)
        result["backend"] = sorted({row.get("backend") for row in table} - {None})
    return result


def summarise(reference: dict, ours: dict) -> dict:
    """Best AUCs, wall times, and the first moment rnnsweep's best reached the reference's."""
    reference_best = max(t["val_auc"] for t in reference["trials"])
    best, reached_at = 0.0, None
    for trial in ours["trials"]:
        best = max(best, trial["val_auc"])
        if reached_at is None and best >= reference_best:
            reached_at = trial["end_s"]
    same = [t["hyperparameters"] for t in sorted(reference["trials"], key=lambda t: t["trial_id"])] == [
        t["hyperparameters"] for t in sorted(ours["trials"], key=lambda t: t["trial_id"])
    ]
    return {
        "reference_wall_s": reference["wall_s"],
        "reference_best_val_auc": reference_best,
        "wall_s": ours["wall_s"],
        "best_val_auc": max(t["val_auc"] for t in ours["trials"]),
        "trials_stopped_early": ours["stopped_early"],
        "workers": ours["workers"],
        "backend": ", ".join(ours["backend"]),
        "reached_reference_best_at_s": reached_at,
        "time_to_reference_best_ratio": round(reached_at / reference["wall_s"], 3) if reached_at else None,
        "wall_ratio": round(ours["wall_s"] / reference["wall_s"], 3),
        "same_configurations": same,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="lstm")
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42, help="the sweep's seed on both sides: which configurations")
    parser.add_argument("--max-rows", type=int, help="a seeded sample of N rows (default: all)")
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--preset", default="womens-clothing")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--side", choices=["reference", "rnnsweep"], help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        print(json.dumps(run_side(args, Path(args.folder))))
        return

    # Each side in a fresh process with its own thread settings (see side_environment).
    sides = {}
    with tempfile.TemporaryDirectory() as folder:
        for side in ("reference", "rnnsweep"):
            command = [sys.executable, __file__, *sys.argv[1:], "--side", side, "--folder", f"{folder}/{side}"]
            output = subprocess.run(
                command, env=side_environment(side), check=True, stdout=subprocess.PIPE, text=True
            ).stdout
            sides[side] = json.loads(output.strip().splitlines()[-1])
    emit(
        {
            "benchmark": "search",
            "arch": args.arch,
            "trials": args.trials,
            "epochs": args.epochs,
            "seed": args.seed,
            "rows": args.max_rows or "all",
            **summarise(sides["reference"], sides["rnnsweep"]),
            "reference_trials": sides["reference"]["trials"],
            "rnnsweep_trials": sides["rnnsweep"]["trials"],
            "machine": machine(),
        },
        args.json,
    )


if __name__ == "__main__":
    main()
