"""Native ONNX `RNN` / `GRU` / `LSTM` nodes for Keras recurrent layers, inside tf2onnx.

tf2onnx turns Keras 3 SimpleRNN and GRU layers (and any layer with a mask or recurrent dropout)
into a slow `Loop`. Before conversion, `native_clone` swaps each supported recurrent layer for a
`NativeRecurrent` placeholder: a `tf.py_function` (traced, never run) that carries the layer's
input, its sequence lengths (from the Keras mask) and an index. tf2onnx converts the rest of the
graph as usual, and the handler from `make_handler` turns each placeholder into one native ONNX node
built from the layer's weights (ONNX gate orders: LSTM i,o,f,c; GRU z,r,h; RNN one gate).
"""

import numpy as np

import keras
import tensorflow as tf

PLACEHOLDER_OP = "EagerPyFunc"
PLACEHOLDER_NAME = "kerasseq_native_recurrent"  # in the name of every placeholder node, and no other

# Keras activation name → ONNX RNN activation name.
ACTIVATIONS = {"tanh": "Tanh", "sigmoid": "Sigmoid", "relu": "Relu", "hard_sigmoid": "HardSigmoid"}
DEFAULT_ACTIVATIONS = {"RNN": ["Tanh"], "GRU": ["Sigmoid", "Tanh"], "LSTM": ["Sigmoid", "Tanh", "Tanh"]}
LSTM_TO_ONNX_GATES = [0, 3, 1, 2]  # Keras i, f, c, o → ONNX i, o, f, c
MERGE_MODES = ("concat", "sum", "mul", "ave")  # Bidirectional merges built from the node's two directions


class NotNative(ValueError):
    """A recurrent layer configuration that has no native ONNX equivalent here."""


def recurrent_node_spec(layer):
    """ONNX op type, attributes and W/R/B tensors for a Keras SimpleRNN/GRU/LSTM or Bidirectional."""
    directions, merge_mode = [layer], None
    if isinstance(layer, keras.layers.Bidirectional):
        if layer.merge_mode not in MERGE_MODES:
            raise NotNative(f"Bidirectional merge_mode={layer.merge_mode!r} (native: {', '.join(MERGE_MODES)})")
        directions, merge_mode = [layer.forward_layer, layer.backward_layer], layer.merge_mode
        if layer.forward_layer.go_backwards or not layer.backward_layer.go_backwards:
            raise NotNative("Bidirectional with custom direction layers")
    parts = [_direction_weights(d) for d in directions]
    op, attrs = parts[0][0], dict(parts[0][1])
    if any(p[0] != op or p[1] != attrs for p in parts):
        raise NotNative("Bidirectional with different forward and backward configurations")
    first = directions[0]
    return_state = bool(getattr(layer, "return_state", False))
    if return_state and len(directions) == 2:
        raise NotNative("Bidirectional with return_state=True")
    attrs["direction"] = "bidirectional" if len(directions) == 2 else "forward"
    return {
        "op": op,
        "attrs": attrs,
        "W": np.stack([p[2] for p in parts]),
        "R": np.stack([p[3] for p in parts]),
        "B": np.stack([p[4] for p in parts]),
        "return_sequences": bool(first.return_sequences),
        "return_state": return_state,
        "state_count": 2 if op == "LSTM" else 1,
        "units": int(first.units),
        "num_directions": len(directions),
        "merge_mode": merge_mode,
        "output_units": int(first.units) * (2 if merge_mode == "concat" else 1),
        # a single layer with go_backwards reads its input (and mask) reversed: a forward node on reversed steps
        "go_backwards": len(directions) == 1 and bool(getattr(layer, "go_backwards", False)),
        # Keras's output at a masked step: 0 (Bidirectional with return_sequences), else the last output
        "zero_output_for_mask": bool(getattr(first, "zero_output_for_mask", False)),
    }


