"""Export any Keras model with recurrent layers to ONNX, and validate it against Keras.

    result = to_onnx(model_or_path)                     # native RNN / GRU / LSTM nodes, full ONNX check
    report = validate(keras_model, result.model)        # max |onnx - keras| per output and batch size
    result.save("my_model.onnx")                        # + my_model.export_report.json

Export and validation are separate steps, as in HF Optimum: `to_onnx(..., validate=True)` (the
default) runs `validate` and raises ExportValidationError when an output differs by more than
`tolerance`. Inputs keep their Keras names (axis 0 is `batch`, a free axis 1 `sequence`);
outputs are named after the layers that produce them unless `output_names` says otherwise.
"""

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DEFAULT_OPSET = 17
TOLERANCE = 1e-5
BATCH_SIZES = (1, 7, 64)
ROWS = 64  # generated validation rows per kind


@dataclass
class ExportResult:
    """The exported `model` (an onnx.ModelProto) and its JSON-able `report`."""

    model: object
    report: dict = field(default_factory=dict)

    def save(self, path, overwrite=False):
        """Write the model to `path` and the report to `<stem>.export_report.json`, each via a temporary
        file and a rename. An existing file is replaced only if it is an ONNX model kerasseq exported
        (its metadata says so), unless `overwrite=True`."""
        from kerasseq.bundle import replace_files, write_json

        path = _check_output(path, overwrite)
        report_path = path.with_name(path.stem + ".export_report.json")
        path.parent.mkdir(parents=True, exist_ok=True)
        data = self.model.SerializeToString()
        replace_files(path.parent, {path.name: lambda tmp: Path(tmp).write_bytes(data),
                                    report_path.name: lambda tmp: write_json(tmp, self.report)})
        return path


def to_onnx(model, path=None, *, opset=DEFAULT_OPSET, input_names=None, output_names=None, validate=True,
            sample_inputs=None, tolerance=TOLERANCE, overwrite=False):
    """Convert a Keras model (a Functional or Sequential `keras.Model`, or a `.keras` / `.h5` path) to ONNX.

    Recurrent layers become native ONNX nodes wherever ONNX has an exact equivalent; the others go
    through tf2onnx's Loop and are listed in the report's `not_native` with the reason. With `path`,
    the result is saved there (see `ExportResult.save`). `sample_inputs` (a list of arrays, one per
    input) replaces the generated validation rows.
    """
    from kerasseq.export.native_rnn import convert_function, cpu_clone, native_clone
    from kerasseq.export.onnx_export import _versions, check_export_setup, cuda_fallback_nodes, graph_summary, \
        tag_and_check

    check_export_setup(opset)
    if path is not None:
        _check_output(path, overwrite)  # before the work, not after it
    model = _load(model)
    inputs, outputs = _graph_tensors(model)
    _check_exportable(model)
    input_names = _names(input_names, _default_input_names(model, inputs), "input_names")
    output_names = _names(output_names, _default_output_names(model, outputs), "output_names")
    model = cpu_clone(model)
    clone, specs, not_native = native_clone(model)
    signature = _signature(inputs, input_names)
    serve = _serving_function(clone, signature, output_names)
    started = time.perf_counter()
    onnx_model = convert_function(serve, signature, specs, opset)
    convert_seconds = time.perf_counter() - started
    for value, tensor in zip(onnx_model.graph.input, inputs):
        _name_free_axes(value, tensor.shape)
    ordered = sorted(onnx_model.graph.output, key=lambda v: output_names.index(v.name))  # tf2onnx sorts by name
    copies = [type(v)() for v in ordered]
    for copy, value in zip(copies, ordered):
        copy.CopyFrom(value)
    del onnx_model.graph.output[:]
    onnx_model.graph.output.extend(copies)
    tag_and_check(onnx_model, task="keras-model", keras_model=model.name)
    report = {
        "opset": opset,
        **graph_summary(onnx_model),
        "not_native": not_native,
        "cuda_cpu_fallback": cuda_fallback_nodes(onnx_model),
        "inputs": [{"name": n, "dtype": str(t.dtype), "shape": _shown_shape(t.shape)} for n, t in zip(input_names, inputs)],
        "outputs": [{"name": n, "shape": _shown_shape(t.shape)} for n, t in zip(output_names, outputs)],
        "onnx_bytes": onnx_model.ByteSize(),
        "convert_seconds": round(convert_seconds, 2),
        "versions": _versions(),
    }
    result = ExportResult(onnx_model, report)
    if validate:
        report.update(_validate(model, onnx_model, sample_inputs, tolerance=tolerance))
    if path is not None:
        result.save(path, overwrite)
    return result


