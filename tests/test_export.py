"""tf2onnx export: real conversion, real onnxruntime, parity against Keras."""

import json

import numpy as np
import onnx
import pytest

from helpers import make_bundle
from kerasseq import bundle
from kerasseq.export import ExportValidationError, export_bundle
from kerasseq.export.native_rnn import cpu_clone
from kerasseq.models import PRESETS, ModelSpec, Recurrent, get_preset

keras = pytest.importorskip("keras")


LSTM = get_preset("imdb-lstm")
VARIANTS = {name: get_preset(name) for name in PRESETS if PRESETS[name].get("task") not in ("char-lm", "forecast")}
VARIANTS.update({
    "gru-reset-after": LSTM.replace(recurrent=[Recurrent("gru", 32, reset_after=True)]),
    "bi-gru-reset-before": LSTM.replace(recurrent=[Recurrent("gru", 16, bidirectional=True, reset_after=False)]),
    "bi-simplernn-stack": LSTM.replace(recurrent=[Recurrent("simplernn", 16, bidirectional=True),
                                                  Recurrent("simplernn", 16)]),
    "masked-pre-bigru-lstm": LSTM.replace(mask_zero=True, recurrent=[Recurrent("gru", 16, bidirectional=True),
                                                                     Recurrent("lstm", 16)]),
    "masked-post-lstm": LSTM.replace(mask_zero=True, padding="post", truncating="post"),
    "masked-post-bisimplernn": LSTM.replace(mask_zero=True, padding="post",
                                            recurrent=[Recurrent("simplernn", 16, bidirectional=True)]),
    "recurrent-dropout": LSTM.replace(recurrent=[Recurrent("lstm", 16, recurrent_dropout=0.2),
                                                 Recurrent("gru", 16, recurrent_dropout=0.3)]),
    # attention pooling: scores masked from the token ids, or a Keras mask through the RNNs
    "attention-post-gru-stack": LSTM.replace(pooling="attention", attention_units=8, padding="post",
                                             recurrent=[Recurrent("gru", 16), Recurrent("lstm", 8)]),
    "attention-masked-bilstm": LSTM.replace(pooling="attention", attention_units=8, mask_zero=True,
                                            recurrent=[Recurrent("lstm", 8, bidirectional=True)]),
})


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_family_exports_native_with_parity(tmp_path, uci, name):
    spec = VARIANTS[name]
    make_bundle(tmp_path, spec, uci.texts, preset=name)
    report = export_bundle(tmp_path)

    assert report["passed"] and report["max_abs_diff"] <= 1e-5
    assert set(report["max_abs_diff_by_batch_size"]) == {"1", "7", "64"}
    assert sum(report["rows"].values()) >= 256
    assert report["rows"]["truncated"] > 0 and report["rows"]["all_padding"] > 0 and report["rows"]["real"] > 0
    assert json.loads((tmp_path / bundle.EXPORT_REPORT).read_text()) == report
    assert report["loop_nodes"] == 0 and "Loop" not in report["op_types"] and "Scan" not in report["op_types"]
    assert report["not_native"] == []
    assert sum(report["recurrent_nodes"].values()) == len(spec.recurrent)
    kinds = {"lstm": "LSTM", "gru": "GRU", "simplernn": "RNN"}
    assert set(report["recurrent_nodes"]) == {kinds[r.kind] for r in spec.recurrent}
    gru_before = any(r.kind == "gru" and not r.reset_after for r in spec.recurrent)
    assert bool(report["cuda_cpu_fallback"]) == gru_before

    model = onnx.load(tmp_path / bundle.ONNX_MODEL)
    (graph_input,) = model.graph.input
    assert graph_input.name == "token_ids" and graph_input.type.tensor_type.elem_type == onnx.TensorProto.INT32
    assert [d.dim_param for d in graph_input.type.tensor_type.shape.dim] == ["batch", "sequence"]
    outputs = {o.name: [d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim] for o in model.graph.output}
    if spec.pooling == "attention":  # both outputs validated against Keras
        assert outputs == {"probabilities": ["batch", 2], "attention_weights": ["batch", "sequence"]}
        assert set(report["max_abs_diff_by_output"]) == set(outputs)
    else:
        assert outputs == {"probabilities": ["batch", 2]}
    props = {p.key: p.value for p in model.metadata_props}
    assert props["preset"] == name and json.loads(props["labels"]) == ["negative", "positive"]
    assert props["kerasseq_version"]
    directions = [onnx.helper.get_attribute_value(a).decode() for n in model.graph.node
                  for a in n.attribute if a.name == "direction"]
    assert directions == ["bidirectional" if r.bidirectional else "forward" for r in spec.recurrent]