def _direction_weights(layer):
    cell = layer.cell
    units = int(cell.units)
    kernel = np.asarray(cell.kernel.numpy(), np.float32)
    recurrent = np.asarray(cell.recurrent_kernel.numpy(), np.float32)
    bias = None if cell.bias is None else np.asarray(cell.bias.numpy(), np.float32)
    if isinstance(layer, keras.layers.LSTM):
        op, gates = "LSTM", 4
        names = [cell.recurrent_activation, cell.activation, cell.activation]
    elif isinstance(layer, keras.layers.GRU):
        op, gates = "GRU", 3
        names = [cell.recurrent_activation, cell.activation]
    elif isinstance(layer, keras.layers.SimpleRNN):
        op, gates = "RNN", 1
        names = [cell.activation]
    else:
        raise NotNative(f"{type(layer).__name__} is not SimpleRNN, GRU or LSTM")
    activations = []
    for fn in names:
        name = getattr(fn, "__name__", str(fn))
        if name not in ACTIVATIONS:
            raise NotNative(f"activation {name!r} (native: {sorted(ACTIVATIONS)})")
        activations.append(ACTIVATIONS[name])
    attrs = {"hidden_size": units}
    if activations != DEFAULT_ACTIVATIONS[op]:
        attrs["activations"] = activations
        if "HardSigmoid" in activations:  # Keras 3: relu6(x + 3) / 6
            attrs["activation_alpha"] = [1 / 6 if a == "HardSigmoid" else 0.0 for a in activations]
            attrs["activation_beta"] = [0.5 if a == "HardSigmoid" else 0.0 for a in activations]
    w_bias = np.zeros(gates * units, np.float32)
    r_bias = np.zeros(gates * units, np.float32)
    if op == "GRU":
        attrs["linear_before_reset"] = int(cell.reset_after)
        if bias is not None and cell.reset_after:
            w_bias, r_bias = bias[0], bias[1]
        elif bias is not None:
            w_bias = bias
    elif bias is not None:
        w_bias = bias
    if op == "LSTM":
        kernel, recurrent = _reorder(kernel, 1), _reorder(recurrent, 1)
        w_bias = _reorder(w_bias, 0)
    return op, attrs, kernel.T, recurrent.T, np.concatenate([w_bias, r_bias])


def _reorder(array, axis):
    blocks = np.split(array, 4, axis=axis)
    return np.concatenate([blocks[i] for i in LSTM_TO_ONNX_GATES], axis=axis)


def is_recurrent(layer):
    kinds = (keras.layers.SimpleRNN, keras.layers.GRU, keras.layers.LSTM)
    return isinstance(layer, kinds) or (isinstance(layer, keras.layers.Bidirectional)
                                        and isinstance(layer.forward_layer, kinds))


def native_clone(model):
    """Clone `model` with supported recurrent layers replaced by placeholders.

    Returns (clone, specs: index → node spec, not_native: list of {"layer", "reason"}).
    Layers that cannot be native stay Keras layers (tf2onnx makes a Loop of them).
    """
    specs, not_native = {}, []

    def clone_layer(layer):
        if isinstance(layer, keras.Model):  # a nested model: its recurrent layers become placeholders too
            return copy_weights(keras.models.clone_model(layer, clone_function=clone_layer), layer)
        if not is_recurrent(layer):
            return without_cudnn(layer)
        try:
            spec = recurrent_node_spec(layer)
        except NotNative as e:
            not_native.append({"layer": layer.name, "reason": str(e)})
            return without_cudnn(layer)
        spec["layer"] = layer.name
        index = len(specs)
        specs[index] = spec
        return NativeRecurrent(index, spec["output_units"], spec["return_sequences"],
                               spec["state_count"] if spec["return_state"] else 0,
                               zero_output_for_mask=spec["zero_output_for_mask"], go_backwards=spec["go_backwards"],
                               name=layer.name)

    def copy_weights(clone, original):
        originals = {layer.name: layer for layer in original.layers}
        for layer in clone.layers:
            if not isinstance(layer, (NativeRecurrent, keras.Model)) and layer.weights:
                layer.set_weights(originals[layer.name].get_weights())
        return clone

    return copy_weights(keras.models.clone_model(model, clone_function=clone_layer), model), specs, not_native


