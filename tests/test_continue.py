"""Continuing a run: settings that extend the search, re-run what follows it, or are refused."""

from __future__ import annotations

import dataclasses
import html
import json
import re
import shlex
import tomllib
from pathlib import Path

import keras_tuner
import pandas as pd
import pytest
from conftest import TINY_OVERRIDES, make_reviews, write_csv

from rnnsweep.data_prep.errors import InputError
from rnnsweep.reports.build import load_run, next_step
from rnnsweep.tuning import config as settings
from rnnsweep.tuning.cli import main
from rnnsweep.tuning.config import (
    EXTENDS,
    FOLLOWS,
    LEGACY_VALUES,
    REFUSED,
    Config,
    check_same_settings,
    continued_config,
    load_config,
    setting_change,
)
from rnnsweep.tuning.pipeline import data_stage, run_all, tune_stage

FIXTURES = Path(__file__).parent / "fixtures"
SPACE = {"units": [8, 16], "dropout": [0.0, 0.2, 0.4], "learning_rate": [1e-2, 3e-3]}


def sweep_config(csv, **search) -> Config:
    overrides = {
        "data": {**TINY_OVERRIDES["data"], "path": str(csv)},
        "search": {**TINY_OVERRIDES["search"], "architectures": ["gru1"], "space": SPACE, **search},
    }
    return load_config(None, overrides)


