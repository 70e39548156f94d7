"""`kerasseq.export.to_onnx` / `validate` and `kerasseq export MODEL_FILE`: a user's own Keras model."""

import json

import numpy as np
import onnx
import pytest

from kerasseq.cli import main
from kerasseq.export import ExportValidationError, sample_inputs, to_onnx, validate

keras = pytest.importorskip("keras")
L = keras.layers


def _models():
    keras.utils.set_random_seed(0)
    ids = keras.Input((None,), dtype="int32", name="token_ids")
    embedded = L.Embedding(50, 8, mask_zero=True)(ids)
    series, extra = keras.Input((10, 3), name="series"), keras.Input((5,), name="extra")
    masked = keras.Input((None, 3))
    return {
        "sequential-lstm": keras.Sequential([keras.Input((None, 4)), L.LSTM(8), L.Dense(2, activation="softmax")]),
        "masked-bigru-two-outputs": keras.Model(ids, [L.Bidirectional(L.GRU(4), name="pooled")(embedded),
                                                      L.Dense(1, name="direct")(L.GlobalAveragePooling1D()(embedded))]),
        "conv-simplernn-two-inputs": keras.Model([series, extra], L.Concatenate()([L.SimpleRNN(6)(L.Conv1D(4, 3)(series)),
                                                                                   extra])),
        "masking-stacked-sequences": keras.Model(masked, L.GRU(3, return_sequences=True)(
            L.LSTM(5, return_sequences=True)(L.Masking(0.0)(masked)))),
    }


@pytest.mark.parametrize("name", sorted(_models()))
def test_user_models_export_native_exact_and_checked(name, tmp_path):
    model = _models()[name]
    result = to_onnx(model, tmp_path / "model.onnx")
    report = result.report
    assert report["passed"] and report["max_abs_diff"] <= 1e-5 and report["loop_nodes"] == 0
    assert sum(report["recurrent_nodes"].values()) >= 1 and not report["not_native"]
    assert set(report["max_abs_diff_by_batch_size"]) == {"1", "7", "64"}
    saved = onnx.load(tmp_path / "model.onnx")
    onnx.checker.check_model(saved, full_check=True)
    assert [o.name for o in saved.graph.output] == [o["name"] for o in report["outputs"]]
    assert json.loads((tmp_path / "model.export_report.json").read_text())["max_abs_diff"] == report["max_abs_diff"]
    if name == "masked-bigru-two-outputs":
        assert [i.name for i in saved.graph.input] == ["token_ids"]
        assert [o.name for o in saved.graph.output] == ["pooled", "direct"]  # Keras's order, not tf2onnx's
        assert [d.dim_param for d in saved.graph.input[0].type.tensor_type.shape.dim] == ["batch", "sequence"]


def test_generated_rows_cover_padding_and_two_lengths():
    model = _models()["masked-bigru-two-outputs"]
    groups = sample_inputs(model)
    assert sorted(groups) == ["steps 4", "steps 9"]
    ids = groups["steps 9"][0]
    assert ids.dtype == np.int32 and ids.max() < 50 and (ids == 0).all(axis=1).any()  # all-padding rows
    assert ((ids[:, 0] == 0) & (ids[:, -1] != 0)).any() and ((ids[:, 0] != 0) & (ids[:, -1] == 0)).any()


def test_validate_names_the_output_and_batch_size_that_differ():
    models = _models()
    other = keras.models.clone_model(models["sequential-lstm"])  # same architecture, other weights
    onnx_model = to_onnx(other).model
    with pytest.raises(ExportValidationError, match=r"output 'dense\w*' differs from Keras by .* at batch size \d+"):
        validate(models["sequential-lstm"], onnx_model)
    report = validate(other, onnx_model, [np.random.default_rng(0).normal(size=(10, 6, 4)).astype(np.float32)])
    assert report["passed"] and report["rows"] == {"given": 10}


def test_models_without_an_onnx_equivalent_get_a_clear_error():
    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.lstm = L.LSTM(3)

        def call(self, x):
            return self.lstm(x)

    subclassed = Subclassed()
    subclassed(np.zeros((1, 4, 2), np.float32))
    with pytest.raises(ValueError, match="subclassed model .* Functional or Sequential"):
        to_onnx(subclassed)
    stateful = keras.Sequential([keras.Input((4, 2), batch_size=1), L.LSTM(3, stateful=True, name="memory")])
    with pytest.raises(ValueError, match="layer memory is stateful"):
        to_onnx(stateful)


