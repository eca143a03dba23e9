"""Retraining, evaluation, baselines, export, prediction and the HTML report, on one tiny run."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from rnnsweep.data_prep.errors import InputError

METRIC_KEYS = {
    "accuracy",
    "precision_weighted",
    "recall_weighted",
    "f1_weighted",
    "precision_macro",
    "recall_macro",
    "f1_macro",
    "auc_macro",
    "per_class",
    "confusion_matrix",
    "confusion_matrix_normalized",
    "true_proportions",
    "predicted_proportions",
    "n",
}


@pytest.mark.backend
def test_run_directory_layout(tiny_run):
    for path in (
        "config.toml",
        "data/summary.json",
        "trials.csv",
        "trials.json",
        "baselines/metrics.json",
        "baselines/predictions.csv",
        "leaderboard.json",
        "search/gru1/oracle.json",
        "report/index.html",
    ):
        assert (tiny_run / path).is_file(), path
    for name in ("gru1", "simple_rnn"):
        folder = tiny_run / "models" / name
        for file in ("model.keras", "export.keras", "history.json", "metrics.json", "predictions.csv"):
            assert (folder / file).is_file(), f"{name}/{file}"


@pytest.mark.backend
def test_metrics_json_keys_and_values(tiny_run):
    metrics = json.loads((tiny_run / "models" / "gru1" / "metrics.json").read_text())
    for split in ("train", "validation", "test"):
        assert METRIC_KEYS <= set(metrics[split])
        assert 0 <= metrics[split]["accuracy"] <= 1 and 0 <= metrics[split]["auc_macro"] <= 1
        matrix = np.array(metrics[split]["confusion_matrix"])
        assert matrix.shape == (5, 5) and matrix.sum() == metrics[split]["n"]
        np.testing.assert_allclose(np.array(metrics[split]["confusion_matrix_normalized"]).sum(axis=1), 1, atol=1e-4)
    assert metrics["search_objective"] == "val_auc" and 0 < metrics["search_score"] <= 1
    # The figure that chose the kept model is scikit-learn's macro AUC of its saved validation predictions.
    predictions = pd.read_csv(tiny_run / "models" / "gru1" / "predictions.csv").query("split == 'validation'")
    proba = predictions[[f"p_{c}" for c in "12345"]].to_numpy()
    assert metrics["chosen_on"] == "validation" and metrics["selection_objective"] == "val_auc"
    assert metrics["validation_score"] == pytest.approx(
        roc_auc_score(predictions["true"], proba, multi_class="ovr", average="macro"), abs=1e-9
    )
    for key in ("auc_macro", "f1_weighted", "f1_macro"):
        low, high = metrics["test_intervals"][key]
        assert low <= metrics["test"][key] <= high and high - low > 0
    assert metrics["device"].startswith(("CPU", "GPU"))
    # The words of the tiny data carry the rating, so even one epoch learns something.
    assert metrics["test"]["auc_macro"] > 0.6


def test_baselines_have_every_metric(tiny_run):
    baselines = json.loads((tiny_run / "baselines" / "metrics.json").read_text())
    assert set(baselines) == {"majority", "tfidf_logreg", "tfidf_svm"}
    for splits in baselines.values():
        assert METRIC_KEYS <= set(splits["test"])
    assert baselines["majority"]["test"]["auc_macro"] == pytest.approx(0.5)
    assert baselines["tfidf_logreg"]["test"]["auc_macro"] > 0.7
    for name in ("tfidf_logreg", "tfidf_svm"):
        result = baselines[name]
        # Settings chosen on validation: the grid's best validation score, both class weights tried.
        assert result["chosen_on"] == "validation"
        best = max(result["grid"], key=lambda g: g["validation_score"])
        assert result["settings"] == {"C": best["C"], "class_weight": best["class_weight"]}
        assert result["validation_score"] == best["validation_score"]
        assert {g["class_weight"] for g in result["grid"]} == {"none", "balanced"} and len(result["grid"]) == 8
        assert result["validation_score"] == pytest.approx(result["validation"]["auc_macro"])


@pytest.mark.backend
def test_retrain_restores_the_best_epoch(tiny_run, tmp_path):
    """With early stopping on val_loss, the saved model has the best epoch's weights."""
    from rnnsweep.data_prep.layout import read_trials
    from rnnsweep.data_prep.prepare import load_prepared
    from rnnsweep.models.head import encode_targets
    from rnnsweep.tuning.config import load_run_config
    from rnnsweep.tuning.retrain import fit_one

    config = load_run_config(tiny_run, {"retrain": {"epochs": 5, "patience": 4}})
    data = load_prepared(tiny_run)
    # Validation labels shifted by two classes: the better the model learns the training
    # split, the worse its validation loss, so the best epoch comes before the last.
    data.y["validation"] = (data.y["validation"] + 2) % data.num_classes
    row = read_trials(tiny_run).iloc[0].copy()
    row["hp_learning_rate"] = 0.05
    model, history = fit_one(config, data, row, seed=1, checkpoint=tmp_path / "best.keras")
    losses = history.history["val_loss"]
    best = int(np.argmin(losses))
    assert len(losses) == 5 and best < len(losses) - 1, losses
    y = encode_targets(data.y["validation"], data.num_classes)
    restored = model.evaluate(data.x["validation"], y, verbose=0, return_dict=True)["loss"]
    assert restored == pytest.approx(losses[best], rel=1e-3)
    assert restored < losses[-1]