def validate(keras_model, onnx_model, inputs=None, *, batch_sizes=BATCH_SIZES, tolerance=TOLERANCE):
    """Compare onnxruntime (CPU) with Keras, `batch_sizes` rows at a time (the ONNX model's inputs and
    outputs in the Keras model's order, as `to_onnx` writes them); returns the report part
    (`max_abs_diff`, `max_abs_diff_by_output`, `max_abs_diff_by_batch_size`, `rows`) and raises
    ExportValidationError naming the output, batch size, kind of row and difference past `tolerance`.

    Without `inputs`, rows are generated from the model's signature (see `sample_inputs`).
    """
    import onnxruntime as ort

    from kerasseq.export.onnx_export import ExportValidationError

    keras_model = _load(keras_model)
    groups = {"given": _given_inputs(keras_model, inputs)} if inputs is not None else sample_inputs(keras_model)
    data = onnx_model if isinstance(onnx_model, bytes) else onnx_model.SerializeToString()
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    output_names = [o.name for o in session.get_outputs()]
    by_output = {name: {} for name in output_names}
    worst = {"diff": -1.0}
    for kind, arrays in groups.items():
        want = keras_model(arrays if len(arrays) > 1 else arrays[0], training=False)
        want = [np.asarray(w) for w in (want if isinstance(want, (list, tuple)) else [want])]
        for b in batch_sizes:
            got = [session.run(None, {n: a[i:i + b] for n, a in zip(names, arrays)}) for i in range(0, len(arrays[0]), b)]
            for k, name in enumerate(output_names):
                diff = _max_diff(np.concatenate([g[k] for g in got]), want[k], name, b, kind)
                by_output[name][str(b)] = max(by_output[name].get(str(b), 0.0), diff)
                if diff > worst["diff"]:
                    worst = {"diff": diff, "output": name, "batch": b, "kind": kind}
    report = {
        "passed": worst["diff"] <= tolerance,
        "max_abs_diff": worst["diff"],
        "max_abs_diff_by_output": {n: max(d.values()) for n, d in by_output.items()},
        "max_abs_diff_by_batch_size": {str(b): max(d[str(b)] for d in by_output.values()) for b in batch_sizes},
        "tolerance": tolerance,
        "rows": {kind: int(len(arrays[0])) for kind, arrays in groups.items()},
    }
    if not report["passed"]:
        raise ExportValidationError(f"output '{worst['output']}' differs from Keras by {worst['diff']:.3g} "
                                    f"(> {tolerance:g}) at batch size {worst['batch']} on {worst['kind']} rows")
    return report


_validate = validate  # to_onnx's `validate` argument hides the function


def _given_inputs(model, inputs):
    """The user's validation arrays, one per model input, each of the input's rank and static sizes."""
    arrays = [np.asarray(x) for x in inputs]
    expected, _ = _graph_tensors(model)
    if len(arrays) != len(expected):
        raise ValueError(f"validation inputs: the model takes {len(expected)} input(s), got {len(arrays)} array(s)")
    for k, (array, tensor) in enumerate(zip(arrays, expected)):
        shape = ["batch", *tensor.shape[1:]]
        if array.ndim != len(shape) or any(s is not None and not isinstance(s, str) and s != n
                                           for s, n in zip(shape, array.shape)) or not len(array):
            raise ValueError(f"validation inputs[{k}] has shape {list(array.shape)}; the model's input takes "
                             f"{[s if s is not None else 'any' for s in shape]} with at least one row")
    return arrays


def _max_diff(got, want, name, batch, kind):
    """max |got - want|, NaN where both are NaN counting as equal (e.g. Keras's masked mean of a row with
    nothing unmasked); a shape mismatch or a NaN on one side only is an ExportValidationError."""
    from kerasseq.export.onnx_export import ExportValidationError

    if got.shape != want.shape:
        raise ExportValidationError(f"output '{name}' has shape {list(got.shape)} in ONNX but {list(want.shape)} in "
                                    f"Keras at batch size {batch} on {kind} rows (a tf2onnx conversion error: "
                                    "e.g. TimeDistributed over a free time axis)")
    both_nan = np.isnan(got) & np.isnan(want)
    diff = np.where(both_nan, 0.0, np.abs(got.astype(np.float64) - want))
    return float(np.nan_to_num(diff, nan=np.inf).max()) if diff.size else 0.0


