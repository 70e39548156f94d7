"""Bahdanau (additive) attention pooling over RNN outputs, written with `keras.ops` only."""

import keras
from keras import ops

# Added to the scores of masked steps before the softmax: far enough below any real score that
# exp() underflows to exactly 0, small enough to stay finite in float16.
_MASKED_SCORE = -1e4


@keras.saving.register_keras_serializable(package="kerasseq")
class BahdanauAttention(keras.layers.Layer):
    """Additive attention (Bahdanau, Cho & Bengio, 2015) that pools a sequence into one vector.

    For RNN outputs h_1..h_T and an optional query q (for example the final state):

        score_t = vᵀ tanh(W h_t + U q + b)      (without a query the U q term is absent)
        weights = softmax(score) over t
        context = Σ_t weights_t h_t

    Masked steps (a Keras mask, or `mask=` given explicitly) get weight exactly 0; a row whose
    steps are all masked gets all-zero weights and a zero context.

    Args:
        units: size of the hidden scoring layer (W, U, b, v).

    Call arguments:
        values: [batch, steps, features], the RNN outputs.
        query: optional [batch, query_features].
        mask: optional boolean [batch, steps]; False marks padding.
        return_weights: also return the weights [batch, steps].

    Returns the context [batch, features], or (context, weights) with `return_weights=True`.
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(units, int) or isinstance(units, bool) or units < 1:
            raise ValueError(f"units must be a positive int, got {units!r}")
        self.units = units
        self.supports_masking = True

    def build(self, values_shape, query_shape=None):
        features = values_shape[-1]
        self.w = self.add_weight(name="w", shape=(features, self.units), initializer="glorot_uniform")
        self.b = self.add_weight(name="b", shape=(self.units,), initializer="zeros")
        self.v = self.add_weight(name="v", shape=(self.units, 1), initializer="glorot_uniform")
        self.u = None
        if query_shape is not None:
            self.u = self.add_weight(name="u", shape=(query_shape[-1], self.units), initializer="glorot_uniform")

    def call(self, values, query=None, mask=None, return_weights=False):
        hidden = ops.matmul(values, self.w) + self.b
        if query is not None:
            if self.u is None:
                raise ValueError("this BahdanauAttention was built without a query; call it the same way")
            hidden = hidden + ops.expand_dims(ops.matmul(query, self.u), 1)
        scores = ops.squeeze(ops.matmul(ops.tanh(hidden), self.v), -1)
        weights = masked_softmax(scores, mask)
        context = ops.sum(values * ops.expand_dims(weights, -1), axis=1)
        return (context, weights) if return_weights else context

    def compute_mask(self, values, mask=None):
        return None  # the steps are pooled away: nothing left to mask

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def masked_softmax(scores, mask=None):
    """Softmax over the last axis; masked entries are exactly 0, fully masked rows are all 0."""
    if mask is None:
        return ops.softmax(scores, axis=-1)
    keep = ops.cast(mask, scores.dtype)
    scores = ops.where(ops.cast(mask, "bool"), scores, _MASKED_SCORE)
    exp = ops.exp(scores - ops.max(scores, axis=-1, keepdims=True)) * keep
    total = ops.sum(exp, axis=-1, keepdims=True)
    return exp / ops.maximum(total, keras.config.epsilon())


@keras.saving.register_keras_serializable(package="kerasseq")
class PaddingMask(keras.layers.Layer):
    """True where a token id is not the padding id 0: a mask for the attention scores only.

    Giving this mask to `BahdanauAttention` (and not to the recurrent layers) leaves the RNNs
    unmasked, so they keep the cuDNN path and export as native ONNX nodes.
    """

    def call(self, token_ids):
        return ops.not_equal(token_ids, 0)

    def compute_output_shape(self, input_shape):
        return input_shape


def with_attention_output(model):
    """`model` with the weights of its (last) BahdanauAttention as a second output, or `model`
    itself when it has none. Models built by kerasseq always keep those weights in their graph."""
    layers = [layer for layer in model.layers if isinstance(layer, BahdanauAttention)]
    if not layers:
        return model
    outputs = layers[-1].output
    if not isinstance(outputs, (list, tuple)):
        raise ValueError(f"attention layer {layers[-1].name!r} was called without return_weights=True, "
                         "so the model has no attention weights to output")
    return keras.Model(model.input, [model.outputs[0], outputs[1]], name=model.name)