@pytest.mark.backend
@pytest.mark.slow
@pytest.mark.parametrize("ensemble", [True, False])
def test_several_seeds_keep_their_average_or_the_best_seed(tiny_run, tmp_path, ensemble):
    import keras

    from rnnsweep.data_prep.prepare import load_prepared
    from rnnsweep.tuning.config import load_run_config
    from rnnsweep.tuning.retrain import retrain_best

    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run, run_dir)
    shutil.rmtree(run_dir / "models")
    config = load_run_config(run_dir, {"retrain": {"top": 1, "epochs": 2, "seeds": [1, 2], "ensemble": ensemble}})
    (name, metrics), *_ = retrain_best(run_dir, config).items()
    folder = run_dir / "models" / name
    data = load_prepared(run_dir)
    assert set(metrics["seeds"]) == {"1", "2"} and set(metrics["test_mean_std"]["f1_weighted"]) == {"mean", "std"}
    saved = keras.models.load_model(folder / "model.keras")
    kept = saved.predict(data.x["test"], verbose=0)
    checkpoints = {s: keras.models.load_model(folder / f"checkpoint_seed{s}.keras") for s in metrics["kept_seeds"]}
    scores = metrics["candidates_validation_scores"]
    # The kept model is the best on validation of the candidates: each seed, and their average.
    assert set(scores) == ({"seed 1", "seed 2", "average of seeds"} if ensemble else {"seed 1", "seed 2"})
    assert metrics["kept"] == max(scores, key=scores.get) and metrics["validation_score"] == max(scores.values())
    if metrics["kept"] == "average of seeds":
        assert metrics["ensemble"] is True and metrics["kept_seeds"] == [1, 2]
        members = [checkpoints[s].predict(data.x["test"], verbose=0) for s in (1, 2)]
        np.testing.assert_allclose(kept, np.mean(members, axis=0), rtol=1e-5, atol=1e-6)
    else:
        history = json.loads((folder / "history.json").read_text())
        assert metrics["ensemble"] is False and metrics["kept_seeds"] == [history["seed"]]
        assert metrics["kept"] == f"seed {history['seed']}"
        assert sorted(p.name for p in folder.glob("checkpoint_seed*.keras")) == [
            f"checkpoint_seed{history['seed']}.keras"
        ]
        np.testing.assert_allclose(kept, checkpoints[history["seed"]].predict(data.x["test"], verbose=0), rtol=1e-5)
    predictions = pd.read_csv(folder / "predictions.csv").query("split == 'test'")
    np.testing.assert_allclose(predictions.filter(like="p_").to_numpy(), kept, rtol=1e-4, atol=1e-6)


