"""Baselines every run is judged against, trained on the same cleaned texts and splits."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from sklearn.calibration import CalibratedClassifierCV
from sklearn.dummy import DummyClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC

from rnnsweep.data_prep.files import write_atomically
from rnnsweep.data_prep.layout import RunLayout
from rnnsweep.data_prep.prepare import SPLITS, PreparedData, load_prepared
from rnnsweep.tuning.evaluation import classification_metrics

logger = logging.getLogger(__name__)


def baseline_models(seed: int = 0) -> dict:
    """The baselines: majority class; TF-IDF (word 1-2 grams) with logistic regression or
    a linear SVM (calibrated, so it gives probabilities for AUC)."""

    def tfidf():
        return TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)

    return {
        "majority": DummyClassifier(strategy="most_frequent"),
        "tfidf_logreg": make_pipeline(tfidf(), LogisticRegression(max_iter=2000, C=4.0)),
        "tfidf_svm": make_pipeline(tfidf(), CalibratedClassifierCV(LinearSVC(C=0.5, random_state=seed), cv=3)),
    }


def run_baselines(run_dir: Path, *, data: PreparedData | None = None) -> dict:
    """Fit every baseline on the training split and score it on all three splits.

    Reads `RUN_DIR/data`; writes `RUN_DIR/baselines/metrics.json`:
    {baseline: {split: metrics}} (see `classification_metrics`).

    Args:
        run_dir: The run directory (data stage done).
        data: The run's prepared data (default None: read from `RUN_DIR/data`).

    Returns:
        The metrics dict.
    """
    layout = RunLayout(run_dir)
    data = load_prepared(run_dir) if data is None else data
    texts = {s: data.rows.loc[data.rows["split"] == s, "clean_text"].tolist() for s in SPLITS}
    results = {}
    for name, model in baseline_models().items():
        model.fit(texts["train"], data.y["train"])
        results[name] = {
            split: classification_metrics(data.y[split], model.predict_proba(texts[split]), data.class_names)
            for split in SPLITS
        }
        test = results[name]["test"]
        logger.info(
            "baseline %-13s test weighted F1 %.4f, macro AUC %s",
            name,
            test["f1_weighted"],
            f"{test['auc_macro']:.4f}" if test["auc_macro"] is not None else "n/a",
        )
    layout.baselines.mkdir(exist_ok=True)
    write_atomically(layout.baseline_metrics, json.dumps(results, indent=1))
    return results
