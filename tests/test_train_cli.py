"""End to end: `kerasseq train --export` on real data, then predict, through the CLI."""

import csv
import json

import numpy as np
import pytest

from conftest import ARTIFACT
from kerasseq import bundle
from kerasseq.cli import main
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
])
def test_cli_errors_are_one_line(argv, message, capsys):
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err and "Traceback" not in err


def test_interrupted_write_leaves_no_half_bundle(tmp_path):
    out = tmp_path / "bundle"
    out.mkdir()
    (out / "old.txt").write_text("previous bundle")
    with pytest.raises(RuntimeError):
        with bundle.atomic_directory(out) as tmp:
            (tmp / "model.keras").write_text("half")
            raise RuntimeError("killed mid-write")
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"]
    assert [p.name for p in out.iterdir()] == ["old.txt"]
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