def test_export_round_trips_in_a_fresh_process(tiny_run, tmp_path):
    import tensorflow as tf

    from rnnsweep.tuning.export import load_text_model

    export = tiny_run / "models" / "gru1" / "export.keras"
    texts = ["Awful cheap fabric, I can't wear it!", "lovely soft <b>perfect</b> dress", "okay plain"]
    expected = np.asarray(load_text_model(export).predict(tf.constant(texts), verbose=0))
    script = (
        "import json, sys, numpy as np, tensorflow as tf, keras\n"
        "import rnnsweep.tuning.export  # registers the layers\n"
        f"model = keras.models.load_model({str(export)!r}, safe_mode=True)\n"
        f"print(json.dumps(np.asarray(model.predict(tf.constant({texts!r}), verbose=0)).tolist()))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    got = np.array(json.loads(result.stdout.strip().splitlines()[-1]))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got.sum(axis=1), 1, atol=1e-5)


def test_export_cleans_like_the_data_stage(tiny_run):
    """The export's string ops give the same cleaned text as data_prep's Python."""
    import tensorflow as tf

    from rnnsweep.data_prep.clean import CleaningOptions, clean_text
    from rnnsweep.tuning.export import TextCleaning

    options = CleaningOptions(stopwords=("the", "is", "a"))
    layer = TextCleaning(options.to_config())
    texts = ["I <i>can't</i> say it's THE best!", "See www.shop.com/x now; won't   return", "Café 10/10 a+"]
    got = [t.decode() for t in layer(tf.constant(texts)).numpy()]
    assert got == [clean_text(t, options) for t in texts]


def export_probabilities(export, texts: list[str], tmp_path) -> np.ndarray:
    """An export's probabilities for raw texts: in this process on TensorFlow, else in a TensorFlow
    process (an export cleans text with TensorFlow string ops, whichever backend trained it)."""
    import keras

    from rnnsweep.tuning.export import load_text_model

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return np.asarray(load_text_model(export).predict(tf.constant(texts), verbose=0))
    (tmp_path / "texts.json").write_text(json.dumps(texts))
    script = (
        "import json, sys, numpy as np, tensorflow as tf\n"
        "from rnnsweep.tuning.export import load_text_model\n"
        f"texts = json.loads(open({str(tmp_path / 'texts.json')!r}).read())\n"
        f"proba = load_text_model({str(export)!r}).predict(tf.constant(texts), verbose=0)\n"
        "print(json.dumps(np.asarray(proba).tolist()))\n"
    )
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    return np.array(json.loads(result.stdout.strip().splitlines()[-1]))


@pytest.mark.backend
def test_model_predictions_match_saved_predictions(tiny_run, tmp_path):
    """The export (built on TensorFlow) gives the probabilities the trained model saved, under either backend."""
    rows = pd.read_csv(tiny_run / "data" / "rows.csv", keep_default_na=False)
    saved = pd.read_csv(tiny_run / "models" / "gru1" / "predictions.csv")
    test = saved[saved["split"] == "test"]
    assert len(test) == (rows["split"] == "test").sum()  # every test row
    texts = rows.set_index("row_id").loc[test["row_id"], "text"].tolist()  # raw text: the export cleans it
    proba = export_probabilities(tiny_run / "models" / "gru1" / "export.keras", texts, tmp_path)
    np.testing.assert_allclose(proba, test[[f"p_{c}" for c in "12345"]].to_numpy(), atol=1e-5, rtol=0)


def test_predict_csv_and_bad_inputs(tiny_run, tmp_path):
    from rnnsweep.tuning.predict import predict_file, predict_texts

    export = tiny_run / "models" / "gru1" / "export.keras"
    source = tmp_path / "new.csv"
    pd.DataFrame({"body": ["great lovely dress", "awful cheap"], "id": [1, 2]}).to_csv(source, index=False)
    result = predict_file(export, source, text_column="body", output_path=tmp_path / "out.csv")
    written = pd.read_csv(tmp_path / "out.csv")
    assert list(written.columns) == ["text", "label", "p_1", "p_2", "p_3", "p_4", "p_5"]
    assert written["label"].astype(str).isin(["1", "2", "3", "4", "5"]).all()
    np.testing.assert_allclose(result.filter(like="p_").sum(axis=1), 1, atol=1e-5)
    with pytest.raises(InputError, match="no text column 'review'.*'body', 'id'"):
        predict_file(export, source, text_column="review")
    with pytest.raises(InputError, match="no such model file"):
        predict_texts(tmp_path / "missing.keras", ["x"])
    (tmp_path / "junk.keras").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="not a .keras model file"):
        predict_texts(tmp_path / "junk.keras", ["x"])
    with pytest.raises(InputError, match="not an rnnsweep export"):
        predict_texts(tiny_run / "models" / "gru1" / "model.keras", ["x"])


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs["src"])
        if "id" in attrs:
            self.ids.add(attrs["id"])


