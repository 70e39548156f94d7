"""tf2onnx conversion of a bundle's model, parity validation and the export report."""

import json
import platform
import time
from collections import Counter
from pathlib import Path

import numpy as np

from kerasseq import __version__, bundle
from kerasseq.export.optimize import compare_models, ort_optimized, quantize_int8

DEFAULT_OPSET = 17
TOLERANCE = 1e-5
BATCH_SIZES = (1, 7, 64)
MIN_ROWS = 256


class ExportValidationError(RuntimeError):
    """ONNX outputs differ from Keras by more than the tolerance."""


def export_bundle(bundle_dir, opset=DEFAULT_OPSET, tolerance=TOLERANCE, seed=0, optimize=False, quantize=None):
    """Convert `model.keras` to `model.onnx`, validate it, and write `export_report.json`.

    `optimize=True` saves onnxruntime's optimized graph (validated like the plain one);
    `quantize="int8"` also writes `model.int8.onnx` and reports its size, latency and accuracy
    next to the float model's. The report is written in every case; the models only when
    validation passes (otherwise ExportValidationError is raised).
    """
    import onnx

    from kerasseq.export.native_rnn import cpu_clone
    from kerasseq.models import load_model

    check_export_setup(opset)
    if quantize not in (None, "int8"):
        raise ValueError(f'quantize must be None or "int8", got {quantize!r}')
    task = bundle.read_task(bundle_dir)
    if task != "text-classification" and (optimize or quantize):
        raise ValueError("optimize and quantize apply to text-classification bundles only")
    if task == bundle.GENERATION_TASK:
        from kerasseq.export.step_export import export_generation_bundle

        return export_generation_bundle(bundle_dir, opset=opset, seed=seed)
    if task == bundle.FORECAST_TASK:
        from kerasseq.export.series_export import export_forecast_bundle

        return export_forecast_bundle(bundle_dir, opset=opset, seed=seed)
    encoder, labels, prep = bundle.read_preprocessing(bundle_dir)
    model_path = bundle.bundle_file(bundle_dir, bundle.KERAS_MODEL)
    model = cpu_clone(load_model(model_path))

    started = time.perf_counter()
    onnx_model, not_native = convert(model, opset)
    convert_seconds = time.perf_counter() - started
    model_bytes = checked_bytes(onnx_model, preset=prep.get("preset"), labels=json.dumps(labels), task=prep["task"],
                                vocab_size=prep["vocab_size"])
    if optimize:
        model_bytes = ort_optimized(model_bytes)
        onnx_model = onnx.load_from_string(model_bytes)

    samples = _samples(bundle_dir)
    rows, row_kinds = validation_rows(encoder, prep["vocab_size"], samples["texts"], seed)
    expected = keras_outputs(model, rows)
    diffs = {name: {} for name in expected}
    for b in BATCH_SIZES:
        for name, got in onnx_outputs(model_bytes, rows, b, list(expected)).items():
            diffs[name][str(b)] = float(np.abs(got - expected[name]).max())
    by_batch = {str(b): max(d[str(b)] for d in diffs.values()) for b in BATCH_SIZES}
    worst = max(by_batch.values())
    report = {
        "passed": worst <= tolerance,
        "max_abs_diff": worst,
        "max_abs_diff_by_batch_size": by_batch,
        "max_abs_diff_by_output": {name: max(d.values()) for name, d in diffs.items()},
        "tolerance": tolerance,
        "rows": row_kinds,
        "opset": opset,
        "optimized": bool(optimize),
        **graph_summary(onnx_model),
        "not_native": not_native,
        "cuda_cpu_fallback": cuda_fallback_nodes(onnx_model),
        "input": {"name": bundle.ONNX_INPUT, "dtype": "int32", "shape": ["batch", "sequence"]},
        "output": {"name": bundle.ONNX_OUTPUT, "dtype": "float32", "shape": ["batch", len(labels)]},
        "outputs": [{"name": bundle.ONNX_OUTPUT, "dtype": "float32", "shape": ["batch", len(labels)]}]
        + ([{"name": bundle.ATTENTION_OUTPUT, "dtype": "float32", "shape": ["batch", "sequence"]}]
           if bundle.ATTENTION_OUTPUT in expected else []),
        "labels": labels,
        "onnx_bytes": len(model_bytes),
        "convert_seconds": round(convert_seconds, 2),
        "versions": _versions(),
    }
    extra = {}
    if report["passed"] and quantize == "int8":
        int8_bytes = quantize_int8(model_bytes)
        report["int8"] = compare_models(model_bytes, int8_bytes, encoder.encode(samples["texts"]),
                                        np.asarray(samples["labels"], np.int64))
        extra[bundle.INT8_MODEL] = int8_bytes
    # An int8 model made from the replaced model.onnx would be stale: it goes unless re-made now.
    stale = [] if extra else [bundle.INT8_MODEL]
    return save_export(bundle_dir, report, model_bytes,
                       f"ONNX output differs from Keras by {worst:.3g} (> {tolerance:g})", extra, stale)


