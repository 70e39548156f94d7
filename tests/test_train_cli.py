"""End to end: `kerasseq train --export` on real data, then predict, through the CLI."""

import csv
import json

import numpy as np
import pytest

from conftest import ARTIFACT
from kerasseq import bundle
from kerasseq.cli import main
from kerasseq.data import load_splits
from kerasseq.serve import Predictor

BUNDLE_FILES = {"model.keras", "model.onnx", "preprocessing.json", "metrics.json", "samples.json",
                "export_report.json", "history.png", "confusion_matrix.png", "MODEL_CARD.md"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "uci"
    assert main(["train", "--epochs", "2", "--out", str(out), "--export"]) == 0
    return out


def test_train_writes_a_complete_bundle(trained, capsys):
    assert {p.name for p in trained.iterdir()} == BUNDLE_FILES
    metrics = json.loads((trained / bundle.METRICS).read_text())
    assert metrics["preset"] == "uci-lstm" and metrics["epochs_run"] <= 2
    assert metrics["rows"] == {"train": 1920, "validation": 480, "test": 600}
    assert np.array(metrics["confusion_matrix"]).sum() == 600
    assert set(metrics["per_class"]) == {"negative", "positive"}
    assert 0.5 < metrics["test_accuracy"] <= 1.0
    assert json.loads((trained / bundle.EXPORT_REPORT).read_text())["passed"] is True
    assert not [p for p in trained.parent.iterdir() if p.name.startswith(".")]  # no temp dirs left


def test_bundle_model_keeps_weights_but_no_optimizer_state(trained):
    import io
    import zipfile

    h5py = pytest.importorskip("h5py")
    with zipfile.ZipFile(trained / bundle.KERAS_MODEL) as archive:
        weights = h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r")
        assert "layers" in weights and "optimizer" not in weights
    from kerasseq.models import load_model

    assert load_model(trained / bundle.KERAS_MODEL).count_params() == json.loads(
        (trained / bundle.METRICS).read_text())["parameters"]


def test_serving_ids_equal_training_ids(trained, uci):
    from kerasseq.data import stratified_split
    from kerasseq.text import TextEncoder, Tokenizer

    train_idx, _ = stratified_split(uci.labels, 0.2, 0)
    fit_idx, _ = stratified_split(uci.labels[train_idx], 0.2, 1)
    fit_texts = [uci.texts[train_idx[i]] for i in fit_idx]
    spec_dict = json.loads((trained / bundle.METRICS).read_text())["spec"]
    tokenizer = Tokenizer(num_words=spec_dict["vocab_size"], oov_token=spec_dict["oov_token"]).fit_on_texts(fit_texts)
    expected = TextEncoder(tokenizer, spec_dict["maxlen"]).encode(uci.texts)
    np.testing.assert_array_equal(Predictor(trained).encode(uci.texts), expected)


def test_predict_cli_prints_one_json_object_per_text(trained, tmp_path, capsys):
    texts_file = tmp_path / "texts.txt"
    texts_file.write_text("The food was awful\nBest purchase ever\n", encoding="utf-8")
    assert main(["predict", str(trained), "works great", "--file", str(texts_file)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["text"] for line in lines] == ["works great", "The food was awful", "Best purchase ever"]
    assert all(set(line) == {"text", "label", "score"} for line in lines)


def test_committed_bundle_answers_predict(capsys):
    assert main(["predict", str(ARTIFACT), "Great phone, works perfectly"]) == 0
    assert json.loads(capsys.readouterr().out)["label"] == "positive"


def test_three_class_csv_trains_exports_and_predicts(tmp_path, uci, capsys):
    """A real three-class task: which site a UCI sentence came from (Amazon, IMDb, Yelp)."""
    path = tmp_path / "sites.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        for i, text in enumerate(uci.texts):
            writer.writerow([text, ("amazon", "imdb", "yelp")[i // 1000]])
    out = tmp_path / "sites"
    assert main(["train", "--data", str(path), "--preset", "imdb-gru", "--epochs", "1", "--out", str(out),
                 "--export"]) == 0
    predictor = Predictor(out)
    assert predictor.labels == ["amazon", "imdb", "yelp"]
    probabilities = predictor.predict_proba(uci.texts[:5])
    assert probabilities.shape == (5, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("argv, message", [
    (["predict", "no/such/bundle", "hi"], "bundle directory not found: no/such/bundle"),
    (["predict", str(ARTIFACT)], "give at least one text"),
    (["predict", str(ARTIFACT), "--file", "missing.txt"], "missing.txt"),
    (["train", "--preset", "nope"], "unknown preset 'nope'"),
    (["train", "--data", "missing.csv"], "data file not found: missing.csv"),
    (["export", "no/such/bundle"], "no/such/bundle"),
    (["train", "--data", "imbd"], "unknown data source 'imbd'"),
    (["stats", "--data", "imdb", "--data-dir", "no/such/dir"], "IMDb train split not found"),
    (["predict", str(ARTIFACT), "--file", "LATIN1"], "LATIN1 line 1 is not UTF-8 text"),
])
def test_cli_errors_are_one_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("KERASSEQ_DATA", str(tmp_path))
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("caf\xe9 au lait\n".encode("latin-1"))
    argv = [str(latin1) if a == "LATIN1" else a for a in argv]
    message = message.replace("LATIN1", str(latin1))
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err and "Traceback" not in err


def test_spec_changes_are_checked_like_a_spec(tmp_path):
    from kerasseq.train import train

    with pytest.raises(ValueError, match="unknown model spec keys: \\['colour'\\]"):
        train("uci-lstm", spec_changes={"colour": "red"}, out=tmp_path / "x")
    with pytest.raises(ValueError, match="anneal_epochs must be an int between 0 and epochs"):
        train("uci-lstm", spec_changes={"anneal_epochs": 21}, out=tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_interrupted_write_leaves_no_half_bundle(tmp_path):
    out = tmp_path / "bundle"
    out.mkdir()
    (out / "old.txt").write_text("previous bundle")
    bundle.write_json(out / bundle.PREPROCESSING, {"format": bundle.PREPROCESSING_FORMAT})  # a kerasseq bundle
    with pytest.raises(RuntimeError):
        with bundle.atomic_directory(out) as tmp:
            (tmp / "model.keras").write_text("half")
            raise RuntimeError("killed mid-write")
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"]
    assert sorted(p.name for p in out.iterdir()) == ["old.txt", bundle.PREPROCESSING]
    with bundle.atomic_directory(out) as tmp:
        (tmp / "new.txt").write_text("new bundle")
    assert [p.name for p in out.iterdir()] == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"]


def test_predict_accepts_texts_after_options(capsys):
    assert main(["predict", str(ARTIFACT), "--int8", "Great phone, works perfectly"]) == 0
    assert json.loads(capsys.readouterr().out)["label"] == "positive"


def test_normalizing_preset_serves_the_training_ids(tmp_path, capsys):
    """amazon-stacked-lstm on real Amazon reviews: serving ids == ids built by hand from the
    training split with the NLTK pipeline."""
    from conftest import SHARED_DATA
    from kerasseq.data import load_csv, stratified_split
    from kerasseq.text import TextEncoder, Tokenizer
    from kerasseq.text.normalize import ReviewNormalizer

    source = SHARED_DATA / "amazon_polarity" / "amazon_reviews_5000.csv"
    if not source.is_file():
        pytest.skip(f"{source} not found")
    rows = list(csv.reader(open(source, encoding="utf-8", newline="")))[:401]
    small = tmp_path / "amazon_400.csv"
    with open(small, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    out = tmp_path / "amazon"
    assert main(["train", "--preset", "amazon-stacked-lstm", "--data", str(small), "--epochs", "1",
                 "--out", str(out), "--export"]) == 0
    data = load_csv(small)
    train_idx, _ = stratified_split(data.labels, 0.2, 0)
    fit_idx, _ = stratified_split(data.labels[train_idx], 0.2, 1)
    normalizer = ReviewNormalizer()
    fit_texts = normalizer.normalize([data.texts[train_idx[i]] for i in fit_idx])
    expected = TextEncoder(Tokenizer(num_words=10000, oov_token="<OOV>").fit_on_texts(fit_texts), 100,
                           normalizer=normalizer).encode(data.texts)
    predictor = Predictor(out)
    np.testing.assert_array_equal(predictor.encode(data.texts), expected)
    assert json.loads((out / bundle.PREPROCESSING).read_text())["encoder"]["normalizer"] == normalizer.get_config()


def _check_coverage(lengths, covering, share):
    lengths = np.asarray(lengths)
    assert np.mean(lengths <= covering) >= share > np.mean(lengths <= covering - 1)


def test_stats_cli_writes_percentiles_covering_maxlen_and_histogram(tmp_path, capsys, uci):
    from kerasseq.text import text_to_word_sequence

    out = tmp_path / "stats"
    assert main(["stats", "--data", "uci", "--preset", "uci-lstm", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    result = json.loads((out / "lengths.json").read_text())
    assert (out / "lengths.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    train, _ = load_splits("uci")
    lengths = [len(text_to_word_sequence(t)) for t in train.texts]
    assert result["texts"] == len(train) == 2400 and result["max"] == max(lengths)
    for share in (90, 95):
        _check_coverage(lengths, result["maxlen_covering"][str(share)], share / 100)
        assert f"maxlen covering {share} %: {result['maxlen_covering'][str(share)]}" in printed
    assert result["share_within_maxlen"] == round(float(np.mean(np.array(lengths) <= 40)), 4)


def test_stats_follows_the_presets_nltk_pipeline_without_tensorflow(tmp_path):
    from test_serve import run_python

    rows = ['"This is not the best phone, but it is not bad at all!",1',
            '"The the the and of",0', '"Great.",1', '"???",0'] * 3
    data = tmp_path / "tiny.csv"
    data.write_text("review_text,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    result = run_python(f"""
        from kerasseq.cli import main
        code = main(["stats", "--data", {str(data)!r}, "--preset", "amazon-stacked-lstm",
                     "--out", {str(tmp_path / "out")!r}])
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras"))
        print(code, heavy)
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "0 []"
    stats = json.loads((tmp_path / "out" / "lengths.json").read_text())
    train, _ = load_splits(str(data))
    raw_max = max(len(t.split()) for t in train.texts)
    assert stats["texts"] == len(train) and stats["normalized"] is True and stats["max"] < raw_max


def test_imdb_preset_trains_on_an_aclimdb_tree_and_serves_the_training_ids(tmp_path):
    """Real IMDb reviews in the original aclImdb layout: the own test split is kept, and the
    bundle encodes raw text exactly as training did (Keras word rules, 8,000 words, 200 steps)."""
    from conftest import SHARED_DATA
    from test_data import _write_aclimdb

    from kerasseq.data import stratified_split
    from kerasseq.text import TextEncoder, Tokenizer

    if not (SHARED_DATA / "imdb" / "imdb_train.csv.gz").is_file():
        pytest.skip(f"no IMDb data in {SHARED_DATA}")
    full_train, full_test = load_splits("imdb", data_dir=SHARED_DATA)
    reviews = {}
    for split, data, n in (("train", full_train, 60), ("test", full_test, 40)):
        for label, polarity in ((0, "neg"), (1, "pos")):
            reviews[(split, polarity)] = [t for t, y in zip(data.texts, data.labels) if y == label][:n]
    _write_aclimdb(tmp_path, reviews)
    out = tmp_path / "imdb-gru"
    assert main(["train", "--preset", "imdb-gru", "--data", str(tmp_path / "aclImdb"), "--epochs", "1",
                 "--out", str(out), "--export"]) == 0
    metrics = json.loads((out / bundle.METRICS).read_text())
    assert metrics["rows"] == {"train": 96, "validation": 24, "test": 80} and metrics["data"] == "aclImdb"
    assert metrics["spec"]["anneal_epochs"] == 1 and "annealed to 0 over the last 1 epoch" in \
        (out / bundle.MODEL_CARD).read_text()
    train, test = load_splits(tmp_path / "aclImdb")
    fit_idx, _ = stratified_split(train.labels, 0.2, 1)
    tokenizer = Tokenizer(num_words=8000, oov_token="<OOV>").fit_on_texts([train.texts[i] for i in fit_idx])
    expected = TextEncoder(tokenizer, 200).encode(test.texts)
    np.testing.assert_array_equal(Predictor(out).encode(test.texts), expected)
    assert json.loads((out / bundle.EXPORT_REPORT).read_text())["recurrent_nodes"] == {"GRU": 1}
