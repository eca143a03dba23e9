"""Where a training step's time goes: each batch timed with its width, and what bounds the speed-up.

The throughput benchmark (bench/throughput.py) measures whole epochs. This one times every
training step of an epoch on each side, same data, model and hyperparameters, and records
each batch's width (tokens per text) and whether it holds padding:

- reference: the study's pipeline, every batch pre-padded to the longest training text;
- rnnsweep: length-bucketed batches (its default on TensorFlow), each trimmed to its own
  longest text, the mask skipped on batches without padding.

rnnsweep's step times are fitted as `fixed + per_token * width (+ masked if the batch holds
padding)`, on the median step of each width. The fixed part is paid by every step whatever
its width (embedding and head updates, the optimizer, the step's dispatch); the per-token
part by the recurrent loop. With no padding at all (each batch as wide as the mean text) a
step would still cost `fixed + per_token * mean length`: the speed-up no batching can pass.
The output says how far the measured steps are from a third of the reference's, and which
part stands in the way.

Times are wall-clock seconds between Keras's `on_train_batch_begin` and `_end` of the second
epoch (the first holds the tracing), medians per width, and the whole epoch's time, whose
remainder is what runs between steps; each side in its own process with its own thread
settings, as in bench/throughput.py.

    python bench/step_profile.py --arch lstm [--repeats 1] [--data PATH] [--preset NAME] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import DEFAULT_DATA, data_settings, emit, machine, side_environment
from reference import build_reference_model, pre_padded
from throughput import UNITS, hyperparameters


def run_side(args) -> dict:
    """Train one side for two epochs in this process; return the second epoch's step times and widths."""
    if args.side == "rnnsweep":
        from rnnsweep.tuning.threads import configure_threads

        configure_threads()  # rnnsweep's thread defaults, before TensorFlow starts
    import keras
    import keras_tuner

    from rnnsweep.data_prep.config import resolve_preset
    from rnnsweep.data_prep.prepare import prepare_data
    from rnnsweep.models import ARCHITECTURES, build_model, default_search_space, encode_targets
    from rnnsweep.tuning.inputs import LengthBucketedBatches, bucketed_tf_dataset, model_spec

    with tempfile.TemporaryDirectory() as folder:
        data = prepare_data(resolve_preset(data_settings(args)), Path(folder))
    hp = keras_tuner.HyperParameters()
    for name, value in hyperparameters(args).items():
        hp.Fixed(name, value)
    architecture, space = ARCHITECTURES[args.arch], default_search_space(args.arch)
    keras.utils.set_random_seed(0)
    targets = encode_targets(data.y["train"], data.num_classes)
    lengths = (data.x["train"] != 0).sum(axis=1)
    if args.side == "reference":
        x_train, _ = pre_padded(data)
        model = build_reference_model(
            hp, architecture=architecture, space=space, vocab_size=len(data.vocabulary), num_classes=data.num_classes
        )
        fit = {"x": x_train, "y": targets, "batch_size": 32, "shuffle": True}

        def batch_facts(index):  # every batch has the one width, the longest text's (no mask: not fitted)
            return x_train.shape[1], True
    else:
        model = build_model(hp, spec=model_spec(data, bucket_by_length=True), architecture=architecture, space=space)
        batches = LengthBucketedBatches(data.x["train"], targets, batch_size=32, shuffle=True, seed=0)
        fit = {"x": bucketed_tf_dataset(batches), "shuffle": False}

        def batch_facts(index):  # the batches of the pass now running (each pass reshuffles)
            rows, width = batches.rows_and_width(index)
            return width, bool((lengths[rows] < width).any())

    steps, epoch_seconds, gaps = [], [], {"start": 0.0, "between": 0.0, "end": 0.0}

    class StepClock(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.started = time.perf_counter()
            if self.epoch == 1:  # the second epoch: the first holds the tracing
                gaps["between" if batch else "start"] += self.started - self.last

        def on_train_batch_end(self, batch, logs=None):
            self.last = time.perf_counter()
            if self.epoch == 1:
                steps.append((self.last - self.started, *batch_facts(batch)))

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch
            self.epoch_started = self.last = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            now = time.perf_counter()
            epoch_seconds.append(now - self.epoch_started)
            if epoch == 1:
                gaps["end"] = now - self.last

    model.fit(epochs=2, verbose=0, callbacks=[StepClock()], **fit)
    return {
        "steps": steps,
        "epoch_s": epoch_seconds[1],
        "gaps_s": gaps,  # outside the steps: before the first, between steps, after the last
        "longest": int(lengths.max()),
        "mean_length": float(lengths.mean()),
        "train_texts": len(lengths),
    }


def fit_step_times(steps: list) -> dict:
    """Weighted least squares `seconds = fixed + per_token * width + masked * holds_padding` on the
    median step of each (width, holds padding) group, weighted by its steps: single steps on a
    shared machine have outliers that a fit on every step would follow."""
    groups: dict[tuple, list] = {}
    for seconds, width, padded in steps:
        groups.setdefault((width, padded), []).append(seconds)
    design = np.array([[1.0, width, float(padded)] for width, padded in groups])
    medians = np.array([statistics.median(times) for times in groups.values()])
    weights = np.sqrt([len(times) for times in groups.values()])
    (fixed, per_token, masked), *_ = np.linalg.lstsq(design * weights[:, None], medians * weights, rcond=None)
    residuals = medians - design @ np.array([fixed, per_token, masked])
    mean = np.average(medians, weights=weights**2)
    r2 = 1 - np.average(residuals**2, weights=weights**2) / np.average((medians - mean) ** 2, weights=weights**2)
    return {"fixed_ms": 1000 * fixed, "per_token_ms": 1000 * per_token, "masked_ms": 1000 * masked, "r2": r2}


def summarise(reference: dict, ours: dict) -> dict:
    """The step-time figures and what bounds the speed-up."""
    ref_step = 1000 * statistics.median(s for s, _, _ in reference["steps"])
    ours_step = 1000 * statistics.mean(s for s, _, _ in ours["steps"])  # the mean: an epoch is their sum
    model = fit_step_times(ours["steps"])
    widths = [w for _, w, _ in ours["steps"]]
    by_width = {}
    for seconds, width, _ in ours["steps"]:
        by_width.setdefault(width, []).append(seconds)
    mean_width = statistics.mean(widths)
    padded_share = statistics.mean(p for _, _, p in ours["steps"])
    tokens_ms = model["per_token_ms"] * mean_width
    masking_ms = model["masked_ms"] * padded_share
    target_step = ref_step / 3
    # Every text's own tokens, with no padding at all: the least any batching could feed.
    unpadded_step = model["fixed_ms"] + model["per_token_ms"] * ours["mean_length"]
    steps_s = {side: sum(s for s, _, _ in run["steps"]) for side, run in (("reference", reference), ("ours", ours))}
    return {
        "reference_epoch_s": round(reference["epoch_s"], 2),
        "epoch_s": round(ours["epoch_s"], 2),
        "epoch_speedup": round(reference["epoch_s"] / ours["epoch_s"], 2),
        # What the steps leave of an epoch: the loop between steps, the input pipeline's start.
        "reference_steps_share": round(steps_s["reference"] / reference["epoch_s"], 3),
        "steps_share": round(steps_s["ours"] / ours["epoch_s"], 3),
        "reference_gaps_s": {where: round(seconds, 2) for where, seconds in reference["gaps_s"].items()},
        "gaps_s": {where: round(seconds, 2) for where, seconds in ours["gaps_s"].items()},
        "reference_width": reference["longest"],
        "reference_step_ms": round(ref_step, 2),
        "step_ms": round(ours_step, 2),
        "step_speedup": round(ref_step / ours_step, 2),
        "mean_width": round(mean_width, 1),
        "width_ratio": round(reference["longest"] / mean_width, 2),
        "padded_share": round(padded_share, 3),
        "fixed_ms": round(model["fixed_ms"], 2),
        "per_token_ms": round(model["per_token_ms"], 3),
        "masked_ms": round(model["masked_ms"], 2),
        "fit_r2": round(model["r2"], 3),
        "tokens_ms": round(tokens_ms, 2),
        "masking_ms": round(masking_ms, 2),
        "fixed_share": round(model["fixed_ms"] / ours_step, 3),
        "bound_with_no_tokens": round(ref_step / model["fixed_ms"], 2) if model["fixed_ms"] > 0 else None,
        "mean_text_length": round(ours["mean_length"], 1),
        "unpadded_step_ms": round(unpadded_step, 2),
        "bound_without_padding": round(ref_step / unpadded_step, 2),
        "target_step_ms": round(target_step, 2),
        "missed_by_ms": round(ours_step - target_step, 2),
        # The per-token cost 3x would need, fixed costs as they are and no padding at all.
        "per_token_ms_for_3x": round((target_step - model["fixed_ms"]) / ours["mean_length"], 3),
        "median_step_ms_by_width": {w: round(1000 * statistics.median(s), 2) for w, s in sorted(by_width.items())},
        "steps_per_epoch": len(ours["steps"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="lstm", choices=sorted(UNITS))
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--preset", default="womens-clothing")
    parser.add_argument("--repeats", type=int, default=1, help="runs per side, alternating (default 1)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--side", choices=["reference", "rnnsweep"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.hyperparameters = None  # throughput.py's fixed values: the study's units, dropout 0.2, rate 1e-3
    if args.side:
        print(json.dumps(run_side(args)))
        return
    # Sides alternate within each repeat; the figures shown are those of the repeat with the
    # median step speed-up (one consistent set), the others' speed-ups beside them.
    repeats = []
    for _ in range(args.repeats):
        sides = {}
        for side in ("reference", "rnnsweep"):
            command = [sys.executable, __file__, *sys.argv[1:], "--side", side]
            output = subprocess.run(command, env=side_environment(side), check=True, stdout=subprocess.PIPE, text=True)
            sides[side] = json.loads(output.stdout.strip().splitlines()[-1])
        repeats.append((sides["rnnsweep"]["train_texts"], summarise(sides["reference"], sides["rnnsweep"])))
    by_speedup = sorted(repeats, key=lambda repeat: repeat[1]["step_speedup"])
    train_texts, shown = by_speedup[len(by_speedup) // 2]
    emit(
        {
            "benchmark": "step_profile",
            "arch": args.arch,
            "units": UNITS[args.arch],
            "train_texts": train_texts,
            "repeats": args.repeats,
            **shown,
            "repeats_step_speedup": [summary["step_speedup"] for _, summary in repeats],
            "repeats_epoch_speedup": [summary["epoch_speedup"] for _, summary in repeats],
            "repeats_fixed_ms": [summary["fixed_ms"] for _, summary in repeats],
            "repeats_bound_without_padding": [summary["bound_without_padding"] for _, summary in repeats],
            "machine": machine(),
        },
        args.json,
    )


if __name__ == "__main__":
    main()
