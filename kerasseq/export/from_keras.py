"""A kerasseq bundle from a user's own Keras text classifier and Keras Tokenizer JSON.

    bundle_from_keras("my_model.keras", "tokenizer.json", maxlen=200, out="my_bundle")

The bundle answers `Predictor`, `kerasseq predict` and `kerasseq serve` with raw text and no TensorFlow:
the tokenizer gives the ids Keras's Tokenizer gives, padded and truncated as the model was trained
(`padding`, `truncating`), and `model.onnx` is exported and validated as for every bundle.
"""

from pathlib import Path

from kerasseq import bundle


def bundle_from_keras(model_path, tokenizer_json, maxlen, out, padding="pre", truncating="pre", labels=None,
                      overwrite=False):
    """Write a text-classification bundle to `out` and export it; returns the export report.

    The model must take int token ids [batch, sequence] and return probabilities [batch, 1] (sigmoid) or
    [batch, classes] (softmax). `labels` defaults to negative, positive for one or two columns.
    """
    from kerasseq.export.keras_model import _graph_tensors, _load
    from kerasseq.export.onnx_export import export_bundle
    from kerasseq.text import TextEncoder, tokenizer_from_json

    out = bundle.check_destination(out, overwrite)
    try:
        text = Path(tokenizer_json).read_text(encoding="utf-8")
    except OSError as e:
        raise FileNotFoundError(f"--keras-tokenizer {tokenizer_json}: {e.strerror}") from None
    try:
        tokenizer = tokenizer_from_json(text)
    except ValueError as e:
        raise ValueError(f"--keras-tokenizer {tokenizer_json}: {e}") from None
    encoder = TextEncoder(tokenizer, maxlen, padding, truncating)
    model = _load(model_path)
    inputs, outputs = _graph_tensors(model)
    if len(inputs) != 1 or "int" not in str(inputs[0].dtype) or len(inputs[0].shape) != 2:
        raise ValueError(f"{model_path}: a text classifier takes one int input of token ids [batch, sequence]; this "
                         f"model takes {[(str(t.dtype), tuple(t.shape)) for t in inputs]}")
    if len(outputs) != 1 or len(outputs[0].shape) != 2:
        raise ValueError(f"{model_path}: expected one output of probabilities [batch, classes], got "
                         f"{[tuple(t.shape) for t in outputs]}")
    columns = outputs[0].shape[-1]
    labels = list(labels) if labels else (["negative", "positive"] if columns in (1, 2) else None)
    if labels is None or len(labels) != max(columns, 2):
        raise ValueError(f"--labels: the model has {columns} output column(s); give {max(columns, 2)} label names")
    vocab_size = _embedding_size(model) or tokenizer.vocab_size
    if vocab_size < tokenizer.vocab_size:
        raise ValueError(f"the tokenizer gives ids up to {tokenizer.vocab_size - 1}, but the model's Embedding takes "
                         f"only {vocab_size}: set num_words on the tokenizer as in training")
    with bundle.atomic_directory(out, overwrite) as tmp:
        model.save(tmp / bundle.KERAS_MODEL)
        bundle.write_json(tmp / bundle.PREPROCESSING, bundle.preprocessing_dict(encoder, labels, "keras-model",
                                                                                vocab_size))
    return export_bundle(out)


def _embedding_size(model):
    import keras

    from kerasseq.export.keras_model import _all_layers

    sizes = [layer.input_dim for layer in _all_layers(model) if isinstance(layer, keras.layers.Embedding)]
    return min(sizes) if sizes else None