def test_report_sections_images_and_escaping(tiny_run, tmp_path):
    from rnnsweep.reports import build_report

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    # A hostile review lands among the most confident mistakes.
    rows = pd.read_csv(run / "data" / "rows.csv", keep_default_na=False)
    chosen = json.loads((run / "leaderboard.json").read_text())["best_rnn"]  # error analysis is of this model
    predictions = pd.read_csv(run / "models" / chosen / "predictions.csv")
    wrong = predictions[(predictions["split"] == "test") & (predictions["true"] != predictions["predicted"])]
    assert not wrong.empty
    row_ids = wrong["row_id"]
    rows.loc[rows["row_id"].isin(row_ids), "text"] = "<script>alert(1)</script> nasty"
    rows.to_csv(run / "data" / "rows.csv", index=False)
    index = build_report(run)
    html = index.read_text()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    parser = _Collector()
    parser.feed(html)
    assert {
        "verdict",
        "overview",
        "leaderboard",
        "search",
        "trials",
        "architectures",
        "data",
        "errors",
        "mistakes",
        "model-gru1",
        "model-simple_rnn",
    } <= parser.ids
    # Every figure written is shown: data (2), search spread, and 3 per model here (one trial
    # per architecture: no history, panels or parallel coordinates, which need more).
    assert len(parser.images) == len(list(index.parent.glob("*.png"))) >= 9
    for image in parser.images:
        path = index.parent / image
        assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", image
    board = json.loads((run / "leaderboard.json").read_text())
    assert re.search(
        rf"{board['best_rnn']} \(the tuned RNN with the best validation score\) (beats|is level with|is behind) "
        rf"{board['best_baseline']} \(the best baseline on validation\) on test macro AUC: 0\.\d{{4}} \[0\.\d{{4}}, ",
        html,
    )
    # The split that chose is stated where the leaderboard is, and it is validation.
    assert re.search(r'id="selection">Chosen on the <strong>validation</strong> split', html)


def test_report_never_retrains(tiny_run, tmp_path):
    from rnnsweep.reports import build_report

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    before = {p: p.stat().st_mtime_ns for p in (run / "models").rglob("*")}
    build_report(run)
    assert before == {p: p.stat().st_mtime_ns for p in (run / "models").rglob("*")}


from rnnsweep.reports.browser import find_chromium  # noqa: E402

CHROMIUM = find_chromium()


@pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"),
    reason="Chromium not installed: apt-get install chromium (Debian) to run this",
)
def test_report_in_headless_chromium(tiny_run, tmp_path):
    """The report loads in a real browser: no console errors, every image decoded, the verdict shown.
    Under CI (where .ci/run installs Chromium) a missing browser fails the test instead of skipping it."""
    from rnnsweep.reports.browser import check_report

    assert CHROMIUM is not None, "CI runs the browser test: .ci/run installs Chromium (apt-get install chromium)"
    result = check_report(tiny_run / "report" / "index.html", screenshot=tmp_path / "report.png")
    assert result["console_errors"] == []
    assert result["images"] and all(w > 0 and h > 0 for w, h in result["images"])
    assert len(result["images"]) == len(list((tiny_run / "report").glob("*.png")))
    board = json.loads((tiny_run / "leaderboard.json").read_text())
    assert result["verdict"] == board["verdict"]
    assert (tmp_path / "report.png").stat().st_size > 10_000


def _synthetic_trials(architecture: str, n: int, seed: int = 0) -> pd.DataFrame:
    """A sweep's trials where the learning rate decides the score (plus noise)."""
    rng = np.random.default_rng(seed)
    rates = rng.choice([1e-2, 1e-3, 1e-4], n)
    return pd.DataFrame(
        {
            "architecture": architecture,
            "trial_id": [str(i) for i in range(n)],
            "status": "COMPLETED",
            "objective_name": "val_auc",
            "objective": 0.8 + 0.05 * (rates == 1e-2) + rng.normal(0, 0.005, n),
            "stopped_at_epoch": [0.0] + [np.nan] * (n - 1),
            "hp_units_1": rng.choice([8, 16, 32], n),
            "hp_dropout_output": rng.choice([0.0, 0.2, 0.4], n),
            "hp_learning_rate": rates,
        }
    )


def test_importance_needs_enough_trials_and_finds_the_decisive_hyperparameter():
    from rnnsweep.reports.importance import MIN_TRIALS, importances

    trials = pd.concat([_synthetic_trials("gru1", 16), _synthetic_trials("lstm", MIN_TRIALS - 1)])
    result = importances(trials, "val_auc")
    assert next(iter(result["gru1"]["importances"])) == "learning_rate"
    assert sum(result["gru1"]["importances"].values()) == pytest.approx(1)
    assert "lstm" not in result or "importances" not in result["lstm"]
    assert f"{MIN_TRIALS - 1} completed trial(s); importances need at least {MIN_TRIALS}" in result["lstm"]["reason"]