def graph_summary(onnx_model):
    """Op-type counts, Loop/Scan nodes and native recurrent nodes of an ONNX graph."""
    op_types = Counter(node.op_type for node in onnx_model.graph.node)
    return {"op_types": dict(sorted(op_types.items())),
            "loop_nodes": op_types.get("Loop", 0) + op_types.get("Scan", 0),
            "recurrent_nodes": {op: op_types[op] for op in ("RNN", "GRU", "LSTM") if op in op_types}}


def check_export_setup(opset):
    """A clear error unless `opset` is one tf2onnx supports and Keras runs on TensorFlow (which tf2onnx traces)."""
    import keras

    if not isinstance(opset, int) or not 13 <= opset <= 18:
        raise ValueError(f"opset must be an int from 13 to 18 (tf2onnx's range), got {opset!r}")
    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(f"export traces the model with TensorFlow (tf2onnx), but KERAS_BACKEND is "
                           f"{keras.backend.backend()!r}: run it with KERAS_BACKEND=tensorflow")


def tag_and_check(onnx_model, **props):
    """`onnx_model` tagged (`kerasseq_version` and `props` as metadata) after the full ONNX checker passed."""
    import onnx

    onnx.helper.set_model_props(onnx_model, {"kerasseq_version": __version__, **{k: str(v) for k, v in props.items()}})
    onnx.checker.check_model(onnx_model, full_check=True)
    return onnx_model


def checked_bytes(onnx_model, **props):
    """The serialized model after `tag_and_check`."""
    return tag_and_check(onnx_model, **props).SerializeToString()


def save_export(bundle_dir, report, model_bytes, failure, extra_models=None, stale=()):
    """Write `export_report.json` and, when the report passed, `model.onnx` (and `extra_models`,
    name → bytes), each atomically, and remove the `stale` files made from the old model.onnx;
    otherwise raise ExportValidationError starting with `failure`."""
    files = {bundle.EXPORT_REPORT: lambda path: bundle.write_json(path, report)}
    if report["passed"]:
        for name, data in {bundle.ONNX_MODEL: model_bytes, **(extra_models or {})}.items():
            files[name] = lambda path, data=data: Path(path).write_bytes(data)
        report["removed_stale"] = [name for name in stale if (Path(bundle_dir) / name).exists()]
    bundle.replace_files(bundle_dir, files, remove=stale if report["passed"] else ())
    if not report["passed"]:
        raise ExportValidationError(f"{failure}; model.onnx not written, see {bundle_dir}/{bundle.EXPORT_REPORT}")
    return report


def convert(model, opset=DEFAULT_OPSET):
    """tf2onnx: int32 `token_ids` [batch, sequence] → float32 `probabilities` [batch, classes],
    plus float32 `attention_weights` [batch, sequence] for a model with attention pooling.

    Recurrent layers become native ONNX RNN/GRU/LSTM nodes (see `native_rnn`); returns the ONNX
    model and the list of layers that could not be made native (they become a `Loop`).
    """
    import tensorflow as tf

    from kerasseq.export.native_rnn import convert_function, native_clone
    from kerasseq.models.attention import with_attention_output

    clone, specs, not_native = native_clone(with_attention_output(model))
    binary = model.outputs[0].shape[-1] == 1

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32, name=bundle.ONNX_INPUT)])
    def serve(token_ids):
        outputs = clone(token_ids, training=False)
        p = outputs[0] if isinstance(outputs, (list, tuple)) else outputs
        if binary:
            p = tf.concat([1.0 - p, p], axis=-1)
        if isinstance(outputs, (list, tuple)):
            return {bundle.ONNX_OUTPUT: p, bundle.ATTENTION_OUTPUT: outputs[1]}
        return {bundle.ONNX_OUTPUT: p}

    onnx_model = convert_function(serve, serve.input_signature, specs, opset)
    _name_axes(onnx_model.graph.input[0], "batch", "sequence")
    for output in onnx_model.graph.output:  # probabilities keep their fixed class axis
        _name_axes(output, *(["batch", "sequence"] if output.name == bundle.ATTENTION_OUTPUT else ["batch"]))
    return onnx_model, not_native


