"""Training throughput, rnnsweep against the original study's plain Keras pipeline.

Same data, same architecture and hyperparameters; the reference pre-pads every text to
the longest one and feeds numpy arrays (as the study did), rnnsweep end-pads, masks and
batches texts of similar length. Reports samples per second over whole epochs, the
ratio, and each side's validation macro AUC (scikit-learn) after the same epochs.

    python bench/throughput.py --arch lstm [--data PATH] [--preset NAME] [--epochs 1] [--repeats 1] [--json]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from _common import DEFAULT_DATA, emit, machine

# The study's 2-layer LSTM was (64, 128); the GRU (256). Equal values on both sides.
UNITS = {
    "lstm": [64, 128],
    "gru1": [256],
    "gru2": [64, 64],
    "gru4": [32, 32, 32, 32],
    "simple_rnn": [64],
    "bilstm": [64],
}


def reference_model(architecture, units, vocab_size, num_classes):
    """The study's model, written plainly: no mask, pre-padded fixed-length input."""
    import keras

    from models.head import compile_for_classes, output_layer

    cell = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU, "simple_rnn": keras.layers.SimpleRNN}[architecture.cell]
    layers = [keras.layers.Embedding(vocab_size, 100), keras.layers.Dropout(0.2)]
    for i, u in enumerate(units):
        layer = cell(u, return_sequences=i < len(units) - 1)
        layers.append(keras.layers.Bidirectional(layer) if architecture.bidirectional else layer)
        layers.append(keras.layers.Dropout(0.2))
    model = keras.Sequential([*layers, output_layer(num_classes)])
    return compile_for_classes(model, num_classes=num_classes, learning_rate=1e-3)


def timed_fit(model, epochs, **fit):
    started = time.perf_counter()
    model.fit(epochs=epochs, verbose=0, **fit)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="lstm", choices=sorted(UNITS))
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--preset", default="womens-clothing")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=1, help="runs per side; the median is reported")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import keras
    import keras_tuner
    import numpy as np

    from data_prep.config import resolve_preset
    from data_prep.prepare import prepare_data
    from models import ARCHITECTURES, build_model, default_search_space, encode_targets, predict_proba
    from tuning.evaluation import macro_auc
    from tuning.search import fit_inputs, model_spec

    with tempfile.TemporaryDirectory() as folder:
        data = prepare_data(resolve_preset({"preset": args.preset, "path": args.data}), Path(folder))
    architecture = ARCHITECTURES[args.arch]
    units = UNITS[args.arch]
    n = len(data.y["train"])
    y_train = encode_targets(data.y["train"], data.num_classes)

    # Reference: pre-padded to the longest training text, numpy arrays, batch 32.
    def pre_pad(x):
        lengths = (x != 0).sum(axis=1)
        out = np.zeros((len(x), data.x["train"].shape[1]), dtype="int32")
        for i, (row, length) in enumerate(zip(x, lengths, strict=True)):
            out[i, out.shape[1] - length :] = row[:length]
        return out

    x_ref = {s: pre_pad(data.x[s]) for s in ("train", "validation")}
    reference_times, reference_aucs, ours_times, ours_aucs = [], [], [], []
    for repeat in range(args.repeats):
        keras.utils.set_random_seed(repeat)
        model = reference_model(architecture, units, len(data.vocabulary), data.num_classes)
        reference_times.append(timed_fit(model, args.epochs, x=x_ref["train"], y=y_train, batch_size=32, shuffle=True))
        reference_aucs.append(
            macro_auc(data.y["validation"], predict_proba(model, x_ref["validation"], num_classes=data.num_classes))
        )

        keras.utils.set_random_seed(repeat)
        hp = keras_tuner.HyperParameters()
        for i, u in enumerate(units, start=1):
            hp.Fixed(f"units_{i}", u)
            hp.Fixed(f"dropout_{i}", 0.2)
        for name in ("dropout_embedding", "dropout_output"):
            hp.Fixed(name, 0.2)
        hp.Fixed("learning_rate", 1e-3)
        spec = model_spec(data, bucket_by_length=True)
        model = build_model(hp, spec=spec, architecture=architecture, space=default_search_space(args.arch))
        train = fit_inputs(data, "train", batch_size=32, bucket=True, shuffle=True, seed=repeat)
        ours_times.append(timed_fit(model, args.epochs, **train))
        ours_aucs.append(
            macro_auc(data.y["validation"], predict_proba(model, data.x["validation"], num_classes=data.num_classes))
        )

    reference = n * args.epochs / statistics.median(reference_times)
    ours = n * args.epochs / statistics.median(ours_times)
    emit(
        {
            "benchmark": "throughput",
            "arch": args.arch,
            "units": units,
            "train_texts": n,
            "epochs": args.epochs,
            "repeats": args.repeats,
            "reference_samples_per_s": round(reference, 1),
            "samples_per_s": round(ours, 1),
            "speedup": round(ours / reference, 2),
            "reference_val_auc": round(statistics.median(reference_aucs), 4),
            "val_auc": round(statistics.median(ours_aucs), 4),
            "machine": machine(),
        },
        args.json,
    )


if __name__ == "__main__":
    main()