def test_cli_exports_a_model_file_and_guards_its_output(tmp_path, capsys):
    model_path = tmp_path / "mine.keras"
    _models()["masking-stacked-sequences"].save(model_path)
    assert main(["export", str(model_path)]) == 0
    out = capsys.readouterr().out
    assert "exported" in out and "recurrent nodes {'GRU': 1, 'LSTM': 1}" in out and "Loop/Scan nodes 0" in out
    assert (tmp_path / "mine.onnx").is_file() and (tmp_path / "mine.export_report.json").is_file()
    assert main(["export", str(model_path)]) == 0  # kerasseq's own file: replaced
    notes = tmp_path / "notes.onnx"
    notes.write_text("not a model")
    assert main(["export", str(model_path), "--output", str(notes)]) == 1
    assert "not an ONNX model exported by kerasseq" in capsys.readouterr().err and notes.read_text() == "not a model"
    assert main(["export", str(model_path), "--output", str(notes), "--overwrite"]) == 0
    onnx.checker.check_model(onnx.load(notes), full_check=True)


def test_cli_validates_on_the_users_own_samples(tmp_path, capsys):
    model_path = tmp_path / "mine.keras"
    _models()["sequential-lstm"].save(model_path)
    samples = tmp_path / "rows.npz"
    np.savez(samples, np.random.default_rng(0).normal(size=(12, 6, 4)).astype(np.float32))
    assert main(["export", str(model_path), "--samples", str(samples)]) == 0
    assert "over 12 rows" in capsys.readouterr().out
    assert json.loads((tmp_path / "mine.export_report.json").read_text())["rows"] == {"given": 12}
    (tmp_path / "bad.npz").write_text("not numpy")
    assert main(["export", str(model_path), "--samples", str(tmp_path / "bad.npz")]) == 1
    assert "--samples" in capsys.readouterr().err
    np.savez(tmp_path / "wrong.npz", np.zeros((3, 6, 7), np.float32))  # 7 features where the model takes 4
    assert main(["export", str(model_path), "--samples", str(tmp_path / "wrong.npz")]) == 1
    assert "inputs[0] has shape [3, 6, 7]; the model's input takes ['batch', 'any', 4]" in capsys.readouterr().err
    (tmp_path / "corrupt.keras").write_bytes(b"PK\x03\x04garbage")
    assert main(["export", str(tmp_path / "corrupt.keras")]) == 1
    assert "Keras could not load this model file" in capsys.readouterr().err


def test_a_users_model_and_keras_tokenizer_become_a_served_bundle(tmp_path, uci, capsys):
    """Bring your own: a Keras classifier trained on Keras Tokenizer ids, its tokenizer's to_json(), and
    `kerasseq bundle` → a bundle whose Predictor gives the ids and scores Keras gives, without TensorFlow."""
    from keras.src.legacy.preprocessing.text import Tokenizer as KerasTokenizer

    from kerasseq.serve import Predictor

    texts, labels = list(uci.texts[:600]), np.asarray(uci.labels[:600])
    keras_tokenizer = KerasTokenizer(num_words=500, oov_token="<OOV>")
    keras_tokenizer.fit_on_texts(texts)
    ids = keras.utils.pad_sequences(keras_tokenizer.texts_to_sequences(texts), maxlen=20, padding="post")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((None,), dtype="int32"), L.Embedding(500, 8, mask_zero=True),
                              L.Bidirectional(L.GRU(8)), L.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy")
    model.fit(ids, labels, epochs=2, verbose=0)
    model.save(tmp_path / "mine.keras")
    (tmp_path / "tokenizer.json").write_text(keras_tokenizer.to_json())
    out = tmp_path / "bundle"
    assert main(["bundle", "--model", str(tmp_path / "mine.keras"), "--keras-tokenizer", str(tmp_path / "tokenizer.json"),
                 "--maxlen", "20", "--padding", "post", "--truncating", "post", "--out", str(out)]) == 0
    assert "max |onnx - keras|" in capsys.readouterr().out
    predictor = Predictor(out)
    held_out = list(uci.texts[600:900])
    want_ids = keras.utils.pad_sequences(keras_tokenizer.texts_to_sequences(held_out), maxlen=20, padding="post",
                                         truncating="post")
    np.testing.assert_array_equal(predictor.encode(held_out), want_ids)
    np.testing.assert_allclose(predictor.predict_proba(held_out)[:, 1], np.asarray(model(want_ids))[:, 0], atol=1e-5)
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "notes.txt").write_text("keep")
    assert main(["bundle", "--model", str(tmp_path / "mine.keras"), "--keras-tokenizer", str(tmp_path / "tokenizer.json"),
                 "--maxlen", "20", "--out", str(tmp_path / "project")]) == 1
    assert (tmp_path / "project" / "notes.txt").read_text() == "keep"
