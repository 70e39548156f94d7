"""The onnxruntime Predictor over the committed bundle and over fresh ones; no TensorFlow needed."""

import json
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from conftest import ARTIFACT, ROOT
from kerasseq import bundle
from kerasseq.serve import BundleError, Predictor, default_providers

BLOCK_TF = textwrap.dedent("""
    import sys
    class Refuse:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("tensorflow", "keras", "tf_keras", "tf2onnx"):
                raise ImportError(f"{name} is refused in this process")
    sys.meta_path.insert(0, Refuse())
""")


def run_python(code):
    return subprocess.run([sys.executable, "-c", BLOCK_TF + textwrap.dedent(code)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def predictor():
    return Predictor(ARTIFACT)


def test_serve_and_text_work_with_tensorflow_and_keras_unimportable():
    result = run_python(f"""
        import json
        import kerasseq, kerasseq.text, kerasseq.serve, kerasseq.data, kerasseq.models
        from kerasseq.serve import Predictor
        from kerasseq.text import Tokenizer, pad_sequences
        p = Predictor({str(ARTIFACT)!r})
        out = p.predict(["Great phone, works perfectly", "Terrible, it broke in a day."])
        ids = pad_sequences(Tokenizer(num_words=10).fit_on_texts(["a b a"]).texts_to_sequences(["a b"]), maxlen=4)
        amazon = Predictor({str(ARTIFACT.parent / "amazon-stacked-lstm")!r})
        out += amazon.predict(["Broke after two weeks. Total waste of money, do not buy."])
        from kerasseq.cli import main
        main(["predict", {str(ARTIFACT)!r}, "I love it"])
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras"))
        print(json.dumps({{"out": out, "heavy": heavy, "ids": ids.tolist()}}))
    """)
    assert result.returncode == 0, result.stderr
    cli_line, last = result.stdout.strip().splitlines()[-2:]
    report = json.loads(last)
    assert report["heavy"] == []
    assert [r["label"] for r in report["out"]] == ["positive", "negative", "negative"]
    assert report["ids"] == [[0, 0, 1, 2]]
    assert json.loads(cli_line)["label"] == "positive"


def test_import_kerasseq_is_light():
    result = run_python("""
        import kerasseq, kerasseq.models, kerasseq.data, kerasseq.cli
        print(sorted(m for m in ("numpy", "onnxruntime", "sklearn", "matplotlib") if m in sys.modules))
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['numpy']"


def test_cpu_machine_requests_no_cuda_and_prints_nothing():
    result = run_python(f"""
        from kerasseq.serve import Predictor, cuda_usable
        p = Predictor({str(ARTIFACT)!r})
        p.predict(["fine"])
        print(cuda_usable(), p.providers)
    """)
    assert result.returncode == 0 and result.stderr == ""
    usable, providers = result.stdout.split(" ", 1)
    if usable == "False":
        assert providers.strip() == "['CPUExecutionProvider']"


def test_predict_matches_the_keras_model_on_real_texts(predictor):
    keras = pytest.importorskip("keras")
    samples = json.loads((ARTIFACT / bundle.SAMPLES).read_text())["texts"]
    model = keras.saving.load_model(ARTIFACT / bundle.KERAS_MODEL, compile=False)
    p = np.asarray(model(predictor.encode(samples), training=False))
    np.testing.assert_allclose(predictor.predict_proba(samples), np.concatenate([1 - p, p], 1), atol=1e-5)
    results = predictor.predict(samples)
    assert [r["label"] for r in results] == [["negative", "positive"][int(v > 0.5)] for v in p[:, 0]]
    assert all(0.5 <= r["score"] <= 1.0 for r in results)


def test_predict_shapes_and_defined_results(predictor):
    assert predictor.predict([]) == []
    assert predictor.predict_proba([]).shape == (0, 2)
    one = predictor.predict("Great phone")
    assert len(one) == 1 and one[0]["label"] in predictor.labels
    empty = predictor.predict("")  # documented: scored as an all-padding row
    np.testing.assert_allclose(predictor.predict_proba(""), predictor.predict_ids(np.zeros((1, 40), np.int64)))
    assert empty[0]["label"] in predictor.labels
    batch = predictor.predict_proba(["good"] * 9 + ["bad"])
    np.testing.assert_allclose(batch[:1], predictor.predict_proba(["good"]), atol=1e-6)


@pytest.mark.parametrize("texts", [None, b"bytes", 5, [["nested"]], ["ok", None], {"a": 1}])
def test_predict_rejects_non_text(predictor, texts):
    with pytest.raises(TypeError, match="texts"):
        predictor.predict(texts)


@pytest.mark.parametrize("ids, message", [
    (np.zeros((2, 40), np.float32), "integers"),
    (np.zeros(40, np.int32), "shape"),
    (np.zeros((1, 2, 3), np.int32), "shape"),
    (np.full((1, 40), 4000), r"\[0, 4000\)"),
    (np.full((1, 40), -1), r"\[0, 4000\)"),
])
def test_predict_ids_rejects_bad_ids(predictor, ids, message):
    with pytest.raises(ValueError, match=message):
        predictor.predict_ids(ids)


def test_missing_and_corrupt_bundles(tmp_path):
    with pytest.raises(FileNotFoundError, match="no-such-bundle"):
        Predictor(tmp_path / "no-such-bundle")
    copy = tmp_path / "copy"
    shutil.copytree(ARTIFACT, copy)
    (copy / bundle.ONNX_MODEL).write_bytes(b"not a protobuf at all")
    with pytest.raises(BundleError, match="model.onnx"):
        Predictor(copy)
    (copy / bundle.ONNX_MODEL).unlink()
    with pytest.raises(FileNotFoundError, match="model.onnx"):
        Predictor(copy)


@pytest.mark.parametrize("edit, message", [
    (lambda text: text[: len(text) // 2], "not valid JSON"),
    (lambda text: text.replace('"format_version": 1', '"format_version": 99'), "format_version 99"),
    (lambda text: text.replace('"encoder"', '"encoder_gone"'), "field 'encoder' is missing"),
    (lambda text: '{"hello": 1}', "not a kerasseq preprocessing file"),
])
def test_corrupt_preprocessing_names_the_file(tmp_path, edit, message):
    shutil.copytree(ARTIFACT, tmp_path / "b")
    path = tmp_path / "b" / bundle.PREPROCESSING
    path.write_text(edit(path.read_text()))
    with pytest.raises(BundleError, match=message) as info:
        Predictor(tmp_path / "b")
    assert "preprocessing.json" in str(info.value)


def test_explicit_providers_override():
    p = Predictor(ARTIFACT, providers=["CPUExecutionProvider"])
    assert p.providers == ["CPUExecutionProvider"]
    assert default_providers()[-1] == "CPUExecutionProvider"


def test_amazon_bundle_gives_defined_results_for_edge_reviews():
    amazon = Predictor(ARTIFACT.parent / "amazon-stacked-lstm")
    texts = ["", "  \n\t ", "the and of is was", "!!! , ?", "😀👍", "Très bien, très bon", "great value. " * 8_000]
    ids = amazon.encode(texts)
    assert ids.shape == (len(texts), 100) and not ids[:4].any()  # nothing left: the all-padding row
    assert ids[4].any() and ids[5].any() and ids[6].all()  # OOV words; last 100 kept
    results = amazon.predict(texts)
    assert all(0.0 <= r["score"] <= 1.0 and r["label"] in ("negative", "positive") for r in results)
    assert results[0] == results[1] == results[2] == results[3]
