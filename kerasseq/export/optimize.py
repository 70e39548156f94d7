"""onnxruntime graph optimization and int8 dynamic quantization of an exported model."""

import tempfile
import time
from pathlib import Path

import numpy as np

from kerasseq import bundle


def median_seconds(fn, repeats, warmup=5):
    """Median wall time of `fn()` over `repeats` calls, after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def ort_optimized(model_bytes):
    """The graph after onnxruntime's basic optimizations (constant folding, redundant nodes),
    saved as plain ONNX so that it still runs on any provider."""
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "optimized.onnx"
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = str(path)
        ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
        return path.read_bytes()


def quantize_int8(model_bytes):
    """Dynamic int8 quantization (onnxruntime.quantization): int8 weights for Gather (the
    embedding), MatMul and LSTM; activations stay float and are quantized on the fly."""
    import onnx
    from onnxruntime.quantization import QuantType, quant_pre_process, quantize_dynamic

    model = onnx.load_from_string(model_bytes)
    with tempfile.TemporaryDirectory() as tmp:
        source, path = Path(tmp) / "float.onnx", Path(tmp) / "int8.onnx"
        source.write_bytes(model_bytes)
        quant_pre_process(str(source), str(source), skip_symbolic_shape=True)  # ONNX shape inference + cleanup
        quantize_dynamic(source, path, weight_type=QuantType.QInt8)
        quantized = onnx.load(path)
    onnx.helper.set_model_props(quantized, {p.key: p.value for p in model.metadata_props})
    return quantized.SerializeToString()


def compare_models(float_bytes, int8_bytes, ids, labels, repeats=200):
    """Size, batch-1 median latency and accuracy on labelled rows, for both models."""
    import onnxruntime as ort

    result = {}
    for name, model_bytes in (("float32", float_bytes), ("int8", int8_bytes)):
        session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
        probabilities = session.run([bundle.ONNX_OUTPUT], {bundle.ONNX_INPUT: ids})[0]
        seconds = median_seconds(lambda: session.run([bundle.ONNX_OUTPUT], {bundle.ONNX_INPUT: ids[:1]}),
                                 repeats, warmup=10)
        result[name] = {
            "bytes": len(model_bytes),
            "batch1_median_ms": round(seconds * 1000, 4),
            "accuracy": float((probabilities.argmax(1) == labels).mean()) if len(labels) else None,
            "probabilities": probabilities,
        }
    diff = np.abs(result["float32"].pop("probabilities") - result["int8"].pop("probabilities"))
    result["rows"] = int(len(labels))
    result["max_abs_probability_diff"] = float(diff.max()) if diff.size else 0.0
    if len(labels):
        result["accuracy_drop_points"] = round(100 * (result["float32"]["accuracy"] - result["int8"]["accuracy"]), 3)
    return result
