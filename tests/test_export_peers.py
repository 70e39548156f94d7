"""The peer suite: recurrent models re-created from the test cases of tf2onnx and Keras, each exported
through `kerasseq.export.to_onnx`: native nodes, no Loop/Scan, the full ONNX checker, and parity
<= 1e-5 with Keras at batch sizes 1, 7 and 64 on generated rows (padding, masks, two lengths).

Sources of the cases (written anew here, not copied): onnx/tensorflow-onnx
`tests/keras2onnx_unit_tests/test_layers.py` (SimpleRNN, GRU, LSTM with and without bias, initial
states, return_state, Bidirectional, stacked, masking), `tests/test_lstm.py` and `tests/test_gru.py`
(cell options, go_backwards, dropout), and keras-team/keras `keras/src/layers/rnn/*_test.py`
(simple_rnn, gru, lstm, bidirectional: merge modes, initial states, masking, go_backwards).
"""

import pytest

from kerasseq.export import to_onnx

keras = pytest.importorskip("keras")
L = keras.layers


def seq(*layers, shape=(None, 5)):
    return keras.Sequential([keras.Input(shape), *layers])


def with_states(layer, units, count):
    """layer(x, initial_state=...) with `count` state inputs of `units` (a bare tensor when count is 1)."""
    x = keras.Input((None, 5))
    states = [keras.Input((units,)) for _ in range(count)]
    return keras.Model([x, *states], layer(x, initial_state=states[0] if count == 1 else states))


def functional(build, *inputs):
    return keras.Model(list(inputs) if len(inputs) > 1 else inputs[0], build(*inputs))


def ids_input():
    return keras.Input((None,), dtype="int32")


CASES = {
    "simplernn": lambda: seq(L.SimpleRNN(6)),
    "simplernn-sequences": lambda: seq(L.SimpleRNN(6, return_sequences=True)),
    "simplernn-relu": lambda: seq(L.SimpleRNN(6, activation="relu")),
    "simplernn-no-bias": lambda: seq(L.SimpleRNN(6, use_bias=False)),
    "simplernn-return-state": lambda: functional(lambda x: L.SimpleRNN(6, return_state=True)(x), keras.Input((None, 5))),
    "simplernn-initial-state": lambda: with_states(L.SimpleRNN(4), 4, 1),
    "gru-reset-after": lambda: seq(L.GRU(6)),
    "gru-reset-before": lambda: seq(L.GRU(6, reset_after=False)),
    "gru-no-bias": lambda: seq(L.GRU(6, use_bias=False)),
    "gru-sequences": lambda: seq(L.GRU(6, return_sequences=True)),
    "gru-return-state": lambda: functional(lambda x: L.GRU(6, return_state=True)(x), keras.Input((None, 5))),
    "gru-hard-sigmoid": lambda: seq(L.GRU(6, recurrent_activation="hard_sigmoid")),
    "gru-initial-state-bare-tensor": lambda: with_states(L.GRU(4), 4, 1),
    "lstm": lambda: seq(L.LSTM(6)),
    "lstm-sequences": lambda: seq(L.LSTM(6, return_sequences=True)),
    "lstm-no-bias": lambda: seq(L.LSTM(6, use_bias=False)),
    "lstm-no-unit-forget-bias": lambda: seq(L.LSTM(6, unit_forget_bias=False)),
    "lstm-return-state": lambda: functional(lambda x: L.LSTM(6, return_state=True)(x), keras.Input((None, 5))),
    "lstm-initial-state": lambda: with_states(L.LSTM(4, return_sequences=True), 4, 2),
    "lstm-go-backwards": lambda: seq(L.LSTM(6, go_backwards=True, return_sequences=True)),
    "lstm-dropouts": lambda: seq(L.LSTM(6, dropout=0.3, recurrent_dropout=0.3)),
    "lstm-hard-sigmoid-relu": lambda: seq(L.LSTM(6, recurrent_activation="hard_sigmoid", activation="relu")),
    "bilstm-concat": lambda: seq(L.Bidirectional(L.LSTM(4))),
    "bilstm-sum-sequences": lambda: seq(L.Bidirectional(L.LSTM(4, return_sequences=True), merge_mode="sum")),
    "bigru-mul": lambda: seq(L.Bidirectional(L.GRU(4), merge_mode="mul")),
    "bisimplernn-ave": lambda: seq(L.Bidirectional(L.SimpleRNN(4), merge_mode="ave")),
    "bilstm-initial-state": lambda: with_states(L.Bidirectional(L.LSTM(4)), 4, 4),
    "stacked-lstm-gru-simplernn": lambda: seq(L.LSTM(6, return_sequences=True), L.GRU(5, return_sequences=True),
                                              L.SimpleRNN(4)),
    "embedding-lstm": lambda: functional(lambda i: L.LSTM(6)(L.Embedding(40, 6)(i)), ids_input()),
    "embedding-masked-bigru-lstm": lambda: functional(
        lambda i: L.LSTM(4)(L.Bidirectional(L.GRU(4, return_sequences=True))(L.Embedding(40, 6, mask_zero=True)(i))),
        ids_input()),
    "masking-lstm-sequences": lambda: seq(L.Masking(0.0), L.LSTM(6, return_sequences=True)),
    "masking-go-backwards-gru": lambda: seq(L.Masking(0.0), L.GRU(6, go_backwards=True)),
    "conv1d-gru": lambda: seq(L.Conv1D(8, 3, padding="same"), L.GRU(6)),
    "dense-lstm": lambda: seq(L.Dense(8, activation="relu"), L.LSTM(6)),
    "lstm-global-max-pool": lambda: seq(L.LSTM(6, return_sequences=True), L.GlobalMaxPooling1D()),
    "lstm-self-attention": lambda: functional(lambda x: L.GlobalAveragePooling1D()(
        L.Attention()([h := L.LSTM(6, return_sequences=True)(x), h])), keras.Input((None, 5))),
    "nested-models": lambda: functional(lambda x: L.Dense(2)(keras.Model(
        y := keras.Input((None, 4)), L.LSTM(3)(L.Masking(0.0)(y)), name="inner_masked")(
        keras.Sequential([keras.Input((None, 5)), L.Dense(4), L.GRU(4, return_sequences=True)], name="inner")(x))),
        keras.Input((None, 5))),
    "two-inputs-two-outputs": lambda: functional(lambda a, b: [L.GRU(4, name="gru_a")(a), L.LSTM(3, name="lstm_b")(b)],
                                                 keras.Input((None, 5)), keras.Input((7, 2))),
}

RECURRENT = (L.SimpleRNN, L.GRU, L.LSTM, L.Bidirectional)


def recurrent_layers(model):
    """Recurrent layers of `model`, those of nested models included."""
    return sum(recurrent_layers(layer) if isinstance(layer, keras.Model) else isinstance(layer, RECURRENT)
               for layer in model.layers)


@pytest.mark.parametrize("name", sorted(CASES))
def test_peer_model_exports_native_and_exact(name):
    keras.utils.set_random_seed(0)
    model = CASES[name]()
    report = to_onnx(model).report  # validates (<= 1e-5 at 1, 7, 64) and runs the full ONNX checker
    assert report["passed"] and report["max_abs_diff"] <= 1e-5
    assert report["loop_nodes"] == 0 and not report["not_native"], report["not_native"]
    assert sum(report["recurrent_nodes"].values()) == recurrent_layers(model)