def cpu_clone(model):
    """A copy of `model` (same weights) whose LSTM/GRU layers never take the cuDNN path.

    A model built with `use_cudnn=True`, or traced with a GPU visible, would otherwise run
    (or trace `CudnnRNNV3`, which tf2onnx cannot convert) only on a GPU.
    """
    clone = keras.models.clone_model(model, clone_function=without_cudnn)
    clone.set_weights(model.get_weights())
    return clone


def without_cudnn(layer):
    """A fresh copy of `layer` (no weights) with `use_cudnn=False` where the layer has it."""
    config = layer.get_config()
    if isinstance(layer, (keras.layers.LSTM, keras.layers.GRU)):
        config["use_cudnn"] = False
    if isinstance(layer, keras.layers.Bidirectional):
        for key in ("layer", "backward_layer"):
            if key in config and config[key]["class_name"] in ("LSTM", "GRU"):
                config[key]["config"]["use_cudnn"] = False
    return layer.__class__.from_config(config)


class NativeRecurrent(keras.layers.Layer):
    """Stands in for a recurrent layer while tracing for tf2onnx (TensorFlow backend only).

    `returned_states` is 0, or how many final states the layer returns (LSTM 2, others 1);
    initial states passed to the call become the ONNX node's initial_h / initial_c.

    A Keras mask (any pattern: padding on either side, gaps) is exact: each row's unmasked steps are
    gathered to the front in order, the node runs on them with `sequence_lens`, and the output at
    original step t is the node's output after the c_t unmasked steps up to t. At a masked step that
    is Keras's carried-forward last output (0 before the first unmasked step), or 0 when
    `zero_output_for_mask` (Keras's Bidirectional with return_sequences).
    """

    def __init__(self, index, output_units, return_sequences, returned_states=0, zero_output_for_mask=False,
                 go_backwards=False, **kwargs):
        super().__init__(**kwargs)
        self.go_backwards = go_backwards
        self.index = index
        self.output_units = output_units
        self.return_sequences = return_sequences
        self.returned_states = returned_states
        self.zero_output_for_mask = zero_output_for_mask
        self.supports_masking = True

    def compute_output_shape(self, input_shape):
        if self.return_sequences:
            shape = (input_shape[0], input_shape[1], self.output_units)
        else:
            shape = (input_shape[0], self.output_units)
        if self.returned_states:
            return [shape] + [(input_shape[0], self.output_units)] * self.returned_states
        return shape

    def compute_mask(self, inputs, mask=None):
        mask = mask if self.return_sequences else None
        return [mask] + [None] * self.returned_states if self.returned_states else mask

    def call(self, inputs, initial_state=None, mask=None):
        if initial_state is None:
            states = []
        elif isinstance(initial_state, (list, tuple)):
            states = list(initial_state)
        else:  # one bare tensor, as GRU and SimpleRNN accept
            states = [initial_state]
        # Placeholder inputs: x, [index, has lengths, has initial states], (lengths), (states...)
        layout = tf.constant([self.index, int(mask is not None), int(bool(states))], tf.int32)
        if self.go_backwards:  # as Keras: the steps (and the mask) read last to first, outputs in that order
            inputs = tf.reverse(inputs, [1])
            mask = None if mask is None else tf.reverse(mask, [1])
        args = [inputs, layout]
        if mask is not None:
            # Unmasked steps first, in order: distinct keys (masked ones after all valid ones) sorted by TopK.
            mask = tf.cast(mask, tf.int32)
            steps = tf.shape(inputs)[1]
            keys = (1 - mask) * steps + tf.range(steps)[None, :]
            order = tf.math.top_k(-keys, k=steps, sorted=True).indices
            args[0] = tf.gather(inputs, order, batch_dims=1)
            args.append(tf.reduce_sum(mask, axis=1))
        args += states
        outs = tf.py_function(_never_called, args, Tout=[tf.float32] * (1 + self.returned_states),
                              name=PLACEHOLDER_NAME)
        shapes = self.compute_output_shape(inputs.shape)
        shapes = shapes if self.returned_states else [shapes]
        for out, shape in zip(outs, shapes):
            out.set_shape(shape)
        out = outs[0]
        if mask is not None and self.return_sequences:
            seen = tf.cumsum(mask, axis=1)  # unmasked steps up to and including t
            out = tf.gather(out, tf.maximum(seen - 1, 0), batch_dims=1)
            keep = mask > 0 if self.zero_output_for_mask else seen > 0
            out = tf.where(keep[:, :, None], out, tf.zeros_like(out))
        return [out, *outs[1:]] if self.returned_states else out


