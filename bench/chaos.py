"""Chaos, measured: `rnnsweep run` on a small set killed with SIGKILL at random moments, re-run
after each kill, then left to finish.

    python bench/chaos.py [--data PATH] [--kills 10] [--max-rows 3000] [--seed 0] [--json]

Each kill comes after a random delay: for the first half of the kills drawn uniformly up to a
third of an uninterrupted run's time (measured first, in another folder), so they land in the
data stage and the sweep, one run after another; for the second half up to the whole time, so
they also land in retraining and the report (of the re-runs that `run` does after a sweep).

After each kill it counts the completed trials (none may be lost: every trial completed
before a kill is still completed after it, with the same score), the JSON files in the run
directory that no longer parse, and the processes of that run left alive. The last run
goes to the end; its trials table and report must be complete.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from _common import DEFAULT_DATA, emit, machine

CONFIG = """\
[data]
preset = "womens-clothing"
embeddings = "learned"
[search]
architectures = ["gru1", "simple_rnn"]
max_trials = 6
epochs = 3
[search.space]
units = [16, 32]
learning_rate = [0.01, 0.003]
dropout = [0.1, 0.3]
[retrain]
epochs = 2
seeds = [1]
"""


def completed_trials(run_dir: Path) -> dict[str, float]:
    """Score of every completed trial, by "architecture/trial id"."""
    found = {}
    for path in run_dir.glob("search/*/trial_*/trial.json"):
        try:
            trial = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # counted by corrupt_json
        if trial.get("status") == "COMPLETED":
            found[f"{path.parent.parent.name}/{trial['trial_id']}"] = trial.get("score")
    return found


def corrupt_json(run_dir: Path) -> list[str]:
    """JSON files of the run that do not parse (temporary files of an atomic write excluded)."""
    bad = []
    for path in run_dir.rglob("*.json"):
        try:
            json.loads(path.read_text())
        except ValueError:
            bad.append(str(path.relative_to(run_dir)))
        except OSError:
            pass
    return bad


def processes_of(run_dir: Path) -> list[int]:
    """Live processes whose command line names the run directory (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = next(line for line in (entry / "status").read_text().splitlines() if line.startswith("State:"))
        except (OSError, StopIteration):
            continue
        if str(run_dir) in command and "Z (zombie)" not in state:
            found.append(int(entry.name))
    return found


def stage_reached(run_dir: Path) -> str:
    if (run_dir / "report" / "index.html").is_file():
        return "report"
    if (run_dir / "leaderboard.json").is_file() or (run_dir / "models").is_dir():
        return "retrain"
    if (run_dir / "search").is_dir():
        return "search"
    return "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--max-rows", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    draw = random.Random(args.seed)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        (folder / "chaos.toml").write_text(CONFIG)
        run_dir = folder / "run"
        command = [sys.executable, "-P", "-m", "rnnsweep", "-q", "run", "--config", str(folder / "chaos.toml")]
        command += ["--data", args.data, "--max-rows", str(args.max_rows), "--output", str(run_dir)]
        command += ["--workers", "2"]

        # One uninterrupted run first, in its own folder: how long the job takes, so kills land all along it.
        started = time.perf_counter()
        clean = [*command[:-4], "--output", str(folder / "clean"), "--workers", "2"]
        subprocess.run(clean, check=True, env=env, stdout=subprocess.DEVNULL)
        clean_s = time.perf_counter() - started

        kills, before = [], {}
        for number in range(1, args.kills + 1):
            delay = draw.uniform(1.0, clean_s / 3 if number <= args.kills // 2 else clean_s)
            launcher = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(delay)
            finished = launcher.poll() is not None
            if not finished:
                launcher.send_signal(signal.SIGKILL)
            launcher.wait()
            time.sleep(3.0)  # children follow their launcher (PR_SET_PDEATHSIG)
            after = completed_trials(run_dir)
            lost = sorted(key for key, score in before.items() if after.get(key) != score)
            left = processes_of(run_dir)
            for pid in left:  # do not let them spoil the next round
                os.kill(pid, signal.SIGKILL)
            kills.append(
                {
                    "kill": number,
                    "after_s": round(delay, 1),
                    "finished_before_the_kill": finished,
                    "stage": stage_reached(run_dir),
                    "completed_trials": len(after),
                    "lost_trials": lost,
                    "corrupt_json": corrupt_json(run_dir),
                    "processes_left": len(left),
                }
            )
            print(json.dumps(kills[-1]), file=sys.stderr)
            before = after

        started = time.perf_counter()
        final = subprocess.run(command, env=env, capture_output=True, text=True)
        final_s = time.perf_counter() - started
        # The chief logs, as it ends, the longest silence of a worker that spoke again: what
        # worker_timeout's default has to exceed.
        chief_log = run_dir / "logs" / "chief.log"
        silences = re.findall(r"longest silence of a worker that spoke again: ([\d.]+) s", chief_log.read_text())
        trials = pd.read_csv(run_dir / "trials.csv") if (run_dir / "trials.csv").is_file() else pd.DataFrame()
        expected = 6 * 2
        complete = (
            final.returncode == 0
            and len(trials) == expected
            and (trials["status"] == "COMPLETED").all()
            and not trials.duplicated(["architecture", "trial_id"]).any()
            and (run_dir / "report" / "index.html").is_file()
            and (run_dir / "leaderboard.json").is_file()
        )
        emit(
            {
                "benchmark": "chaos",
                "rows": args.max_rows,
                "trials_expected": expected,
                "uninterrupted_s": round(clean_s, 1),
                "kills": kills,
                "trials_lost": sum(len(k["lost_trials"]) for k in kills),
                "corrupt_json_files": sum(len(k["corrupt_json"]) for k in kills),
                "processes_left": sum(k["processes_left"] for k in kills),
                "final_exit_code": final.returncode,
                "final_error": final.stderr.strip().splitlines()[-1:] if final.returncode else [],
                "final_s": round(final_s, 1),
                "final_trials_completed": int((trials["status"] == "COMPLETED").sum()) if len(trials) else 0,
                "final_complete": bool(complete),
                "longest_worker_silence_s": max(map(float, silences), default=None),
                "machine": machine(),
            },
            args.json,
        )


if __name__ == "__main__":
    main()
