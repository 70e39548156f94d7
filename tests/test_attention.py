"""BahdanauAttention: masking, serialization, export with its weights, and `predict --explain`."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT
from helpers import make_bundle
from kerasseq import bundle
from kerasseq.models import ModelSpec, Recurrent

keras = pytest.importorskip("keras")

from kerasseq.models import BahdanauAttention, PaddingMask, build_model, load_model  # noqa: E402

ATTENTION_ARTIFACT = ROOT / "artifacts" / "imdb-attention"
SPEC = ModelSpec(recurrent=[Recurrent("lstm", 6, bidirectional=True)], vocab_size=300, maxlen=12, embedding_dim=8,
                 pooling="attention", attention_units=5)


def rows_with_padding(rng, maxlen=12, vocab=300):
    ids = rng.integers(1, vocab, (5, maxlen)).astype("int32")
    ids[1, :7] = 0  # pre-padded
    ids[2, 3:] = 0  # post-padded
    ids[3, :] = 0  # no tokens at all
    return ids


@pytest.mark.parametrize("mask_zero", [False, True])
def test_weights_sum_to_one_and_are_exactly_zero_at_padding(mask_zero):
    keras.utils.set_random_seed(0)
    model = build_model(SPEC.replace(mask_zero=mask_zero, padding="pre"))
    weights_model = keras.Model(model.input, model.get_layer("attention").output[1])
    ids = rows_with_padding(np.random.default_rng(0))
    weights = np.asarray(weights_model(ids))
    assert weights.shape == ids.shape
    assert (weights[ids == 0] == 0.0).all()  # exactly, not approximately
    assert (weights[ids != 0] > 0).all()
    np.testing.assert_allclose(weights[[0, 1, 2, 4]].sum(axis=1), 1.0, atol=1e-6)
    assert (weights[3] == 0).all()  # an all-padding row: defined as all-zero weights
    assert np.isfinite(np.asarray(model(ids))).all()


def test_layer_with_a_query_and_its_config():
    rng = np.random.default_rng(1)
    values = rng.normal(size=(3, 7, 4)).astype("float32")
    query = rng.normal(size=(3, 5)).astype("float32")
    mask = np.ones((3, 7), bool)
    mask[0, :3] = False
    layer = BahdanauAttention(6)
    context, weights = layer(values, query=query, mask=mask, return_weights=True)
    assert tuple(context.shape) == (3, 4) and tuple(weights.shape) == (3, 7)
    assert {w.path.split("/")[-1] for w in layer.weights} == {"w", "b", "v", "u"}
    np.testing.assert_allclose(np.asarray(weights)[0, :3], 0.0)
    # the context is the weighted sum of the values
    np.testing.assert_allclose(np.asarray(context), np.einsum("bt,btf->bf", np.asarray(weights), values), atol=1e-6)
    # the query changes the weights (U q is part of the score)
    _, other = layer(values, query=query * 3, mask=mask, return_weights=True)
    assert np.abs(np.asarray(other) - np.asarray(weights)).max() > 1e-4
    clone = BahdanauAttention.from_config(layer.get_config())
    assert clone.units == 6 and clone.name == layer.name
    with pytest.raises(ValueError, match="units must be a positive int"):
        BahdanauAttention(0)


def test_keras_round_trip_in_safe_mode_gives_identical_outputs(tmp_path):
    keras.utils.set_random_seed(2)
    model = build_model(SPEC)
    ids = rows_with_padding(np.random.default_rng(2))
    model.save(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras")
    assert isinstance(loaded.get_layer("attention"), BahdanauAttention)
    assert isinstance(loaded.get_layer("padding_mask"), PaddingMask)
    np.testing.assert_array_equal(np.asarray(loaded(ids)), np.asarray(model(ids)))
    before = keras.Model(model.input, model.get_layer("attention").output[1])(ids)
    after = keras.Model(loaded.input, loaded.get_layer("attention").output[1])(ids)
    np.testing.assert_array_equal(np.asarray(after), np.asarray(before))


def test_recurrent_layers_stay_unmasked_so_they_stay_native():
    model = build_model(SPEC)
    assert not model.get_layer("embedding").mask_zero
    assert model.get_layer("bi_lstm_0").return_sequences


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_attention_model_trains_under_other_backends(backend):
    pytest.importorskip(backend)
    code = ("import numpy as np; from kerasseq.models import ModelSpec, build_model\n"
            "spec = ModelSpec(recurrent=[dict(kind='gru', units=4)], vocab_size=50, maxlen=6, embedding_dim=4, "
            "pooling='attention', attention_units=3)\n"
            "m = build_model(spec); x = np.random.randint(0, 50, (16, 6)).astype('int32')\n"
            "h = m.fit(x, np.arange(16) % 2, epochs=1, verbose=0)\n"
            "print(np.isfinite(h.history['loss'][0]))")
    env = dict(os.environ, KERAS_BACKEND=backend)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "True"


@pytest.fixture(scope="module")
def attention_bundle(tmp_path_factory, uci):
    from kerasseq.export import export_bundle

    path = tmp_path_factory.mktemp("attention")
    make_bundle(path, SPEC, uci.texts)
    report = export_bundle(path)
    assert report["passed"] and report["loop_nodes"] == 0 and report["recurrent_nodes"] == {"LSTM": 1}
    assert max(report["max_abs_diff_by_output"].values()) <= 1e-5
    return path


def test_predictor_explains_on_the_tokens_the_model_saw(attention_bundle):
    from kerasseq.serve import Predictor

    predictor = Predictor(attention_bundle)
    assert predictor.has_attention
    texts = ["The acting was great, the plot was not.", "", " ".join(["word"] * 30) + " great film"]
    results = predictor.explain(texts, top=3)
    ids = predictor.encode(texts)
    probabilities, weights = predictor.predict_ids(ids, return_weights=True)
    for text, result, row, w, p in zip(texts, results, ids, weights, probabilities):
        assert result["tokens"] == [t for t in predictor.encoder.tokens([text])[0] if t is not None]
        assert len(result["tokens"]) == int((row != 0).sum())
        assert result["weights"] == [float(x) for x in w[row != 0]]
        assert result["score"] == pytest.approx(float(p.max()))
        assert [t for t, _ in result["top"]] == [result["tokens"][k] for k in np.argsort(-w[row != 0],
                                                                                         kind="stable")[:3]]
    assert results[0]["tokens"] == ["the", "acting", "was", "great", "the", "plot", "was", "not"]
    assert sum(results[0]["weights"]) == pytest.approx(1.0, abs=1e-5)
    assert results[1]["tokens"] == [] and results[1]["top"] == []  # defined: nothing to weigh
    assert len(results[2]["tokens"]) == SPEC.maxlen and results[2]["tokens"][-2:] == ["great", "film"]
    with pytest.raises(ValueError, match="top must be a positive int"):
        predictor.explain("x", top=0)


def test_explain_needs_an_attention_model():
    from conftest import ARTIFACT
    from kerasseq.serve import BundleError, Predictor

    predictor = Predictor(ARTIFACT)
    assert not predictor.has_attention
    with pytest.raises(BundleError, match="no 'attention_weights' output"):
        predictor.explain("fine")


def explain_cli(bundle_dir, tmp_path, *texts):
    """`kerasseq predict --explain` in a fresh process that records whether TensorFlow was imported."""
    code = ("import sys; from kerasseq.cli import main; rc = main(sys.argv[1:]); "
            "print('TF', 'tensorflow' in sys.modules or 'keras' in sys.modules, file=sys.stderr); sys.exit(rc)")
    args = ["predict", str(bundle_dir), "--explain", "--top", "5", "--heatmap", str(tmp_path / "att.png"), *texts]
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "TF False" in out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


def test_cli_explain_prints_top_tokens_and_writes_heatmaps(attention_bundle, tmp_path):
    lines = explain_cli(attention_bundle, tmp_path, "a great great film", "")
    assert [line["text"] for line in lines] == ["a great great film", ""]
    assert len(lines[0]["top_tokens"]) == 4 and lines[1]["top_tokens"] == []
    for k, line in enumerate(lines, start=1):
        assert line["heatmap"] == str(tmp_path / f"att-{k}.png")
        assert (tmp_path / f"att-{k}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_explain_on_a_model_without_attention_is_one_clear_line(tmp_path):
    from conftest import ARTIFACT

    out = subprocess.run([sys.executable, "-m", "kerasseq.cli", "predict", str(ARTIFACT), "fine", "--explain"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        f"kerasseq predict: error: {ARTIFACT} has no 'attention_weights' output: its model has no attention layer "
        "(use a preset with pooling='attention')"]


@pytest.mark.skipif(not (ATTENTION_ARTIFACT / bundle.ONNX_MODEL).is_file(), reason="artifact not built")
def test_committed_attention_bundle_explains_real_reviews(tmp_path):
    lines = explain_cli(ATTENTION_ARTIFACT, tmp_path, "One of the best films I have seen: moving, funny and "
                        "beautifully acted.", "A dull, boring mess. The worst movie of the year.")
    assert [line["label"] for line in lines] == ["positive", "negative"]
    assert {"best", "moving", "beautifully"} & {t for t, _ in lines[0]["top_tokens"]}
    assert {"dull", "boring", "worst", "mess"} & {t for t, _ in lines[1]["top_tokens"]}
    report = json.loads((ATTENTION_ARTIFACT / bundle.EXPORT_REPORT).read_text())
    assert report["passed"] and report["loop_nodes"] == 0 and set(report["max_abs_diff_by_output"]) == {
        "probabilities", "attention_weights"}