def _merge_directions(ctx, tensor, axis, spec, prefix):
    """Merge the forward and backward halves (direction axis `axis`) as Keras's Bidirectional `merge_mode`:
    concatenated along the units axis, or their sum, product or mean."""
    if spec["num_directions"] == 1:
        return tensor
    sizes = ctx.make_const(f"{prefix}_split", np.array([1, 1], np.int64))
    halves = ctx.make_node("Split", [tensor, sizes.output[0]], attr={"axis": axis}, output_count=2).output
    mode = spec["merge_mode"]
    if mode == "concat":
        return ctx.make_node("Concat", halves, attr={"axis": -1}).output[0]
    merged = ctx.make_node("Mul" if mode == "mul" else "Add", halves).output[0]
    if mode == "ave":
        half = ctx.make_const(f"{prefix}_half", np.array(0.5, np.float32))
        merged = ctx.make_node("Mul", [merged, half.output[0]]).output[0]
    return merged


def _never_called(*args):
    raise RuntimeError("NativeRecurrent placeholders exist for tf2onnx tracing only")


def make_handler(specs):
    """The tf2onnx custom-op handler that turns each placeholder into its native ONNX node."""
    from tf2onnx import utils
    from tf2onnx.graph_builder import GraphBuilder

    def handler(ctx, node, name, args):
        if PLACEHOLDER_NAME not in node.name:  # a py_function of the user's own: not ours to touch
            return
        index, has_lengths, has_states = node.inputs[1].get_tensor_value()
        spec = specs[int(index)]
        x, outputs = node.input[0], list(node.output)
        lengths = node.input[2] if has_lengths else ""
        states = node.input[2 + int(has_lengths):] if has_states else []
        ctx.remove_node(node.name)
        prefix = utils.make_name(spec["layer"])
        builder = GraphBuilder(ctx)
        time_major = ctx.make_node("Transpose", [x], attr={"perm": [1, 0, 2]})
        inputs = [time_major.output[0]] + [ctx.make_const(f"{prefix}_{k}", spec[k]).output[0] for k in "WRB"]
        inputs.append(lengths)
        # Keras gives [batch, units] states: h (and c) per direction, the forward ones first; ONNX takes
        # initial_h (and initial_c) as [directions, batch, units].
        count = spec["state_count"]
        if states and len(states) != count * spec["num_directions"]:
            raise ValueError(f"layer {spec['layer']} got {len(states)} initial states, expected "
                             f"{count * spec['num_directions']}")
        for k in range(len(states) and count):
            per_direction = [builder.make_unsqueeze({"data": states[d * count + k], "axes": [0]})
                             for d in range(spec["num_directions"])]
            inputs.append(per_direction[0] if len(per_direction) == 1
                          else ctx.make_node("Concat", per_direction, attr={"axis": 0}).output[0])
        while inputs[-1] == "":
            inputs.pop()
        rnn = ctx.make_node(spec["op"], inputs, attr=spec["attrs"], output_count=1 + spec["state_count"],
                            name=prefix)
        if spec["return_sequences"]:  # Y [steps, dirs, batch, units] → [batch, steps, dirs * units]
            y = builder.make_squeeze({"data": _merge_directions(ctx, rnn.output[0], 1, spec, prefix), "axes": [1]})
            ctx.make_node("Transpose", [y], attr={"perm": [1, 0, 2]}, outputs=[outputs[0]])
        else:  # Y_h [dirs, batch, units] → [batch, dirs * units]
            builder.make_squeeze({"data": _merge_directions(ctx, rnn.output[1], 0, spec, prefix), "axes": [0],
                                  "outputs": [outputs[0]]})
        for k, out in enumerate(outputs[1:], start=1):  # final h (and c): [1, batch, units] → [batch, units]
            builder.make_squeeze({"data": rnn.output[k], "axes": [0], "outputs": [out]})

    return handler


