"""Prediction throughput of an exported raw-text model: reviews per second, batched and one by one.

    python bench/predict.py [--model RUN_DIR/models/NAME/export.keras] [--data PATH] [--preset NAME] [--json]

Without --model it exports an untrained 1-layer GRU (64 units) on the data's vocabulary:
prediction cost does not depend on the weights' values.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _common import DEFAULT_DATA, emit, machine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model")
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--preset", default="womens-clothing")
    parser.add_argument("--single", type=int, default=200, help="texts predicted one at a time")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import keras_tuner
    import numpy as np
    import tensorflow as tf

    from rnnsweep.data_prep.config import resolve_preset
    from rnnsweep.data_prep.prepare import cleaning_options, prepare_data
    from rnnsweep.models import ARCHITECTURES, build_model, default_search_space
    from rnnsweep.tuning.export import build_text_model, load_text_model
    from rnnsweep.tuning.inputs import model_spec

    with tempfile.TemporaryDirectory() as folder:
        config = resolve_preset({"preset": args.preset, "path": args.data})
        data = prepare_data(config, Path(folder))
        if args.model:
            model = load_text_model(args.model)
        else:
            hp = keras_tuner.HyperParameters()
            hp.Fixed("units_1", 64)
            token_model = build_model(
                hp,
                spec=model_spec(data, bucket_by_length=True),
                architecture=ARCHITECTURES["gru1"],
                space=default_search_space("gru1"),
            )
            exported = build_text_model(
                token_model,
                vocabulary=data.vocabulary,
                sequence_length=data.sequence_length,
                class_names=data.class_names,
                cleaning=cleaning_options(config)[0],
            )
            exported.save(Path(folder) / "export.keras")
            model = load_text_model(Path(folder) / "export.keras")
    texts = data.rows.loc[data.rows["split"] == "test", "text"].tolist()
    batch = tf.constant(texts)
    model.predict(batch[:256], verbose=0)  # warm-up: tracing
    started = time.perf_counter()
    model.predict(batch, batch_size=256, verbose=0)
    batched = len(texts) / (time.perf_counter() - started)
    singles = texts[: args.single]
    model.predict(tf.constant(singles[:1]), verbose=0)
    started = time.perf_counter()
    for text in singles:  # as `rnnsweep predict` and `predict_texts` call it
        np.asarray(model.predict(tf.constant([text]), verbose=0))
    single = len(singles) / (time.perf_counter() - started)
    emit(
        {
            "benchmark": "predict",
            "texts": len(texts),
            "batched_reviews_per_s": round(batched, 1),
            "single_reviews_per_s": round(single, 1),
            "machine": machine(),
        },
        args.json,
    )


if __name__ == "__main__":
    main()