def test_a_layer_that_cannot_be_native_is_reported_and_still_exact(tmp_path, uci):
    from keras import layers

    spec = ModelSpec(recurrent=[Recurrent("lstm", 6)], vocab_size=300, maxlen=12, embedding_dim=8)
    inputs = keras.Input((12,), dtype="int32")
    x = layers.Embedding(300, 8)(inputs)
    x = layers.Bidirectional(layers.GRU(6), merge_mode="sum", name="summed")(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    make_bundle(tmp_path, spec, uci.texts, model=keras.Model(inputs, outputs))
    report = export_bundle(tmp_path)
    assert report["passed"] and report["max_abs_diff"] <= 1e-5
    assert report["not_native"] == [{"layer": "summed", "reason": "Bidirectional merge_mode='sum' "
                                                                  "(only 'concat' is native)"}]
    assert report["loop_nodes"] > 0


def test_cudnn_configured_model_exports_on_cpu(tmp_path, uci):
    """A model built for the cuDNN path (use_cudnn=True, as after GPU training) exports here."""
    from keras import layers

    spec = ModelSpec(recurrent=[Recurrent("lstm", 6)], vocab_size=300, maxlen=12, embedding_dim=8)
    inputs = keras.Input((12,), dtype="int32")
    x = layers.Embedding(300, 8)(inputs)
    x = layers.Bidirectional(layers.LSTM(6, use_cudnn=True, return_sequences=True))(x)
    x = layers.GRU(5, use_cudnn=True)(x)
    make_bundle(tmp_path, spec, uci.texts, model=keras.Model(inputs, layers.Dense(1, activation="sigmoid")(x)))
    report = export_bundle(tmp_path)
    assert report["passed"] and report["recurrent_nodes"] == {"GRU": 1, "LSTM": 1}


def test_truncated_and_padded_rows_match_keras_exactly(tmp_path, uci):
    """Beyond the report: compare ONNX and Keras on hand-made edge rows."""
    import onnxruntime as ort

    spec = ModelSpec(recurrent=[Recurrent("lstm", 8, bidirectional=True)], vocab_size=300, maxlen=12,
                     padding="post", truncating="post", embedding_dim=8)
    model, encoder = make_bundle(tmp_path, spec, uci.texts)
    export_bundle(tmp_path)
    rows = encoder.encode(["", " ".join(uci.texts[:20]), uci.texts[0], "zzz qqq unseen words"])
    assert (rows[0] == 0).all() and (rows[1] != 0).all()
    session = ort.InferenceSession(str(tmp_path / bundle.ONNX_MODEL), providers=["CPUExecutionProvider"])
    (got,) = session.run(["probabilities"], {"token_ids": rows})
    p = np.asarray(model(rows, training=False))
    np.testing.assert_allclose(got, np.concatenate([1 - p, p], axis=1), atol=1e-5)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-6)


def test_softmax_model_exports(tmp_path, uci):
    spec = ModelSpec(recurrent=[Recurrent("gru", 6), Recurrent("lstm", 6)], vocab_size=200, maxlen=10,
                     embedding_dim=8, num_classes=3, dense=(5,))
    make_bundle(tmp_path, spec, uci.texts, labels=("a", "b", "c"))
    report = export_bundle(tmp_path)
    assert report["passed"] and report["output"]["shape"] == ["batch", 3]


def test_failed_validation_keeps_report_and_writes_no_model(tmp_path, uci):
    spec = ModelSpec(recurrent=[Recurrent("lstm", 4)], vocab_size=100, maxlen=6, embedding_dim=4)
    make_bundle(tmp_path, spec, uci.texts)
    with pytest.raises(ExportValidationError, match="model.onnx not written"):
        export_bundle(tmp_path, tolerance=-1.0)  # no diff can pass a negative tolerance
    report = json.loads((tmp_path / bundle.EXPORT_REPORT).read_text())
    assert report["passed"] is False and report["max_abs_diff"] >= 0
    assert not (tmp_path / bundle.ONNX_MODEL).exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


def test_export_argument_errors(tmp_path, uci):
    with pytest.raises(FileNotFoundError, match="nothing-here"):
        export_bundle(tmp_path / "nothing-here")
    spec = ModelSpec(recurrent=[Recurrent("lstm", 4)], vocab_size=100, maxlen=6, embedding_dim=4)
    make_bundle(tmp_path, spec, uci.texts)
    with pytest.raises(ValueError, match="opset"):
        export_bundle(tmp_path, opset=19)


def test_cpu_clone_disables_cudnn_and_keeps_outputs():
    from kerasseq.models import build_model

    spec = ModelSpec(recurrent=[Recurrent("gru", 4, bidirectional=True), Recurrent("lstm", 4)],
                     vocab_size=50, maxlen=5, embedding_dim=4)
    model = build_model(spec)
    clone = cpu_clone(model)
    assert clone.layers[3].forward_layer.use_cudnn is False
    assert clone.layers[3].backward_layer.use_cudnn is False
    assert clone.layers[4].use_cudnn is False
    x = np.random.default_rng(0).integers(0, 50, (3, 5)).astype("int32")
    np.testing.assert_array_equal(np.asarray(clone(x)), np.asarray(model(x)))


def test_optimized_and_int8_exports_of_a_trained_bundle(tmp_path):
    import shutil

    from conftest import ARTIFACT
    from kerasseq.serve import Predictor

    shutil.copytree(ARTIFACT, tmp_path / "b")
    report = export_bundle(tmp_path / "b", optimize=True, quantize="int8")
    assert report["passed"] and report["optimized"] and report["max_abs_diff"] <= 1e-5
    q = report["int8"]
    assert q["rows"] == len(json.loads((ARTIFACT / bundle.SAMPLES).read_text())["texts"])
    assert q["int8"]["bytes"] < q["float32"]["bytes"] / 2
    assert abs(q["accuracy_drop_points"]) <= 0.5
    texts = json.loads((ARTIFACT / bundle.SAMPLES).read_text())["texts"][:50]
    float_p = Predictor(tmp_path / "b").predict_proba(texts)
    int8_p = Predictor(tmp_path / "b", int8=True).predict_proba(texts)
    assert np.abs(float_p - int8_p).max() < 0.05
    with pytest.raises(ValueError, match="quantize"):
        export_bundle(tmp_path / "b", quantize="int4")
