"""Run every benchmark and write BENCHMARKS.md from their JSON lines.

    python bench/make_benchmarks.py [--data PATH] [--clothing-run RUN_DIR] [--skip NAME ...]

--clothing-run adds the figures of a finished `rnnsweep run --config examples/clothing.toml`
run directory (test metrics of each retrained model against the baselines of that run).
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
from pathlib import Path

from _common import DEFAULT_DATA

HERE = Path(__file__).resolve().parent


def run(script: str, *args: str) -> dict | None:
    """Run one benchmark; its JSON line, or None (with its error printed) if it failed."""
    command = [sys.executable, str(HERE / script), *args, "--json"]
    print("$", " ".join(command[1:]), flush=True)
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        print(result.stderr[-3000:], file=sys.stderr)
        return None
    line = json.loads(result.stdout.strip().splitlines()[-1])
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE)
    line["commit"] = commit.stdout.strip() or "unknown"
    print(json.dumps(line), flush=True)
    return line


def clothing_section(run_dir: Path) -> list[str]:
    baselines = json.loads((run_dir / "baselines" / "metrics.json").read_text())
    lines = [
        "## Clothing reviews: tuned RNNs against the baselines of the same run",
        "",
        "`rnnsweep run --config examples/clothing.toml --data ../shared/data/womens_clothing_reviews.csv.gz`",
        "",
        "| model | test macro AUC | test weighted F1 | test macro F1 |",
        "| --- | --- | --- | --- |",
    ]
    for folder in sorted((run_dir / "models").glob("*/")):
        test = json.loads((folder / "metrics.json").read_text())["test"]
        lines.append(
            f"| {folder.name} (tuned) | {test['auc_macro']:.4f} | {test['f1_weighted']:.4f} | {test['f1_macro']:.4f} |"
        )
    for name, splits in baselines.items():
        test = splits["test"]
        lines.append(
            f"| {name} (baseline) | {test['auc_macro']:.4f} | {test['f1_weighted']:.4f} | {test['f1_macro']:.4f} |"
        )
    return [*lines, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--clothing-run")
    parser.add_argument("--skip", nargs="*", default=[], help="benchmarks to leave out")
    parser.add_argument("--only", nargs="*", help="run just these; take the others from --cache")
    parser.add_argument(
        "--cache",
        default=str(Path.home() / ".cache" / "rnnsweep" / "bench_results.json"),
        help="where each result is kept as soon as it is measured",
    )
    args = parser.parse_args()
    cache = Path(args.cache)
    results = json.loads(cache.read_text()) if args.only and cache.is_file() else {}
    jobs = {
        "data_prep": ("data_prep.py", "--data", args.data),
        # Three runs per side: TensorFlow's default thread pools make single runs vary a lot here.
        "throughput_lstm": ("throughput.py", "--arch", "lstm", "--repeats", "3", "--data", args.data),
        "throughput_gru1": ("throughput.py", "--arch", "gru1", "--repeats", "3", "--data", args.data),
        "memory": ("memory.py",),
        "predict": ("predict.py", "--data", args.data),
        "workers": ("workers.py", "--max-rows", "8000", "--trials", "6", "--data", args.data),
        "readme_command": ("readme_command.py",),
    }
    for name, (script, *script_args) in jobs.items():
        if name in args.skip or (args.only and name not in args.only):
            continue
        result = run(script, *script_args)
        if result is None:
            results.pop(name, None)
            continue
        results[name] = result
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(results))
    machine = next(iter(results.values()))["machine"] if results else {}
    today = datetime.date.today().isoformat()
    lines = [
        "# Benchmarks",
        "",
        f"Measured {today} with `python bench/make_benchmarks.py` on {machine.get('cpus')} CPU cores "
        f"({machine.get('processor')}), Python {machine.get('python')}, TensorFlow {machine.get('tensorflow')}, "
        f"Keras {machine.get('keras')}. Throughput: the median of the runs shown per side; the others one run each, "
        "on a shared machine: treat differences under ~10% as noise.",
        "",
    ]
    if "data_prep" in results:
        r = results["data_prep"]
        lines += [
            "## Data stage on the clothing reviews (`bench/data_prep.py`)",
            "",
            f"{r['rows_read']} rows read, {r['rows_used']} used; read, clean, split, vocabulary, encode and "
            f"save: {r['seconds']} s.",
            "",
        ]
    for arch in ("lstm", "gru1"):
        r = results.get(f"throughput_{arch}")
        if r:
            lines += [
                f"## Training throughput, {arch} {r['units']} (`bench/throughput.py --arch {arch}`, "
                f"{r['repeats']} run(s) per side)",
                "",
                "| pipeline | samples/s | val macro AUC after the same epochs |",
                "| --- | --- | --- |",
                "| reference (study: pre-padded to longest, numpy arrays, batch 32) | "
                f"{r['reference_samples_per_s']} | {r['reference_val_auc']} |",
                "| rnnsweep (end-padded, masked, length-bucketed batches, 1 op thread, ops side by side per core) | "
                f"{r['samples_per_s']} | {r['val_auc']} |",
                f"| **speed-up** | **{r['speedup']}x** | |",
                "",
            ]
    if "memory" in results:
        r = results["memory"]
        late = next(k for k in r if k.startswith("rss_mib_after_trial_") and not k.endswith("_5"))
        lines += [
            f"## Memory over a {r['trials']}-trial sweep (`bench/memory.py`)",
            "",
            f"Resident memory after trial 5: {r['rss_mib_after_trial_5']} MiB; after trial {r['trials']}: "
            f"{r[late]} MiB ({r['growth_percent']:+}%).",
            "",
        ]
    if "predict" in results:
        r = results["predict"]
        lines += [
            "## Prediction with an exported raw-text model (`bench/predict.py`)",
            "",
            f"Batched (256): {r['batched_reviews_per_s']} reviews/s; "
            f"one at a time: {r['single_reviews_per_s']} reviews/s "
            f"({r['texts']} test reviews).",
            "",
        ]
    if "workers" in results:
        r = results["workers"]
        lines += [
            "## Parallel trial workers (`bench/workers.py`)",
            "",
            f"The same {r['trials']}-trial sweep ({r['rows']} rows): one process {r['single_process_s']} s, "
            f"`--workers 2` {r['workers_2_s']} s: **{r['speedup']}x**. Each worker trains on one core "
            "with one op thread; the chief serves every architecture at once, so no worker waits at an "
            "architecture boundary. Fixed costs (each process loads TensorFlow) weigh more on smaller sweeps.",
            "",
        ]
    if "readme_command" in results:
        r = results["readme_command"]
        lines += [
            "## The README's main command (`bench/readme_command.py`)",
            "",
            f"`rnnsweep run` on the built-in dataset: {r['wall_s']} s ({r['wall_s'] / 60:.1f} min); "
            f"`rnnsweep report` alone on its results: {r['report_alone_s']} s.",
            "",
        ]
    if args.clothing_run:
        lines += clothing_section(Path(args.clothing_run))
    lines += ["## Commit each result was measured on", ""]
    lines += [f"- {name}: {result.get('commit', 'unknown')}" for name, result in results.items()]
    (HERE.parent / "BENCHMARKS.md").write_text("\n".join(lines))
    print("wrote BENCHMARKS.md")


if __name__ == "__main__":
    main()
