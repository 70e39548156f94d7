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
    x = layers.GRU(6, activation="softsign", name="softsign_gru")(x)  # ONNX GRU has no Softsign
    outputs = layers.Dense(1, activation="sigmoid")(x)
    make_bundle(tmp_path, spec, uci.texts, model=keras.Model(inputs, outputs))
    report = export_bundle(tmp_path)
    assert report["passed"] and report["max_abs_diff"] <= 1e-5
    assert report["not_native"] == [{"layer": "softsign_gru", "reason": "activation 'softsign' "
                                                                        "(native: ['hard_sigmoid', 'relu', 'sigmoid', 'tanh'])"}]
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


# Masks of every pattern (issue #16): Keras carries the last output forward at a masked step (zeros before
# the first unmasked one; zeros throughout for Bidirectional with return_sequences); the ONNX node must
# give the same, natively, for post- and pre-padding, gaps mid-row and all-masked rows.

def _masked_rows(rng):
    x = rng.normal(size=(6, 7, 3)).astype(np.float32)
    x[0, 5:] = 0  # post-padded
    x[1, :3] = 0  # pre-padded
    x[2, [2, 4]] = 0  # gaps mid-row
    x[3] = 0  # nothing unmasked
    x[4, [0, 6]] = 0  # both ends
    return x


MASKED_LAYERS = {
    "lstm-sequences": lambda L: [L.LSTM(4, return_sequences=True)],
    "lstm-last": lambda L: [L.LSTM(4)],
    "gru-sequences": lambda L: [L.GRU(4, return_sequences=True)],
    "gru-reset-before-sequences": lambda L: [L.GRU(4, reset_after=False, return_sequences=True)],
    "simplernn-sequences": lambda L: [L.SimpleRNN(4, return_sequences=True)],
    "stacked-lstm-gru": lambda L: [L.LSTM(4, return_sequences=True), L.GRU(3)],
    "bilstm-sequences": lambda L: [L.Bidirectional(L.LSTM(4, return_sequences=True))],
    "bigru-last": lambda L: [L.Bidirectional(L.GRU(4))],
}


def native_session(model, signature):
    """(onnxruntime session, ONNX model, not_native) of `model` through kerasseq's native conversion, fed by
    the inputs named in `signature` (a list of tf.TensorSpec); the full ONNX checker must pass."""
    import onnxruntime as ort
    import tensorflow as tf

    from kerasseq.export.native_rnn import convert_function, native_clone

    clone, specs, not_native = native_clone(model)

    @tf.function(input_signature=signature)
    def serve(*inputs):
        outputs = clone(list(inputs) if len(inputs) > 1 else inputs[0], training=False)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        return {f"y{k}": y for k, y in enumerate(outputs)}

    onnx_model = convert_function(serve, signature, specs, 17)
    onnx.checker.check_model(onnx_model, full_check=True)
    return ort.InferenceSession(onnx_model.SerializeToString(), providers=["CPUExecutionProvider"]), onnx_model, \
        not_native


def _spec(name, *shape, dtype="float32"):
    import tensorflow as tf

    return tf.TensorSpec(list(shape), getattr(tf, dtype), name=name)


@pytest.mark.parametrize("name", sorted(MASKED_LAYERS))
def test_masked_layers_are_native_and_exact_for_every_mask_pattern(name):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((None, 3))
    y = keras.layers.Masking(0.0)(inputs)
    for layer in MASKED_LAYERS[name](keras.layers):
        y = layer(y)
    model = keras.Model(inputs, y)
    session, onnx_model, not_native = native_session(model, [_spec("x", None, None, 3)])
    ops = [node.op_type for node in onnx_model.graph.node]
    assert not not_native and "Loop" not in ops and "Scan" not in ops
    assert sum(op in ("LSTM", "GRU", "RNN") for op in ops) == len(MASKED_LAYERS[name](keras.layers))
    x = _masked_rows(np.random.default_rng(1))
    for batch in (1, 6):  # one row at a time and all together
        got = np.concatenate([session.run(None, {"x": x[i:i + batch]})[0] for i in range(0, len(x), batch)])
        np.testing.assert_allclose(got, np.asarray(model(x)), atol=1e-5, rtol=0)


