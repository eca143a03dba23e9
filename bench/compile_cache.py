"""What JAX's persistent compilation cache saves a trial: the first epoch's extra time, cold and warm.

    python bench/compile_cache.py [--arch lstm] [--data PATH] [--json]

Runs rnnsweep's side of bench/throughput.py under Keras's JAX backend three times, two epochs
each, with one fresh cache folder: empty (cold), again with the same hyperparameters (warm: a
retraining, a resumed run, another worker with the same configuration), and with another
dropout (a different program: what most new trials of a random search are). The first epoch's
time beyond the second is the compiling (and tracing) a new model costs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import DEFAULT_DATA, emit, machine
from throughput import UNITS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="lstm", choices=sorted(UNITS))
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    values = {"dropout_embedding": 0.2, "dropout_output": 0.2, "learning_rate": 1e-3}
    for i, units in enumerate(UNITS[args.arch], start=1):
        values |= {f"units_{i}": units, f"dropout_{i}": 0.2}
    other = {**values, "dropout_output": 0.3}
    results = {}
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_COMPILATION_CACHE_DIR": cache}
        for label, hyperparameters in (("cold", values), ("warm", values), ("warm_other_dropout", other)):
            command = [sys.executable, str(Path(__file__).with_name("throughput.py")), "--arch", args.arch]
            command += ["--data", args.data, "--epochs", "2", "--side", "rnnsweep"]
            command += ["--hyperparameters", json.dumps(hyperparameters)]
            output = subprocess.run(command, env=env, check=True, stdout=subprocess.PIPE, text=True).stdout
            run = json.loads(output.strip().splitlines()[-1])
            later = run["later_epochs_seconds"]
            results[label] = {
                "first_epoch_s": round(run["seconds"] - later, 1),
                "later_epoch_s": round(later, 1),
                "first_epoch_extra_s": round(run["seconds"] - 2 * later, 1),
            }
        cached_files = sum(1 for _ in Path(cache).rglob("*") if _.is_file())
    result = {"benchmark": "compile_cache", "arch": args.arch, **results, "cache_entries": cached_files}
    emit({**result, "machine": machine()}, args.json)


if __name__ == "__main__":
    main()