def cuda_fallback_nodes(onnx_model):
    """Recurrent nodes that onnxruntime's CUDA provider would leave on the CPU, with the reason.

    The CUDA RNN/GRU/LSTM kernels need default activations, no clip, and GRU linear_before_reset=1.
    """
    import onnx

    flagged = []
    for node in onnx_model.graph.node:
        if node.op_type not in ("RNN", "GRU", "LSTM"):
            continue
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        reasons = []
        if "activations" in attrs:
            reasons.append("non-default activations")
        if "clip" in attrs:
            reasons.append("clip")
        if node.op_type == "GRU" and attrs.get("linear_before_reset", 0) != 1:
            reasons.append("GRU linear_before_reset=0 (Keras reset_after=False)")
        if reasons:
            flagged.append({"node": node.name, "op": node.op_type, "reasons": reasons})
    return flagged


def _name_axes(value_info, *names):
    for dim, name in zip(value_info.type.tensor_type.shape.dim, names):
        dim.ClearField("dim_value")
        dim.dim_param = name


def keras_outputs(model, rows):
    """Keras reference in the ONNX output layout: {"probabilities": [batch, classes] (two columns
    for sigmoid), "attention_weights": [batch, sequence] for a model with attention pooling}."""
    from kerasseq.models.attention import with_attention_output

    model = with_attention_output(model)
    batches = [model(rows[i:i + 64], training=False) for i in range(0, len(rows), 64)]
    batches = [b if isinstance(b, (list, tuple)) else [b] for b in batches]
    names = [bundle.ONNX_OUTPUT, bundle.ATTENTION_OUTPUT][:len(batches[0])]
    outputs = {name: np.concatenate([np.asarray(b[k]) for b in batches]) for k, name in enumerate(names)}
    p = outputs[bundle.ONNX_OUTPUT]
    if p.shape[1] == 1:
        outputs[bundle.ONNX_OUTPUT] = np.concatenate([1.0 - p, p], axis=1)
    return outputs


def onnx_outputs(model_bytes, rows, batch_size, names=(bundle.ONNX_OUTPUT,)):
    """{name: array} for the ONNX outputs `names`, run `batch_size` rows at a time on the CPU."""
    import onnxruntime as ort

    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    batches = [session.run(list(names), {bundle.ONNX_INPUT: rows[i:i + batch_size]})
               for i in range(0, len(rows), batch_size)]
    return {name: np.concatenate([b[k] for b in batches]) for k, name in enumerate(names)}


def validation_rows(encoder, vocab_size, texts, seed=0):
    """≥ 256 rows: real texts, texts longer than maxlen (truncated), all-padding rows, random ids
    at full length and padded to random lengths. Returns (int32 rows, count per kind)."""
    rng = np.random.default_rng(seed)
    maxlen, vocab = encoder.maxlen, vocab_size
    texts = [t for t in texts if t.split()]
    real = encoder.encode(texts[:128]) if texts else np.zeros((0, maxlen), np.int32)
    truncated = encoder.encode([_long_text(texts, 2 * maxlen, rng) for _ in range(32 if texts else 0)])
    padding = np.zeros((8, maxlen), np.int32)
    n_random = max(MIN_ROWS - len(real) - len(truncated) - len(padding), 64)
    random_full = rng.integers(1, vocab, size=(n_random // 2, maxlen), dtype=np.int32)
    random_padded = np.zeros((n_random - n_random // 2, maxlen), np.int32)
    for row in random_padded:
        length = rng.integers(1, maxlen)
        ids = rng.integers(1, vocab, size=length)
        if encoder.padding == "pre":
            row[maxlen - length:] = ids
        else:
            row[:length] = ids
    parts = {"real": real, "truncated": truncated, "all_padding": padding,
             "random": random_full, "random_padded": random_padded}
    return np.concatenate(list(parts.values())).astype(np.int32), {k: len(v) for k, v in parts.items()}


def _long_text(texts, min_words, rng):
    """Random texts joined until they hold more than `min_words` words."""
    words = []
    while len(words) <= min_words:
        words += texts[rng.integers(len(texts))].split()
    return " ".join(words)


def _samples(bundle_dir):
    """The bundle's held-out texts and labels (empty when the bundle has no samples.json)."""
    try:
        data = bundle.read_json(bundle.bundle_file(bundle_dir, bundle.SAMPLES))
    except FileNotFoundError:
        return {"texts": [], "labels": []}
    return {"texts": list(data["texts"]), "labels": list(data["labels"])}


def _versions():
    import keras
    import onnx
    import onnxruntime
    import tensorflow as tf
    import tf2onnx

    return {"kerasseq": __version__, "tensorflow": tf.__version__, "keras": keras.__version__,
            "tf2onnx": tf2onnx.__version__, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__,
            "numpy": np.__version__, "python": platform.python_version()}