def test_embedding_mask_with_gaps_and_initial_states_are_exact():
    keras.utils.set_random_seed(0)
    ids, h, c = keras.Input((None,), dtype="int32"), keras.Input((4,)), keras.Input((4,))
    y = keras.layers.Embedding(20, 3, mask_zero=True)(ids)
    y = keras.layers.LSTM(4, return_sequences=True)(y, initial_state=[h, c])
    model = keras.Model([ids, h, c], y)
    session, _, _ = native_session(model, [_spec("ids", None, None, dtype="int32"), _spec("h", None, 4),
                                           _spec("c", None, 4)])
    rng = np.random.default_rng(2)
    x = rng.integers(1, 20, size=(4, 6)).astype(np.int32)
    x[0, 4:] = 0
    x[1, :2] = 0
    x[2, [1, 3]] = 0
    x[3] = 0
    states = [rng.normal(size=(4, 4)).astype(np.float32) for _ in range(2)]
    got = session.run(None, {"ids": x, "h": states[0], "c": states[1]})[0]
    np.testing.assert_allclose(got, np.asarray(model([x, *states])), atol=1e-5, rtol=0)


def test_initial_states_bare_and_bidirectional_are_native_and_exact():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(5, 6, 2)).astype(np.float32)
    inputs, state = keras.Input((6, 2)), keras.Input((3,))
    gru = keras.Model([inputs, state], keras.layers.GRU(3)(inputs, initial_state=state))  # a bare tensor
    s = rng.normal(size=(5, 3)).astype(np.float32)
    session, _, _ = native_session(gru, [_spec("x", None, 6, 2), _spec("s", None, 3)])
    np.testing.assert_allclose(session.run(None, {"x": x, "s": s})[0], np.asarray(gru([x, s])), atol=1e-5, rtol=0)
    states = [keras.Input((2,)) for _ in range(4)]  # h, c forward, then h, c backward
    bilstm = keras.Model([inputs, *states], keras.layers.Bidirectional(keras.layers.LSTM(2, return_sequences=True))(
        inputs, initial_state=states))
    values = [rng.normal(size=(5, 2)).astype(np.float32) for _ in range(4)]
    session, onnx_model, _ = native_session(bilstm, [_spec("x", None, 6, 2)] + [_spec(f"s{k}", None, 2)
                                                                                 for k in range(4)])
    assert [n.op_type for n in onnx_model.graph.node].count("LSTM") == 1
    got = session.run(None, {"x": x, **{f"s{k}": v for k, v in enumerate(values)}})[0]
    np.testing.assert_allclose(got, np.asarray(bilstm([x, *values])), atol=1e-5, rtol=0)


def test_recurrent_outputs_have_shapes_and_a_users_py_function_is_refused():
    import tensorflow as tf

    inputs = keras.Input((None, 2))
    model = keras.Model(inputs, keras.layers.LSTM(3, return_sequences=True, return_state=True)(inputs))
    _, onnx_model, _ = native_session(model, [_spec("x", None, None, 2)])  # full checker inside
    assert [len(o.type.tensor_type.shape.dim) for o in onnx_model.graph.output] == [3, 2, 2]

    class Doubled(keras.layers.Layer):
        def call(self, t):
            out = tf.py_function(lambda v: v * 2, [t], tf.float32)
            out.set_shape(t.shape)
            return out

    inputs = keras.Input((5, 2))
    model = keras.Model(inputs, keras.layers.LSTM(3)(Doubled()(inputs)))
    with pytest.raises(ValueError, match="calls tf.py_function .*ONNX cannot run Python"):
        native_session(model, [_spec("x", None, 5, 2)])
