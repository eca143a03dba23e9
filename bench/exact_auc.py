"""Per-epoch cost of the exact objective (scikit-learn's macro AUC of the validation predictions).

Trains the same model for the same epochs with and without `ValidationAUC`, alternately,
and reports seconds per epoch of each and the time the callback itself took.

python bench/exact_auc.py [--arch gru1] [--epochs 2] [--repeats 2] [--data PATH] [--json]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from _common import DEFAULT_DATA, emit, machine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="gru1")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--preset", default="womens-clothing")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from rnnsweep.tuning.threads import configure_threads

    configure_threads()
    import keras
    import keras_tuner

    from rnnsweep.data_prep.config import resolve_preset
    from rnnsweep.data_prep.prepare import prepare_data
    from rnnsweep.models import ARCHITECTURES, build_model, default_search_space
    from rnnsweep.tuning.exact_auc import ValidationAUC
    from rnnsweep.tuning.inputs import fit_inputs, model_spec, validation_data

    with tempfile.TemporaryDirectory() as folder:
        data = prepare_data(resolve_preset({"preset": args.preset, "path": args.data}), Path(folder))
    architecture = ARCHITECTURES[args.arch]
    seconds = {"without": [], "with": []}
    callback_seconds = []
    for repeat in range(args.repeats):
        for side in ("without", "with"):
            keras.backend.clear_session()
            keras.utils.set_random_seed(repeat)
            model = build_model(
                keras_tuner.HyperParameters(),
                spec=model_spec(data, bucket_by_length=True),
                architecture=architecture,
                space=default_search_space(args.arch),
            )
            train = fit_inputs(data, "train", batch_size=32, bucket=True, shuffle=True, seed=repeat)
            validation = fit_inputs(data, "validation", batch_size=32, bucket=True, shuffle=False, seed=0)
            callbacks = []
            if side == "with":
                callbacks = [ValidationAUC(data.x["validation"], data.y["validation"], batch_size=32)]
            started = time.perf_counter()
            model.fit(
                **train, validation_data=validation_data(validation), epochs=args.epochs, callbacks=callbacks, verbose=0
            )
            seconds[side].append((time.perf_counter() - started) / args.epochs)
            if callbacks:
                callback_seconds.append(callbacks[0].seconds / args.epochs)
    without, with_callback = statistics.median(seconds["without"]), statistics.median(seconds["with"])
    emit(
        {
            "benchmark": "exact_auc",
            "arch": args.arch,
            "epochs": args.epochs,
            "repeats": args.repeats,
            "train_texts": len(data.y["train"]),
            "validation_texts": len(data.y["validation"]),
            "epoch_s_without": round(without, 2),
            "epoch_s_with": round(with_callback, 2),
            "callback_s_per_epoch": round(statistics.median(callback_seconds), 2),
            "overhead_percent": round(100 * statistics.median(callback_seconds) / without, 1),
            "machine": machine(),
        },
        args.json,
    )


if __name__ == "__main__":
    main()
