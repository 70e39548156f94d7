"""The Keras model of a recurrent forecaster (see `ForecastSpec`)."""

import keras
from keras import layers

from kerasseq.models.build import recurrent_layer


def build_forecaster(spec, n_features):
    """Compiled model: float32 series [batch, steps, n_features] → standardized forecast
    [batch, steps, 1] when `spec.window` is None (one per step), else [batch, 1] (the last step's)."""
    sequence_output = spec.window is None
    x = inputs = keras.Input(shape=(spec.window, n_features), dtype="float32", name="series")
    last = len(spec.recurrent) - 1
    for i, rec in enumerate(spec.recurrent):
        x = recurrent_layer(rec, return_sequences=sequence_output or i < last, name=f"{rec.kind}_{i}")(x)
    for i, units in enumerate(spec.dense):
        x = layers.Dense(units, activation="relu", name=f"dense_{i}")(x)
    outputs = layers.Dense(1, name="forecast")(x)
    model = keras.Model(inputs, outputs, name="forecaster")
    optimizer = keras.optimizers.get({"class_name": spec.optimizer, "config": {"learning_rate": spec.learning_rate}})
    model.compile(optimizer=optimizer, loss="mse")
    return model
