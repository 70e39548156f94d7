"""tf2onnx export of a forecast bundle's model, validated against Keras.

The ONNX model takes float32 `series` [batch, steps, features] (steps fixed to the window for
daily prices, any length for weekly sales) and returns the standardized `forecast`; the serving
code applies the bundle's scalers. Recurrent layers are native ONNX nodes (see `native_rnn`).
"""

import time

import numpy as np

from kerasseq import bundle

TOLERANCE = 1e-5
BATCH_SIZES = (1, 7, 64)


def export_forecast_bundle(bundle_dir, opset=17, tolerance=TOLERANCE, seed=0):
    """Convert `model.keras` to `model.onnx`, compare outputs with Keras on the bundle's test
    inputs and random ones at batch sizes 1, 7 and 64, and write `export_report.json`
    (`model.onnx` only when the largest difference is within `tolerance`)."""
    import onnxruntime as ort

    from kerasseq.export.native_rnn import cpu_clone
    from kerasseq.export.onnx_export import _versions, checked_bytes, graph_summary, save_export
    from kerasseq.models import load_model

    config = bundle.read_forecast(bundle_dir)
    model = cpu_clone(load_model(bundle.bundle_file(bundle_dir, bundle.KERAS_MODEL)))
    started = time.perf_counter()
    onnx_model, not_native = convert_series(model, opset)
    convert_seconds = time.perf_counter() - started
    model_bytes = checked_bytes(onnx_model, preset=config.get("preset"), task=bundle.FORECAST_TASK)
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])

    groups = validation_inputs(bundle_dir, model, seed)
    by_batch = {}
    for b in BATCH_SIZES:
        worst = 0.0
        for x in groups.values():
            want = np.asarray(model(x, training=False))
            got = np.concatenate([session.run([bundle.FORECAST_OUTPUT], {bundle.SERIES_INPUT: x[i:i + b]})[0]
                                  for i in range(0, len(x), b)])
            worst = max(worst, float(np.abs(got - want).max()))
        by_batch[str(b)] = worst
    worst = max(by_batch.values())
    report = {
        "passed": worst <= tolerance,
        "task": bundle.FORECAST_TASK,
        "max_abs_diff": worst,
        "max_abs_diff_by_batch_size": by_batch,
        "rows": {name: int(len(x)) for name, x in groups.items()},
        "tolerance": tolerance,
        "opset": opset,
        **graph_summary(onnx_model),
        "not_native": not_native,
        "input": {"name": bundle.SERIES_INPUT, "dtype": "float32", "shape": ["batch", model.inputs[0].shape[1] or
                                                                              "steps", model.inputs[0].shape[2]]},
        "output": {"name": bundle.FORECAST_OUTPUT, "dtype": "float32", "shape": ["batch", *(
            ["steps", 1] if len(model.outputs[0].shape) == 3 else [1])]},
        "onnx_bytes": len(model_bytes),
        "convert_seconds": round(convert_seconds, 2),
        "versions": _versions(),
    }
    return save_export(bundle_dir, report, model_bytes, f"ONNX forecast differs from Keras by {worst:.3g} "
                                                         f"(> {tolerance:g})")


def convert_series(model, opset=17):
    """tf2onnx: float32 `series` [batch, steps, features] → float32 `forecast`."""
    import tensorflow as tf

    from kerasseq.export.native_rnn import convert_function, native_clone
    from kerasseq.export.onnx_export import _name_axes

    clone, specs, not_native = native_clone(model)
    steps, features = model.inputs[0].shape[1], model.inputs[0].shape[2]
    signature = [tf.TensorSpec([None, steps, features], tf.float32, name=bundle.SERIES_INPUT)]

    @tf.function(input_signature=signature)
    def forecast(series):
        return {bundle.FORECAST_OUTPUT: clone(series, training=False)}

    onnx_model = convert_function(forecast, signature, specs, opset)
    _name_axes(onnx_model.graph.input[0], "batch", *(["steps"] if steps is None else []))
    _name_axes(onnx_model.graph.output[0], "batch", *(["steps"] if steps is None else []))
    return onnx_model, not_native


def validation_inputs(bundle_dir, model, seed=0):
    """{"test": the bundle's test inputs, "random": standard-normal inputs (also at other lengths
    when the model takes any number of steps)}, float32 [rows, steps, features]."""
    rng = np.random.default_rng(seed)
    steps, features = model.inputs[0].shape[1], model.inputs[0].shape[2]
    groups = {}
    try:
        inputs = bundle.read_json(bundle.bundle_file(bundle_dir, bundle.SAMPLES))["inputs"]
        if inputs:
            groups["test"] = np.asarray(inputs, np.float32)
    except FileNotFoundError:
        pass
    groups["random"] = rng.normal(size=(128, steps or 20, features)).astype(np.float32)
    if steps is None:
        groups["random_short"] = rng.normal(size=(64, 3, features)).astype(np.float32)
    return groups