def sample_inputs(model, seed=0):
    """Validation rows from the model's signature: {kind: [one array per input]}.

    Inputs that feed an Embedding get ids in [0, input_dim): random full rows, and all-padding,
    pre-padded and post-padded ones. Float inputs get normal values, and, when the model has a
    Masking layer, rows masked at the end, at the start, in the middle and throughout. A free time
    axis is tried at two lengths.
    """
    import keras

    rng = np.random.default_rng(seed)
    inputs, _ = _graph_tensors(model)
    layers = list(_all_layers(model))
    vocab = min([layer.input_dim for layer in layers if isinstance(layer, keras.layers.Embedding)] or [1000])
    masks = [layer.mask_value for layer in layers if isinstance(layer, keras.layers.Masking)]
    lengths = (9, 4) if any(len(t.shape) > 1 and t.shape[1] is None for t in inputs) else (None,)
    groups = {}
    for steps in lengths:
        arrays = []
        for tensor in inputs:
            shape = [ROWS] + [steps if (axis == 1 and size is None) else (size or 3)
                              for axis, size in enumerate(tensor.shape[1:], start=1)]
            if "int" in str(tensor.dtype):
                x = rng.integers(1, max(vocab, 2), size=shape)
                if len(shape) > 1 and shape[1] > 2:
                    x[ROWS // 4: ROWS // 4 + 4] = 0  # all padding
                    x[ROWS // 2: ROWS // 2 + 8, : shape[1] // 2] = 0  # pre-padded
                    x[3 * ROWS // 4: 3 * ROWS // 4 + 8, shape[1] // 2:] = 0  # post-padded
            else:
                x = rng.normal(size=shape)
                if masks and len(shape) > 2 and shape[1] > 2:
                    value = masks[0]
                    x[ROWS // 4: ROWS // 4 + 4] = value
                    x[ROWS // 2: ROWS // 2 + 8, : shape[1] // 2] = value
                    x[3 * ROWS // 4: 3 * ROWS // 4 + 8, shape[1] // 2:] = value
                    x[ROWS - 4:, 1] = value  # a gap mid-row
            arrays.append(x.astype(str(tensor.dtype)))
        groups[f"steps {steps}" if steps else "fixed"] = arrays
    return groups


def _load(model):
    import keras

    if isinstance(model, keras.Model):
        return model
    path = Path(model)
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    if path.suffix not in (".keras", ".h5"):
        raise ValueError(f"{path}: expected a .keras or .h5 model file")
    try:
        if path.suffix == ".keras":
            from kerasseq.models import load_model

            return load_model(path)
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as e:  # Keras's own errors for a corrupt file (one says "File not found" for a bad zip)
        raise ValueError(f"{path}: Keras could not load this model file: {str(e).splitlines()[0]}") from None


def _graph_tensors(model):
    try:
        inputs, outputs = list(model.inputs or []), list(model.outputs or [])
    except (AttributeError, ValueError):
        inputs, outputs = [], []
    if not inputs or not outputs:
        raise ValueError(f"{type(model).__name__} is a subclassed model with no graph of layers: export needs a "
                         "Functional or Sequential model (build it from keras.Input, or wrap its call in one)")
    return inputs, outputs


def _all_layers(model):
    """Every layer of `model`, nested models and wrapped layers (Bidirectional, TimeDistributed) included."""
    import keras

    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)
        for wrapped in ("forward_layer", "backward_layer", "layer"):
            if isinstance(getattr(layer, wrapped, None), keras.layers.Layer):
                yield getattr(layer, wrapped)


def _check_exportable(model):
    for layer in _all_layers(model):
        if getattr(layer, "stateful", False):
            raise ValueError(f"layer {layer.name} is stateful: ONNX has no state between calls; rebuild the model "
                             "with stateful=False (same weights) and pass the states as inputs instead")


def _default_input_names(model, inputs):
    import keras

    generic = ["inputs"] if len(inputs) == 1 else [f"inputs_{k}" for k in range(len(inputs))]
    if isinstance(model, keras.Sequential):
        return generic
    # keras.Input(name=...) names are kept; unnamed inputs are called keras_tensor_N by Keras
    names = [g if t.name.startswith("keras_tensor") else t.name for t, g in zip(inputs, generic)]
    return names if len(set(names)) == len(names) else generic


def _default_output_names(model, outputs):
    import keras

    if isinstance(model, keras.Sequential):
        return [model.layers[-1].name]
    names = list(model.output_names)
    return names if len(set(names)) == len(outputs) else [f"output_{k}" for k in range(len(outputs))]


def _names(given, default, what):
    if given is None:
        return default
    given = list(given)
    if len(given) != len(default) or len(set(given)) != len(given) or not all(isinstance(n, str) and n for n in given):
        raise ValueError(f"{what} must be {len(default)} distinct non-empty names, got {given!r}")
    return given


def _signature(inputs, names):
    import tensorflow as tf

    return [tf.TensorSpec([None, *t.shape[1:]], tf.as_dtype(str(t.dtype)), name=n) for t, n in zip(inputs, names)]


def _serving_function(clone, signature, output_names):
    import tensorflow as tf

    @tf.function(input_signature=signature)
    def serve(*inputs):
        outputs = clone(list(inputs) if len(inputs) > 1 else inputs[0], training=False)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        return dict(zip(output_names, outputs))

    return serve


def _name_free_axes(value_info, shape):
    for axis, (dim, size) in enumerate(zip(value_info.type.tensor_type.shape.dim, [None, *shape[1:]])):
        if size is None:
            dim.ClearField("dim_value")
            dim.dim_param = "batch" if axis == 0 else "sequence" if axis == 1 else f"axis_{axis}"


def _shown_shape(shape):
    return ["batch"] + [s if s is not None else "sequence" if k == 1 else None for k, s in enumerate(shape[1:], 1)]


def _check_output(path, overwrite):
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"--output {path} is a folder; name the .onnx file to write")
    if path.exists() and not overwrite and not _written_by_kerasseq(path):
        raise FileExistsError(f"{path} exists and is not an ONNX model exported by kerasseq: choose another "
                              "--output, or pass --overwrite to replace it")
    return path


def _written_by_kerasseq(path):
    try:
        import onnx

        props = {p.key for p in onnx.load(str(path), load_external_data=False).metadata_props}
    except Exception:  # not an ONNX file at all
        return False
    return "kerasseq_version" in props
