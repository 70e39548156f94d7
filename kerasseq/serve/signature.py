"""What a bundle's ONNX model must look like, checked against its `preprocessing.json` on load.

Input and output names, element types and the static dimensions must match what the
preprocessing produces; the metadata kerasseq writes at export (task, preset, labels, vocabulary
size, LSTM sizes, feature count) must agree with it too. A model swapped in from another bundle,
or a `preprocessing.json` edited by hand, is a BundleError naming the file and the field rather
than a silently different answer. Models exported before a metadata field existed skip that field.
"""

import json

from kerasseq import bundle


def check_classifier(model_path, session, prep, maxlen):
    """A text classifier: int32 `token_ids` [batch, sequence] → float `probabilities` [batch, labels]."""
    labels = prep["labels"]
    _check_inputs(model_path, session, {bundle.ONNX_INPUT: ("tensor(int32)", [None, None])})
    inputs = {i.name: i for i in session.get_inputs()}
    sequence = inputs[bundle.ONNX_INPUT].shape[1]
    if isinstance(sequence, int) and sequence != maxlen:
        _fail(model_path, f"input '{bundle.ONNX_INPUT}' takes {sequence} steps, but preprocessing.json "
                          f"encoder.maxlen is {maxlen}")
    outputs = {o.name: o for o in session.get_outputs()}
    if bundle.ONNX_OUTPUT not in outputs:
        _fail(model_path, f"has no output '{bundle.ONNX_OUTPUT}' (outputs: {sorted(outputs)})")
    _check_shape(model_path, "output", outputs[bundle.ONNX_OUTPUT], "tensor(float)", [None, len(labels)],
                 f"one column per label of preprocessing.json ({len(labels)})")
    meta = _metadata(session)
    _check_meta(model_path, meta, "task", "text-classification")
    _check_meta(model_path, meta, "preset", prep.get("preset"))
    _check_meta(model_path, meta, "labels", labels, json.loads)
    _check_meta(model_path, meta, "vocab_size", prep["vocab_size"], int)


def check_generator(model_path, session, tokenizer, units, preset):
    """A char-generation step model: `char_ids` and states h_0, c_0, ... → logits [batch, steps, vocab]."""
    from kerasseq.serve.generator import state_names, state_sizes

    expected = {bundle.CHAR_INPUT: ("tensor(int32)", [None, None])}
    expected.update({n: ("tensor(float)", [None, u]) for n, u in zip(state_names(units), state_sizes(units))})
    _check_inputs(model_path, session, expected, "preprocessing.json lstm_units")
    outputs = {o.name: o for o in session.get_outputs()}
    for name in [bundle.LOGITS_OUTPUT] + [bundle.NEXT_STATE_PREFIX + n for n in state_names(units)]:
        if name not in outputs:
            _fail(model_path, f"has no output '{name}' (outputs: {sorted(outputs)})")
    _check_shape(model_path, "output", outputs[bundle.LOGITS_OUTPUT], "tensor(float)",
                 [None, None, tokenizer.vocab_size],
                 f"one logit per character of the vocabulary in preprocessing.json ({tokenizer.vocab_size})")
    meta = _metadata(session)
    _check_meta(model_path, meta, "task", bundle.GENERATION_TASK)
    _check_meta(model_path, meta, "preset", preset)
    _check_meta(model_path, meta, "vocabulary", "".join(tokenizer.chars))


def check_forecaster(model_path, session, config):
    """A forecaster: float `series` [batch, steps, features] → float `forecast`."""
    features = len(config["features"])
    steps = config["window"] if config["series"] == "daily-prices" else None
    _check_inputs(model_path, session, {bundle.SERIES_INPUT: ("tensor(float)", [None, steps, features])},
                  "preprocessing.json window and features")
    outputs = {o.name: o for o in session.get_outputs()}
    if bundle.FORECAST_OUTPUT not in outputs:
        _fail(model_path, f"has no output '{bundle.FORECAST_OUTPUT}' (outputs: {sorted(outputs)})")
    meta = _metadata(session)
    _check_meta(model_path, meta, "task", bundle.FORECAST_TASK)
    _check_meta(model_path, meta, "preset", config.get("preset"))


def _check_inputs(model_path, session, expected, source="preprocessing.json"):
    inputs = {i.name: i for i in session.get_inputs()}
    if sorted(inputs) != sorted(expected):
        _fail(model_path, f"must have inputs {list(expected)}, has {[i.name for i in session.get_inputs()]}")
    for name, (dtype, dims) in expected.items():
        _check_shape(model_path, "input", inputs[name], dtype, dims, source)


def _check_shape(model_path, kind, value, dtype, dims, source):
    """`value` (an onnxruntime NodeArg) must be of `dtype` with len(dims) axes; a dim that is an int
    in both the model and `dims` must be equal (None: any)."""
    if value.type != dtype:
        _fail(model_path, f"{kind} '{value.name}' is {value.type}, expected {dtype}")
    shape = list(value.shape)
    if len(shape) != len(dims):
        _fail(model_path, f"{kind} '{value.name}' has {len(shape)} axes {shape}, expected {len(dims)}")
    for axis, (got, want) in enumerate(zip(shape, dims)):
        if isinstance(got, int) and want is not None and got != want:
            _fail(model_path, f"{kind} '{value.name}' axis {axis} is {got}, but {source} gives {want}")


def _metadata(session):
    return session.get_modelmeta().custom_metadata_map


def _check_meta(model_path, meta, key, expected, parse=str):
    """The model's metadata `key`, where present, must equal `expected` (from preprocessing.json)."""
    if key not in meta or expected is None:
        return
    try:
        found = parse(meta[key])
    except ValueError:
        _fail(model_path, f"metadata '{key}' is malformed: {meta[key][:80]!r}")
    if found != expected:
        _fail(model_path, f"was exported with {key} {_short(found)}, but preprocessing.json has {_short(expected)}: "
                          "the model and preprocessing.json come from different bundles")


def _short(value):
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _fail(model_path, message):
    raise bundle.BundleError(f"{model_path} {message}")
