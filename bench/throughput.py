"""Training throughput, rnnsweep against the original study's plain Keras pipeline.

Same data, same architecture and hyperparameters; the reference (bench/reference.py)
pre-pads every text to the longest one and feeds numpy arrays with TensorFlow's default
threads (as the study did), rnnsweep end-pads, masks, batches texts of similar length and
uses its own thread settings (tuning/threads.py). Both read the same tokens: the study's
cleaning by default, rnnsweep's default cleaning with `--cleaning rnnsweep`. Each side runs
in its own process. Reports samples per second over whole epochs, the ratio, and each
side's validation macro AUC (scikit-learn) after the same epochs; with more than one epoch,
also the figures without the first epoch, which holds the one-off tracing of the training step,
and each run's figures. `--hyperparameters` trains another configuration, e.g. a sweep's best
(make_benchmarks.py does so to show one configuration's run-to-run spread of validation AUC).

`--backends tensorflow,jax` adds rnnsweep's side under each Keras backend named (JAX must be
installed), interleaved with the others in every repeat.

    python bench/throughput.py --arch lstm [--data PATH] [--preset NAME] [--cleaning study|rnnsweep]
                               [--epochs 1] [--repeats 1] [--hyperparameters JSON]
                               [--backends tensorflow[,jax]] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import DEFAULT_DATA, data_settings, emit, machine, side_environment
from reference import build_reference_model, pre_padded

# The study's 2-layer LSTM was (64, 128); the GRU (256). Equal values on both sides.
UNITS = {
    "lstm": [64, 128],
    "gru1": [256],
    "gru2": [64, 64],
    "gru4": [32, 32, 32, 32],
    "simple_rnn": [64],
    "bilstm": [64],
}


def timed_fit(model, epochs, score, **fit) -> tuple[list[float], list[float]]:
    """Seconds of each epoch (the first includes tracing the training step) and `score(model)`
    after each epoch, its own time left out."""
    import keras

    seconds, scores = [], []

    class Clock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch:
                self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds.append(time.perf_counter() - self.started)
            scores.append(score(self.model))

    clock = Clock()
    clock.started = time.perf_counter()  # the first epoch counts from the call to fit
    model.fit(epochs=epochs, verbose=0, callbacks=[clock], **fit)
    return seconds, scores


def run_side(args) -> dict:
    """Train one side once in this process; return its seconds and validation AUC."""
    if args.side == "rnnsweep" and os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
        from rnnsweep.tuning.threads import configure_threads

        configure_threads()  # rnnsweep's thread defaults, before TensorFlow starts
    import keras
    import keras_tuner

    from rnnsweep.data_prep.config import resolve_preset
    from rnnsweep.data_prep.prepare import prepare_data
    from rnnsweep.models import ARCHITECTURES, build_model, default_search_space, encode_targets, predict_proba
    from rnnsweep.tuning.evaluation import macro_auc
    from rnnsweep.tuning.inputs import fit_inputs, model_spec

    with tempfile.TemporaryDirectory() as folder:
        data = prepare_data(resolve_preset(data_settings(args, cleaning=args.cleaning)), Path(folder))
    architecture = ARCHITECTURES[args.arch]
    hp = keras_tuner.HyperParameters()
    for name, value in hyperparameters(args).items():
        hp.Fixed(name, value)
    space = default_search_space(args.arch)
    keras.utils.set_random_seed(args.seed)
    if args.side == "reference":
        x_train, x_validation = pre_padded(data)
        model = build_reference_model(
            hp, architecture=architecture, space=space, vocab_size=len(data.vocabulary), num_classes=data.num_classes
        )
        fit = {"x": x_train, "y": encode_targets(data.y["train"], data.num_classes), "batch_size": 32, "shuffle": True}
    else:
        model = build_model(hp, spec=model_spec(data, bucket_by_length=True), architecture=architecture, space=space)
        fit = fit_inputs(data, "train", batch_size=32, bucket=True, shuffle=True, seed=args.seed)
        x_validation = data.x["validation"]

    def score(model):
        return macro_auc(data.y["validation"], predict_proba(model, x_validation, num_classes=data.num_classes))

    epoch_seconds, aucs = timed_fit(model, args.epochs, score, **fit)
    return {
        "seconds": sum(epoch_seconds),
        "later_epochs_seconds": sum(epoch_seconds[1:]),
        "val_auc": aucs[-1],
        "best_epoch_val_auc": max(aucs),
        "train_texts": len(data.y["train"]),
    }


def hyperparameters(args) -> dict:
    """`--hyperparameters`, or the fixed values: the study's units, dropout 0.2, rate 1e-3."""
    if args.hyperparameters:
        return json.loads(args.hyperparameters)
    values = {"dropout_embedding": 0.2, "dropout_output": 0.2, "learning_rate": 1e-3}
    for i, units in enumerate(UNITS[args.arch], start=1):
        values |= {f"units_{i}": units, f"dropout_{i}": 0.2}
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="lstm", choices=sorted(UNITS))
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--preset", default="womens-clothing")
    parser.add_argument(
        "--cleaning",
        choices=["study", "rnnsweep"],
        default="study",
        help="both sides read text cleaned as the study did (stopwords removed, no truncation; default) "
        "or with rnnsweep's defaults (stopwords kept, truncated at the 95th percentile of lengths)",
    )
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=1, help="runs per side; the median is reported")
    parser.add_argument(
        "--hyperparameters",
        help="JSON object of the builder's hyperparameters, e.g. a sweep's best trial's "
        "(default: the study's units, dropout 0.2, learning rate 1e-3)",
    )
    parser.add_argument(
        "--backends",
        default="tensorflow",
        help="Keras backends of rnnsweep's side, comma-separated (default: tensorflow)",
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--side", choices=["reference", "rnnsweep"], help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        print(json.dumps(run_side(args)))
        return

    # Each side trains in a fresh process with its own thread settings (see side_environment);
    # rnnsweep's side once per backend (KERAS_BACKEND; it ignores --backends), all interleaved
    # within each repeat.
    backends = args.backends.split(",")
    runs = {"reference": [], **{backend: [] for backend in backends}}
    for repeat in range(args.repeats):
        for side in runs:
            role = "reference" if side == "reference" else "rnnsweep"
            command = [sys.executable, __file__, *sys.argv[1:], "--side", role, "--seed", str(repeat)]
            env = side_environment(role) | ({"KERAS_BACKEND": side} if role == "rnnsweep" else {})
            output = subprocess.run(command, env=env, check=True, stdout=subprocess.PIPE, text=True).stdout
            runs[side].append(json.loads(output.strip().splitlines()[-1]))

    def median(side, key):
        return statistics.median(run[key] for run in runs[side])

    n = runs[backends[0]][0]["train_texts"]
    values = hyperparameters(args)
    speed = {side: n * args.epochs / median(side, "seconds") for side in runs}
    # Without the first epoch, which holds the one-off tracing (or compiling) of each side's training step.
    later = (
        {side: n * (args.epochs - 1) / median(side, "later_epochs_seconds") for side in runs} if args.epochs > 1 else {}
    )

    def figures(side: str) -> dict:
        found = {"samples_per_s": round(speed[side], 1), "speedup": round(speed[side] / speed["reference"], 2)}
        if later:
            found |= {
                "later_epochs_samples_per_s": round(later[side], 1),
                "later_epochs_speedup": round(later[side] / later["reference"], 2),
            }
        found["val_auc"] = round(median(side, "val_auc"), 4)
        # Each run: samples/s over all epochs and the validation AUC of its best epoch (what
        # a sweep scores a trial by), to show the run-to-run spread behind the medians.
        found["runs"] = [
            {
                "samples_per_s": round(n * args.epochs / run["seconds"], 1),
                "best_epoch_val_auc": round(run["best_epoch_val_auc"], 4),
            }
            for run in runs[side]
        ]
        return found

    main_side = figures(backends[0])
    emit(
        {
            "benchmark": "throughput",
            "arch": args.arch,
            "units": [value for name, value in values.items() if name.startswith("units_")],
            "hyperparameters": values,
            "cleaning": args.cleaning,
            "train_texts": n,
            "epochs": args.epochs,
            "repeats": args.repeats,
            "backend": backends[0],
            "reference_samples_per_s": round(speed["reference"], 1),
            **({"reference_later_epochs_samples_per_s": round(later["reference"], 1)} if later else {}),
            "reference_val_auc": round(median("reference", "val_auc"), 4),
            "reference_runs": figures("reference")["runs"],
            **main_side,
            "backends": {backend: figures(backend) for backend in backends},
            "machine": machine(),
        },
        args.json,
    )


if __name__ == "__main__":
    main()