def test_hyperparameter_panels_name_the_architectures_and_use_log_axes():
    from rnnsweep.reports import plots

    trials = pd.concat([_synthetic_trials("gru1", 6), _synthetic_trials("lstm", 6, seed=1)])
    columns = ["hp_units_1", "hp_dropout_output", "hp_learning_rate"]
    fig = plots.plot_hyperparameter_panels(trials, columns, "val_auc")
    (legend,) = fig.legends
    assert [text.get_text() for text in legend.get_texts()] == ["gru1", "lstm"]
    axes = {ax.get_xlabel(): ax for ax in fig.axes if ax.get_visible()}
    assert set(axes) == {"units_1", "dropout_output", "learning_rate"}
    assert axes["learning_rate"].get_xscale() == "log" and axes["units_1"].get_xscale() == "log"
    assert axes["dropout_output"].get_xscale() == "linear"
    assert len({tuple(ax.get_position().size.round(3)) for ax in axes.values()}) == 1  # equal small multiples


def test_named_hyperparameter_values_are_plotted_and_ranked():
    """pooling ("last"/"mean") is a hyperparameter whose values are names, not numbers."""
    from rnnsweep.reports import plots
    from rnnsweep.reports.importance import importances

    trials = _synthetic_trials("bilstm", 16)
    trials["hp_pooling"] = np.where(np.arange(16) % 2, "mean", "last")
    trials["objective"] = 0.8 + 0.05 * (trials["hp_pooling"] == "mean") + np.random.default_rng(2).normal(0, 0.002, 16)
    columns = ["hp_units_1", "hp_pooling"]
    fig = plots.plot_hyperparameter_panels(trials, columns, "val_auc")
    pooling = next(ax for ax in fig.axes if ax.get_xlabel() == "pooling")
    assert [t.get_text() for t in pooling.get_xticklabels()] == ["last", "mean"]
    plots.plot_parallel_coordinates(trials, columns, "val_auc")
    assert next(iter(importances(trials, "val_auc")["bilstm"]["importances"])) == "pooling"


def test_report_shows_importance_parallel_coordinates_and_history_when_worth_it(tiny_run, tmp_path):
    from rnnsweep.reports import build_report

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    original = pd.read_csv(run / "trials.csv")
    few = original[original["architecture"] == "simple_rnn"]
    pd.concat([_synthetic_trials("gru1", 12), few]).to_csv(run / "trials.csv", index=False)
    html = build_report(run).read_text()
    report = run / "report"
    for name in ("importance_gru1.png", "parallel_gru1.png", "search_hyperparameters.png", "search_best_so_far.png"):
        assert (report / name).is_file() and f'src="{name}"' in html, name
    assert not (report / "importance_simple_rnn.png").exists()
    assert "No importance chart: 1 completed trial(s); importances need at least 10" in html
    assert "(median-stopped)" in html  # the synthetic sweep's first trial
    assert re.search(r'id="next-step">Next: ', html)


def test_created_folders_honour_the_umask(tiny_run, tmp_path, tiny_csv):
    """data/, models/<name>/ and report/ are written whole, then renamed: with the user's umask,
    not `mkdtemp`'s owner-only mode, so a report can be shared from a web server or a group folder."""
    from rnnsweep.data_prep.config import resolve_preset
    from rnnsweep.data_prep.files import staged_directory
    from rnnsweep.data_prep.prepare import prepare_data
    from rnnsweep.reports import build_report

    run = tmp_path / "copy"
    shutil.copytree(tiny_run, run)
    shutil.rmtree(run / "report")
    old = os.umask(0o002)
    try:
        prepare_data(resolve_preset({"preset": "womens-clothing", "path": str(tiny_csv)}), tmp_path / "fresh")
        build_report(run)
        with staged_directory(tmp_path / "models" / "gru1", beside=tmp_path) as scratch:
            (scratch / "metrics.json").write_text("{}")
    finally:
        os.umask(old)
    for folder in (tmp_path / "fresh" / "data", run / "report", tmp_path / "models" / "gru1"):
        assert folder.stat().st_mode & 0o777 == 0o775, folder
    assert not list(tmp_path.glob(".gru1-*"))  # the scratch folder became the target