def trial_files(run_dir: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under the keras-tuner projects' trial folders: its bytes and mtime."""
    return {
        str(path.relative_to(run_dir)): (path.read_bytes(), path.stat().st_mtime_ns)
        for path in sorted((run_dir / "search").glob("*/trial_*/*"))
        if path.is_file()
    }


def completed(run_dir: Path) -> pd.DataFrame:
    trials = pd.read_csv(run_dir / "trials.csv")
    assert (trials["status"] == "COMPLETED").all(), trials
    return trials


def hyperparameters(trials: pd.DataFrame) -> list[tuple]:
    columns = sorted(c for c in trials.columns if c.startswith("hp_"))
    ordered = trials.assign(n=trials["trial_id"].astype(int)).sort_values(["architecture", "n"])
    return [tuple(row) for row in ordered[["architecture", *columns]].itertuples(index=False)]


def test_a_larger_max_trials_runs_only_the_new_trials_on_the_same_seed_stream(tmp_path, tiny_csv):
    run_dir = tmp_path / "extended"
    data_stage(sweep_config(tiny_csv, max_trials=2), run_dir)
    tune_stage(sweep_config(tiny_csv, max_trials=2), run_dir, workers=1)
    before = trial_files(run_dir)
    assert {Path(name).parts[2] for name in before} == {"trial_0", "trial_1"}

    tune_stage(sweep_config(tiny_csv, max_trials=4), run_dir, workers=1)
    after = trial_files(run_dir)
    assert {name: after[name] for name in before} == before  # byte for byte, never rewritten
    extended = completed(run_dir)
    assert sorted(extended["trial_id"].astype(int)) == [0, 1, 2, 3]
    assert tomllib.loads((run_dir / "config.toml").read_text())["search"]["max_trials"] == 4
    tune_stage(sweep_config(tiny_csv, max_trials=4), run_dir, workers=1)
    assert trial_files(run_dir) == after  # a finished extension trains nothing again

    # The seed stream continues: 2 then 4 trials try what 4 from the start try.
    fresh = tmp_path / "fresh"
    data_stage(sweep_config(tiny_csv, max_trials=4), fresh)
    tune_stage(sweep_config(tiny_csv, max_trials=4), fresh, workers=1)
    assert hyperparameters(extended) == hyperparameters(completed(fresh))
    assert len(set(hyperparameters(extended))) == 4


def test_an_added_architecture_is_searched_and_the_others_are_left_alone(tmp_path, tiny_csv):
    run_dir = tmp_path / "run"
    data_stage(sweep_config(tiny_csv), run_dir)
    tune_stage(sweep_config(tiny_csv), run_dir, workers=1)
    before = trial_files(run_dir)
    tune_stage(sweep_config(tiny_csv, architectures=["gru1", "simple_rnn"]), run_dir, workers=1)
    assert {name: files for name, files in trial_files(run_dir).items() if name in before} == before
    trials = completed(run_dir)
    assert sorted(trials["architecture"]) == ["gru1", "simple_rnn"]


def saved_run(tmp_path, csv, **search) -> Path:
    """A run directory holding the data stage of `sweep_config(csv, **search)`."""
    run_dir = tmp_path / "run"
    data_stage(sweep_config(csv, **search), run_dir)
    return run_dir


@pytest.mark.parametrize(
    ("search", "wanted", "message"),
    [
        ({}, {"epochs": 2}, "(search.epochs differ)"),
        ({}, {"seed": 7, "batch_size": 16}, "(search.batch_size differ; search.seed differ)"),
        ({"max_trials": 3}, {"max_trials": 2}, "(search.max_trials differ: it cannot shrink from 3 to 2"),
        (
            {"architectures": ["gru1", "lstm"]},
            {"architectures": ["gru1"]},
            "(search.architectures differ: lstm cannot be removed",
        ),
        (
            {"tuner": "hyperband"},
            {"tuner": "hyperband", "max_trials": 5},
            "(search.max_trials differ: hyperband decides its own trial count",
        ),
        (
            {"custom_architectures": {"deep": {"cell": "gru", "depth": 3}}},
            {"custom_architectures": {"deep": {"cell": "gru", "depth": 2}}},
            "(search.custom_architectures differ: deep cannot be changed",
        ),
    ],
)
def test_a_refused_change_names_its_key_and_why(tmp_path, tiny_csv, search, wanted, message):
    run_dir = saved_run(tmp_path, tiny_csv, **search)
    saved = (run_dir / "config.toml").read_bytes()
    with pytest.raises(InputError) as error:
        check_same_settings(run_dir, sweep_config(tiny_csv, **{**search, **wanted}))
    assert message in str(error.value)
    assert str(error.value).endswith("pass --overwrite to start it again, or --name NAME for a new run directory")
    assert (run_dir / "config.toml").read_bytes() == saved


def test_changes_that_extend_or_change_no_result_are_accepted(tmp_path, tiny_csv):
    custom = {"deep": {"cell": "gru", "depth": 3}}
    run_dir = saved_run(tmp_path, tiny_csv, custom_architectures=custom)
    extended = {
        "max_trials": 5,
        "architectures": ["gru1", "deep"],
        "custom_architectures": {**custom, "wide": {"cell": "lstm", "depth": 1}},
        "worker_timeout": 60.0,
        "max_consecutive_failures": 9,
        "tensorboard": True,
    }
    check_same_settings(run_dir, sweep_config(tiny_csv, **extended))


NOTES = {
    ("search", "max_trials"): " (larger; not with hyperband)",
    ("search", "architectures"): " (names added)",
    ("search", "custom_architectures"): " (names added)",
}


def every_key() -> list[tuple[str, str]]:
    return [(s, field.name) for s, cls in settings.SECTIONS.items() for field in dataclasses.fields(cls)]


def settings_table() -> str:
    """The README's table of what a changed setting does, one row per rule, every key in one."""
    rows = ["| a new value | of |", "| --- | --- |"]
    for rule in (EXTENDS, settings.ANY, FOLLOWS, REFUSED):
        keys = [f"`{s}.{k}`{NOTES.get((s, k), '')}" for s, k in every_key() if setting_change(s, k) == rule]
        rows.append(f"| {rule} | {', '.join(keys)} |")
    return "\n".join(rows)


def test_every_setting_has_a_documented_change_rule():
    rules = {(s, k): setting_change(s, k) for s, k in every_key()}
    assert all(rules[s, k] == FOLLOWS for s, k in rules if s in ("retrain", "report"))
    assert rules["search", "max_trials"] == EXTENDS and rules["data", "vocab_size"] == REFUSED
    assert rules["search", "space"] == REFUSED and rules["search", "objective"] == REFUSED
    assert set(settings.SETTING_CHANGES) <= set(rules)  # no rule for a key that does not exist
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    assert settings_table() in readme, "README.md's table should read:\n" + settings_table()


# Keys of the first release whose default is None: TOML has no null, so its config.toml omits them.
FIRST_RELEASE_UNSET = {
    ("data", key)
    for key in (
        "path",
        "title_column",
        "classes",
        "rating_range",
        "max_rows",
        "undersample_per_class",
        "embeddings_path",
    )
}


def test_a_run_made_by_the_first_release_is_read_with_its_own_behaviour(tmp_path):
    first = tomllib.loads((FIXTURES / "config_658dc66.toml").read_text())
    known = {(s, k) for s, values in first.items() for k in values} | FIRST_RELEASE_UNSET
    # Every key added since that release has the value that gives the behaviour before it.
    assert {key for key in every_key() if key not in known} == set(LEGACY_VALUES)

    run_dir = tmp_path / "old-run"  # what that release left: its config.toml beside data/summary.json
    (run_dir / "data").mkdir(parents=True)
    (run_dir / "data" / "summary.json").write_text("{}")
    (run_dir / "config.toml").write_bytes((FIXTURES / "config_658dc66.toml").read_bytes())
    config = continued_config(run_dir)
    assert config.data.embeddings == "learned" and config.data.embeddings_trainable is False
    assert config.search.median_stopping is False and config.retrain.ensemble is False
    assert config.search.backend == "tensorflow"
    check_same_settings(run_dir, config)  # what `tune`/`run` on it now compare: no difference
    # Today's defaults would change what its trials mean, and are refused by name.
    with pytest.raises(InputError, match=r"data.embeddings differ;.* search.median_stopping differ\)"):
        check_same_settings(run_dir, Config())
    # A later flag changes only itself.
    assert continued_config(run_dir, {"search": {"max_trials": 3}}).search.max_trials == 3


def assert_live_pages_then_the_final_report(pages: list[str], run_dir: Path, *, trials: int) -> None:
    """While the sweep ran, the report said how far it was; the final report replaced it."""
    in_progress = [page for page in pages if "sweep in progress" in page]
    assert in_progress, [page[:300] for page in pages]
    banner = re.search(rf"sweep in progress: (\d) of {trials} trials, updated (\d\d:\d\d:\d\d)", in_progress[0])
    assert banner and int(banner.group(1)) < trials
    assert '<meta http-equiv="refresh" content="10">' in in_progress[0]
    assert 'id="so-far"' in in_progress[0] and "live_best_so_far.png" in in_progress[0]
    final = (run_dir / "report" / "index.html").read_text()
    assert "sweep in progress" not in final and "search finished" not in final and 'id="verdict"' in final
    assert not list((run_dir / "report").glob("live_*.png"))  # the final report replaced the folder whole


def next_line(run_dir: Path) -> str:
    match = re.search(r'<p id="next-step">(.*?)</p>', (run_dir / "report" / "index.html").read_text())
    assert match, "the report has no Next: line"
    return html.unescape(match.group(1))


@pytest.mark.slow
def test_the_reports_next_lines_are_commands_that_do_what_they_say(tmp_path, tiny_csv, monkeypatch):
    from rnnsweep.tuning import distributed, progress

    # "--workers auto" is one process here (a chief continuing a one-process sweep is
    # tests/test_keras_tuner_shims.py's), and each live page is kept as a browser would read it.
    monkeypatch.setattr(distributed, "available_cores", lambda: 1)
    monkeypatch.setenv("RNNSWEEP_LIVE_REPORT", "1")  # off for the other tests (conftest.py)
    pages, draw = [], progress.LiveReport._draw

    def kept(self):
        draw(self)  # the page's own process, waited for
        pages.append((run_dir / "report" / "index.html").read_text())

    monkeypatch.setattr(progress.LiveReport, "_draw", kept)
    config = tmp_path / "sweep.toml"
    config.write_text(
        '[search]\narchitectures = ["gru1"]\nmax_trials = 2\nepochs = 1\n'
        "[search.space]\nunits = [8, 16]\ndropout = [0.0, 0.2, 0.4]\nlearning_rate = [0.01, 0.003]\n"
        "[retrain]\nepochs = 1\npatience = 1\n"
    )
    run_dir = tmp_path / "my run"
    first = ["run", "--config", str(config), "--data", str(tiny_csv), "--preset", "womens-clothing"]
    assert main([*first, "--output", str(run_dir), "--workers", "1"]) == 0
    assert_live_pages_then_the_final_report(pages, run_dir, trials=2)

    # Too few trials: the line's command extends the sweep, keeping the first two trials.
    line = next_line(run_dir)
    command = line.split(": rnnsweep ", 1)[1]
    assert command == f"run --output '{run_dir}' --max-trials 4", line
    before = trial_files(run_dir)
    assert main(shlex.split(command)) == 0
    assert {name: files for name, files in trial_files(run_dir).items() if name in before} == before
    assert sorted(completed(run_dir)["trial_id"].astype(int)) == [0, 1, 2, 3]

    # A converged search: the line's command retrains with more seeds and leaves the search alone.
    run = load_run(run_dir)
    run["trials"]["objective"] = [0.9, 0.5, 0.5, 0.5]
    line = next_step(run, "val_auc")
    command = line.split(": rnnsweep ", 1)[1]
    assert command == f"run --output '{run_dir}' --retrain-seeds 42,43,44", line
    searched = trial_files(run_dir)
    assert main(shlex.split(command)) == 0
    assert trial_files(run_dir) == searched
    metrics = json.loads((run_dir / "models" / "gru1" / "metrics.json").read_text())
    assert list(metrics["seeds"]) == ["42", "43", "44"]
    assert tomllib.loads((run_dir / "config.toml").read_text())["retrain"]["seeds"] == [42, 43, 44]


@pytest.mark.parametrize(
    ("value", "seconds"), [("45m", 2700), ("2h", 7200), ("1h30m", 5400), ("90s", 90), ("90", 90), (0.5, 0.5)]
)
def test_a_time_budget_reads_as_seconds(value, seconds):
    assert settings.parse_duration("time_budget", value) == seconds
    assert load_config(None, {"search": {"time_budget": value}}).search.time_budget == value


@pytest.mark.parametrize("value", ["0", "-5", "45 minutes", "m", "", 0, -1.5])
def test_a_bad_time_budget_is_refused_in_one_line(value):
    with pytest.raises(InputError, match=r"time_budget must be a positive duration: .* Received: "):
        load_config(None, {"search": {"time_budget": value}})


@pytest.mark.slow
def test_a_time_budget_cuts_the_sweep_which_the_report_says_and_a_new_budget_continues(tmp_path, tiny_csv, capsys):
    config = tmp_path / "sweep.toml"
    config.write_text(
        '[search]\narchitectures = ["gru1"]\nmax_trials = 40\nepochs = 1\n'
        "[search.space]\nunits = [8, 16, 32]\ndropout = [0.0, 0.1, 0.2, 0.3, 0.4]\n"
        "learning_rate = [0.01, 0.005, 0.003, 0.002, 0.001, 0.0005]\n"
        "[retrain]\nepochs = 1\npatience = 1\n"
    )
    run_dir = tmp_path / "run"
    command = ["run", "--config", str(config), "--data", str(tiny_csv), "--preset", "womens-clothing"]
    command += ["--output", str(run_dir), "--workers", "1", "--time-budget", "4"]
    assert main(command) == 0
    first = completed(run_dir)
    assert 1 <= len(first) < 40  # each trial takes seconds: a few started within the budget
    record = json.loads((run_dir / "search" / "rnnsweep_time_budget.json").read_text())
    assert record == {"time_budget_s": 4, "architectures": ["gru1"], "cut_architectures": ["gru1"]}
    cut = "the search was cut by its time budget (4 s): no trial started after it; completed trials of the 40"
    err = capsys.readouterr().err
    assert f"{cut} wanted per architecture: gru1 {len(first)}" in err  # the leaderboard's last line
    page = html.unescape((run_dir / "report" / "index.html").read_text())
    assert f"Note: {cut} wanted per architecture: gru1 {len(first)}." in page
    before = trial_files(run_dir)
    assert main(command) == 0  # the same command: a new budget, the sweep continues
    again = completed(run_dir)
    assert len(again) > len(first)
    assert {name: files for name, files in trial_files(run_dir).items() if name in before} == before


def finished_run(folder: Path, rows: Path, **search) -> Path:
    overrides = {
        "data": {**TINY_OVERRIDES["data"], "path": str(rows), "seed": search.pop("data_seed", 42)},
        "search": {**TINY_OVERRIDES["search"], "architectures": ["gru1"], **search},
        "retrain": {"epochs": 1, "patience": 1},
    }
    run_all(load_config(None, overrides), folder, workers=1)
    return folder


@pytest.mark.slow
def test_compare_pairs_runs_on_the_same_test_rows_and_says_why_not_otherwise(tmp_path, tiny_run, capsys):
    rows = write_csv(tmp_path / "reviews.csv", make_reviews())  # the tiny run's rows, in another file
    same_rows = finished_run(tmp_path / "seed7", rows, seed=7)
    other_rows = finished_run(tmp_path / "split7", rows, data_seed=7)
    runs = [tiny_run, same_rows, other_rows]
    output = tmp_path / "comparison"
    assert main(["compare", *map(str, runs), "--output", str(output)]) == 0
    assert capsys.readouterr().out.strip() == str(output / "index.html")
    comparison = json.loads((output / "comparison.json").read_text())
    page = html.unescape((output / "index.html").read_text())

    # Only the settings that differ, with each run's value.
    differ = comparison["settings_that_differ"]
    assert {"search.seed", "data.seed", "data.path", "search.architectures"} <= set(differ)
    assert "search.epochs" not in differ and "retrain.patience" not in differ and "retrain.epochs" in differ
    assert differ["search.seed"] == [42, 7, 42]
    # The winner is chosen on validation.
    validation = [run["chosen"]["validation_score"] for run in comparison["runs"]]
    best = comparison["best_on_validation"]
    assert validation[best] == max(validation)
    assert f"Best on validation (val_auc): <strong>run {best + 1}</strong>, {runs[best]}," in page
    # Same test rows: a paired bootstrap of the two chosen models, as the verdict words it.
    chosen = [run["chosen"] for run in comparison["runs"]]
    for entry in comparison["paired"]:
        i = entry["run"]
        sentence = re.search(rf'<p class="paired" id="paired-{i + 1}">(.*?)</p>', page).group(1)
        if runs[i] == other_rows or runs[best] == other_rows:
            assert entry["result"] is None
            assert "were tested on different rows" in sentence and "no paired test is possible" in sentence
            continue
        auc = entry["result"]["metrics"]["auc_macro"]
        assert auc["difference"] == pytest.approx(chosen[i]["test"]["auc_macro"] - chosen[best]["test"]["auc_macro"])
        low, high = auc["interval"]
        assert low <= auc["difference"] <= high and high - low < 0.5
        verdict = "beats" if low > 0 else "is behind" if high < 0 else "is level with"
        assert auc["verdict"] == verdict and entry["result"]["rows"] == 60
        assert sentence.startswith(f"run {i + 1} ({chosen[i]['name']}) {verdict} run {best + 1} ")
        assert f"a difference of {auc['difference']:+.4f}" in sentence and "same 60 test rows" in sentence
    assert any(entry["result"] is None for entry in comparison["paired"])
    assert any(entry["result"] is not None for entry in comparison["paired"])
    assert (output / "best_so_far.png").stat().st_size > 1000
    # Each stage's wall time is shown.
    assert set(comparison["runs"][1]["timings"]) == {"data", "search", "retrain", "baselines", "report"}

    # A folder of someone else's is never written into.
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "mine.txt").write_text("keep")
    assert main(["compare", str(tiny_run), str(same_rows), "--output", str(foreign)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"rnnsweep compare: error: {foreign}: holds files rnnsweep did not write (no comparison.json); "
        "pass --output with a new or empty folder"
    ]
    assert [p.name for p in foreign.iterdir()] == ["mine.txt"]


@pytest.mark.parametrize("pooling", [("last",), ("last", "mean")])
@pytest.mark.parametrize("name", ["lstm", "gru4", "bilstm"])
def test_the_space_choices_are_the_builders_own(name, pooling):

    from rnnsweep.models import ARCHITECTURES, ModelSpec, build_model, default_search_space
    from rnnsweep.models.search_space import hyperparameter_choices

    space = default_search_space(name, {"pooling": list(pooling), "units": [8]})
    hp = keras_tuner.HyperParameters()
    build_model(
        hp,
        spec=ModelSpec(vocab_size=20, sequence_length=7, num_classes=3),
        architecture=ARCHITECTURES[name],
        space=space,
    )
    built = {parameter.name: tuple(parameter.values) for parameter in hp.space}
    assert hyperparameter_choices(ARCHITECTURES[name], space) == built


def test_enqueued_and_warm_started_sets_are_the_first_trials_and_marked(tmp_path, tiny_csv, tiny_run):
    earlier = completed(tiny_run)  # its gru1 trial is the one to warm-start from
    ranked = earlier[earlier["architecture"] == "gru1"].sort_values("objective", ascending=False)
    best = {k[3:]: v for k, v in ranked.iloc[0].items() if k.startswith("hp_") and v == v}

    sets = tmp_path / "sets.toml"
    sets.write_text("[[gru1]]\nunits_1 = 16\nlearning_rate = 0.003\n")
    run_dir = tmp_path / "run"
    config = sweep_config(tiny_csv, max_trials=3, space={"units": [8, 16], "learning_rate": [1e-2, 3e-3]})
    tune_stage(config, run_dir, workers=1, enqueue=sets, warm_start=f"{tiny_run}:1")
    trials = completed(run_dir).assign(n=lambda t: t["trial_id"].astype(int)).sort_values("n")
    values = [{k[3:]: v for k, v in row.items() if k.startswith("hp_")} for _, row in trials.iterrows()]
    assert values[0] == {"dropout_embedding": 0.2, "units_1": 16, "dropout_output": 0.2, "learning_rate": 0.003}
    assert values[1] == best
    assert list(trials["enqueued"].fillna("")) == [
        "--enqueue sets.toml",
        f"--warm-start {tiny_run}: gru1 trial {ranked.iloc[0]['trial_id']}",
        "",
    ]
    # Resumed, the queue is not tried twice.
    before = trial_files(run_dir)
    tune_stage(config, run_dir, workers=1, enqueue=sets, warm_start=f"{tiny_run}:1")
    assert trial_files(run_dir) == before


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (
            "[[gru1]]\nunits_1 = 1000\n",
            "gru1 set 1: units_1 = 1000 is not in the search space; its choices are [8, 16]",
        ),
        ("[[gru1]]\nunits_2 = 8\n", "gru1 set 1: units_2 is not a hyperparameter of it; its hyperparameters are"),
        ("[[lstm]]\nunits_1 = 8\n", "lstm is not an architecture of this sweep (gru1); check --enqueue"),
        ("gru1 = 3\n", "must map each architecture to a list of hyperparameter sets"),
    ],
)
def test_a_queued_set_outside_the_space_is_refused_in_one_line_before_anything_is_written(
    tmp_path, tiny_csv, capsys, sets, message
):
    path = tmp_path / "sets.toml"
    path.write_text(sets)
    config = tmp_path / "sweep.toml"
    config.write_text('[search]\narchitectures = ["gru1"]\n[search.space]\nunits = [8, 16]\n')
    run_dir = tmp_path / "run"
    command = ["tune", "--config", str(config), "--data", str(tiny_csv), "--preset", "womens-clothing"]
    assert main([*command, "--output", str(run_dir), "--enqueue", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"rnnsweep tune: error: {path}: ") and message in err[0], err
    assert not run_dir.exists()


def test_hyperband_takes_no_queued_sets(tmp_path, tiny_csv):
    from rnnsweep.tuning.warm_start import resolve_queue

    sets = tmp_path / "sets.toml"
    sets.write_text("[[gru1]]\nunits_1 = 8\n")
    with pytest.raises(InputError, match=r"--enqueue and --warm-start work with the random and bayesian tuners"):
        resolve_queue(sweep_config(tiny_csv, tuner="hyperband"), enqueue=sets)


def test_the_last_live_page_says_the_search_finished_and_does_not_reload(tmp_path):
    import pandas as pd

    from rnnsweep.reports.live import write_live_report

    trials = pd.DataFrame(
        {"architecture": ["gru1", "gru1"], "trial_id": ["0", "1"], "status": "COMPLETED", "objective": [0.7, 0.8]}
    )
    index = write_live_report(
        tmp_path, trials, architectures=["gru1"], max_trials=2, objective="val_auc", finished=True
    )
    page = index.read_text()
    assert "search finished: 2 of 2 trials" in page and "http-equiv" not in page
    assert f"rnnsweep retrain {tmp_path}" in page and "0.8000" in page