def convert_function(function, signature, specs, opset):
    """tf2onnx's `from_function` on the CPU, with each placeholder turned into its native node.

    tf2onnx warns that it cannot infer the placeholders' shapes; those warnings are silenced.
    """
    import logging

    import tf2onnx

    tf2onnx_logger = logging.getLogger("tf2onnx")
    level = tf2onnx_logger.level
    tf2onnx_logger.setLevel(logging.ERROR)
    try:
        with tf.device("/CPU:0"):
            onnx_model, _ = tf2onnx.convert.from_function(
                function, input_signature=signature, opset=opset,
                custom_op_handlers={PLACEHOLDER_OP: (make_handler(specs), [])})
    finally:
        tf2onnx_logger.setLevel(level)
    python_nodes = [n.name for n in onnx_model.graph.node if n.op_type in ("EagerPyFunc", "PyFunc")]
    if python_nodes:
        raise ValueError(f"the model calls tf.py_function (node {python_nodes[0]}): ONNX cannot run Python code; "
                         "express that step with TensorFlow or Keras ops")
    _complete_output_shapes(onnx_model, function.get_concrete_function(*signature))
    _drop_unused_outputs(onnx_model)
    return onnx_model


def _names_read(graph):
    """Every tensor name a node of `graph` reads, in its subgraphs (Loop, If, Scan bodies) too."""
    read = set()
    for node in graph.node:
        read.update(node.input)
        for attribute in node.attribute:
            for body in [attribute.g] * attribute.HasField("g") + list(attribute.graphs):
                read |= _names_read(body)
    return read


def _drop_unused_outputs(onnx_model):
    """Unname the outputs of recurrent nodes that nothing reads: ONNX leaves an unnamed optional output
    unwritten, so a layer without return_sequences never pays for writing every step's Y."""
    graph = onnx_model.graph
    read = _names_read(graph) | {o.name for o in graph.output}
    for node in graph.node:
        if node.op_type in ("RNN", "GRU", "LSTM"):
            names = [name if name in read else "" for name in node.output]
            while names and names[-1] == "":
                names.pop()
            del node.output[:]
            node.output.extend(names)


def _complete_output_shapes(onnx_model, concrete):
    """Give every graph output its rank and static sizes (tf2onnx leaves none on outputs that come from a
    placeholder, which `onnx.checker.check_model(full_check=True)` rejects); free axes get names."""
    outputs = concrete.structured_outputs
    if not isinstance(outputs, dict):
        return
    for value in onnx_model.graph.output:
        shape = value.type.tensor_type
        if shape.HasField("shape") or value.name not in outputs:
            continue
        dims = outputs[value.name].shape
        if dims.rank is None:
            continue
        shape.shape.SetInParent()
        for axis, size in enumerate(dims.as_list()):
            dim = shape.shape.dim.add()
            if size is None:
                dim.dim_param = "batch" if axis == 0 else f"{value.name}_axis{axis}"
            else:
                dim.dim_value = size
