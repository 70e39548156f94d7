"""Keras models of a character-level LSTM language model: the training model and the step model."""

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="kerasseq")
class OneHot(keras.layers.Layer):
    """int ids [batch, steps] → float one-hot [batch, steps, depth] (`keras.ops` only)."""

    def __init__(self, depth, **kwargs):
        super().__init__(**kwargs)
        self.depth = depth

    def call(self, ids):
        return ops.one_hot(ops.cast(ids, "int32"), self.depth, dtype=self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.depth)

    def get_config(self):
        return {**super().get_config(), "depth": self.depth}


def _char_inputs(spec, vocab_size, ids):
    if spec.embedding_dim:
        return layers.Embedding(vocab_size, spec.embedding_dim, name="embedding")(ids)
    return OneHot(vocab_size, name="one_hot")(ids)


def build_char_lm(spec, vocab_size, stateful=False):
    """The compiled training model: char ids [batch, steps] → next-char logits [batch, steps, vocab].

    `stateful=True` fixes the batch at `spec.batch_size` rows of `spec.steps` and keeps each LSTM's
    state between batches (the "streams" scheme); reset it with `reset_lstm_states`.
    """
    if stateful:
        ids = keras.Input(batch_shape=(spec.batch_size, spec.steps), dtype="int32", name="char_ids")
    else:
        ids = keras.Input(shape=(None,), dtype="int32", name="char_ids")
    x = _char_inputs(spec, vocab_size, ids)
    for i, units in enumerate(spec.units):
        x = layers.LSTM(units, return_sequences=True, stateful=stateful, name=f"lstm_{i}")(x)
        if spec.dropout:
            x = layers.Dropout(spec.dropout, name=f"dropout_{i}")(x)
    logits = layers.Dense(vocab_size, name="logits")(x)
    model = keras.Model(ids, logits, name="char_lm")
    optimizer = keras.optimizers.Adam(spec.learning_rate, clipnorm=spec.clipnorm)
    model.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def build_step_model(spec, vocab_size):
    """The generation model, weights shared by name with `build_char_lm`'s:

    inputs  [char_ids int32 [batch, steps], h_0, c_0, h_1, c_1, ... float32 [batch, units]]
    outputs [logits float32 [batch, steps, vocab], then the states after the last step, same order]

    A prime runs as one call of many steps; each generated character is a call of one step.
    """
    ids = keras.Input(shape=(None,), dtype="int32", name="char_ids")
    states = [keras.Input(shape=(units,), name=f"{kind}_{i}")
              for i, units in enumerate(spec.units) for kind in ("h", "c")]
    x = _char_inputs(spec, vocab_size, ids)
    next_states = []
    for i, units in enumerate(spec.units):
        x, h, c = layers.LSTM(units, return_sequences=True, return_state=True, name=f"lstm_{i}")(
            x, initial_state=states[2 * i:2 * i + 2])
        next_states += [h, c]
        if spec.dropout:
            x = layers.Dropout(spec.dropout, name=f"dropout_{i}")(x)
    logits = layers.Dense(vocab_size, name="logits")(x)
    return keras.Model([ids, *states], [logits, *next_states], name="char_lm_step")


def copy_weights(source, target):
    """Copy trainable weights layer by layer (same names); stateful LSTM states stay behind."""
    for layer in target.layers:
        if layer.trainable_weights:
            src = source.get_layer(layer.name)
            for dst_w, src_w in zip(layer.trainable_weights, src.trainable_weights, strict=True):
                dst_w.assign(src_w)


def reset_lstm_states(model):
    for layer in model.layers:
        if getattr(layer, "stateful", False):
            layer.reset_states()
