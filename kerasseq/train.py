"""Train a preset on a data set and write a bundle (Keras `fit`, early stopping, metrics, plots)."""

import platform
import sys
import time
from pathlib import Path

import numpy as np

from kerasseq import __version__, bundle
from kerasseq.data import load_splits, stratified_split
from kerasseq.data.sources import NAMED
from kerasseq.models import DEFAULT_PRESET, build_model, get_preset
from kerasseq.text import TextEncoder, Tokenizer
from kerasseq.text.normalize import ReviewNormalizer

MAX_SAMPLES = 1000  # held-out rows kept in samples.json for export checks
DATA_SOURCES = {
    "uci": "UCI Sentiment Labelled Sentences (Kotzias et al., KDD 2015; CC BY 4.0)",
    "imdb": "IMDb movie reviews, aclImdb v1.0 25k/25k (Maas et al., ACL 2011)",
    "amazon": "Amazon review polarity (Zhang, Zhao, LeCun 2015)",
}


def train(preset=DEFAULT_PRESET, data="uci", epochs=None, out=None, export=False, seed=0,
          test_fraction=0.2, verbose=None, data_dir=None, spec_changes=None, overwrite=False):
    """Train `preset` on `data` and write a bundle directory.

    `data` is "uci" (embedded), "imdb" or "amazon" (found in `data_dir`, see `kerasseq.data`), a
    CSV/TSV path or an aclImdb directory. IMDb keeps its own 25k/25k test split; other sources
    hold out a stratified `test_fraction`. 20 % of the training rows validate; the
    weights of the best validation epoch are kept (with early stopping unless the preset's patience is None).
    Returns the bundle path. With `export=True` the bundle also gets a validated `model.onnx`.
    `verbose` is Keras's: default a progress bar on a terminal, one line per epoch otherwise.
    `spec_changes` overrides fields of the preset's ModelSpec, e.g. `{"anneal_epochs": 0}`.
    `out` may be a new path, an empty folder or a kerasseq bundle; anything else is refused before
    training unless `overwrite=True` (see `kerasseq.bundle.check_destination`).
    """
    spec = get_preset(preset)
    out = bundle.check_destination(Path(out) if out else Path("runs") / preset, overwrite)
    import keras

    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    if not hasattr(spec, "num_classes"):
        raise ValueError(f"preset {preset!r} is a {spec.task} model, not a text classifier: train it with "
                         f"`kerasseq train --preset {preset}` (kerasseq.train_charlm / kerasseq.train_forecast)")
    train_set, test_set = load_splits(data, data_dir, test_fraction, seed)
    if test_set.label_names != train_set.label_names:
        raise ValueError(f"train and test labels differ: {train_set.label_names} vs {test_set.label_names}")
    labels = train_set.label_names
    spec = type(spec).from_dict({**spec.to_dict(), **(spec_changes or {}), "num_classes": len(labels)})
    if epochs:  # a shorter run anneals over at most all of its epochs
        spec = spec.replace(epochs=epochs, anneal_epochs=min(spec.anneal_epochs, epochs))

    fit_idx, val_idx = stratified_split(train_set.labels, spec.validation_split, seed + 1)
    fit_set, val_set = train_set.subset(fit_idx), train_set.subset(val_idx)

    normalizer = None if spec.normalize is None else ReviewNormalizer.from_config(spec.normalize)
    encoder = TextEncoder(Tokenizer(num_words=spec.vocab_size, oov_token=spec.oov_token), spec.maxlen,
                          spec.padding, spec.truncating, normalizer)
    fit_texts, val_texts, test_texts = (encoder.normalize(s.texts) for s in (fit_set, val_set, test_set))
    encoder.tokenizer.fit_on_texts(fit_texts)
    x_fit, x_val, x_test = (encoder.encode(t, normalized=True) for t in (fit_texts, val_texts, test_texts))

    keras.utils.set_random_seed(seed)
    _deterministic_ops()
    model = build_model(spec, name=preset.replace("-", "_"), steps_per_epoch=-(-len(fit_set) // spec.batch_size))
    stop = keras.callbacks.EarlyStopping(monitor=spec.monitor, patience=spec.patience or spec.epochs,
                                         restore_best_weights=True)
    started = time.perf_counter()
    history = model.fit(x_fit, fit_set.labels, validation_data=(x_val, val_set.labels), epochs=spec.epochs,
                        batch_size=spec.batch_size, callbacks=[stop], verbose=verbose)
    train_seconds = time.perf_counter() - started

    test_loss, _ = model.evaluate(x_test, test_set.labels, batch_size=256, verbose=0)
    probabilities = model.predict(x_test, batch_size=256, verbose=0)
    predicted = (probabilities[:, 0] > 0.5).astype(int) if spec.num_classes == 2 else probabilities.argmax(1)
    metrics = _metrics(test_set.labels, predicted, labels)
    metrics.update(
        preset=preset, data=data if data in NAMED else Path(data).name, test_loss=float(test_loss),
        train_seconds=round(train_seconds, 2),
        epochs_run=len(history.history["loss"]), best_epoch=_best_epoch(history.history, spec.monitor),
        rows={"train": len(fit_set), "validation": len(val_set), "test": len(test_set)},
        parameters=int(model.count_params()), seed=seed, spec=spec.to_dict(), history=history.history,
        versions=_versions(),
    )

    with bundle.atomic_directory(out, overwrite) as tmp:
        save_inference_model(model, tmp / bundle.KERAS_MODEL)
        bundle.write_json(tmp / bundle.PREPROCESSING,
                          bundle.preprocessing_dict(encoder, labels, preset, spec.vocab_size))
        bundle.write_json(tmp / bundle.METRICS, metrics)
        keep = np.sort(np.random.default_rng(seed).permutation(len(test_set))[:MAX_SAMPLES])
        bundle.write_json(tmp / bundle.SAMPLES, {"texts": [test_set.texts[i] for i in keep],
                                                 "labels": test_set.labels[keep].tolist()})
        _plot_history(history.history, tmp / "history.png")
        _plot_confusion(metrics["confusion_matrix"], labels, tmp / "confusion_matrix.png")
        (tmp / bundle.MODEL_CARD).write_text(_model_card(spec, metrics, labels), encoding="utf-8")
    if export:
        from kerasseq.export import export_bundle

        export_bundle(out)
    return out


def save_inference_model(model, path):
    """Save an uncompiled copy of `model`: the architecture and weights, not the optimizer state
    (a third of the file for RMSprop, two thirds for Adam)."""
    inference_model = model.__class__.from_config(model.get_config())  # clone_model would recompile
    inference_model.set_weights(model.get_weights())
    inference_model.save(path)


def _best_epoch(history, monitor):
    """The 1-based epoch whose weights EarlyStopping(restore_best_weights=True) kept."""
    values = history[monitor]
    return int(np.argmax(values) if monitor == "val_accuracy" else np.argmin(values)) + 1


def _deterministic_ops():
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def _metrics(y_true, y_pred, label_names):
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    labels = list(range(len(label_names)))
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    return {
        "test_accuracy": float(accuracy_score(y_true, y_pred)),
        "per_class": {name: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                             "support": int(support[i])} for i, name in enumerate(label_names)},
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "labels": list(label_names),
    }


def _versions():
    """Library versions, the Keras backend and the device it trained on."""
    import importlib

    import keras

    backend = keras.backend.backend()
    module = importlib.import_module(backend)
    return {"kerasseq": __version__, "keras": keras.__version__, "backend": backend,
            backend: module.__version__, "device": _device(backend), "numpy": np.__version__,
            "python": platform.python_version()}


def _device(backend):
    if backend == "tensorflow":
        import tensorflow as tf

        return "gpu" if tf.config.list_physical_devices("GPU") else "cpu"
    if backend == "jax":
        import jax

        return jax.devices()[0].platform
    if backend == "torch":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return "unknown"


def _plot_history(history, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, key in zip(axes, ("loss", "accuracy")):
        epochs = range(1, len(history[key]) + 1)
        ax.plot(epochs, history[key], "o-", label="train")
        ax.plot(epochs, history[f"val_{key}"], "o-", label="validation")
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_title(key)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _plot_confusion(matrix, label_names, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = np.asarray(matrix)
    fig, ax = plt.subplots(figsize=(1.6 + 1.1 * len(label_names), 1.2 + 1.1 * len(label_names)))
    ax.imshow(matrix, cmap="Blues")
    ticks = range(len(label_names))
    ax.set_xticks(ticks, label_names)
    ax.set_yticks(ticks, label_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, str(count), ha="center", va="center",
                color="white" if count > matrix.max() / 2 else "black")
    ax.set_title("test confusion matrix")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _anneal_text(spec):
    return f", annealed to 0 over the last {spec.anneal_epochs} epoch(s)" if spec.anneal_epochs else ""


def _model_card(spec, metrics, label_names):
    layers = " → ".join(("Bi" if r.bidirectional else "") + f"{r.kind.upper()}({r.units})" for r in spec.recurrent)
    if spec.pooling == "attention":
        layers += f" (all steps) → BahdanauAttention({spec.attention_units}, padding masked)"
    split = ("the data set's own train/test split" if metrics["data"] == "imdb"
             else f"stratified split, seed {metrics['seed']}")
    per_class = "\n".join(f"| {name} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['support']} |"
                          for name, m in metrics["per_class"].items())
    source = DATA_SOURCES.get(metrics["data"], metrics["data"])
    hidden = "".join(f" Dense({u}, relu) →" + (f" Dropout({spec.dense_dropout}) →" if spec.dense_dropout else "")
                     for u in spec.dense)
    normalized = (" through the NLTK review pipeline (lowercase, word_tokenize, stopwords and punctuation "
                  "dropped, Porter stems)" if spec.normalize is not None else ", lower-cased")
    return f"""# Model card: {metrics['preset']}

{spec.description or 'A kerasseq recurrent text classifier.'}

- Architecture: Embedding({spec.vocab_size}, {spec.embedding_dim}) → SpatialDropout1D({spec.spatial_dropout}) →
  {layers} → Dropout({spec.dropout}) →{hidden} {'Dense(1, sigmoid)' if spec.num_classes == 2 else f'Dense({spec.num_classes}, softmax)'};
  {metrics['parameters']:,} parameters.
- Input: raw text{normalized}, Keras default filters, top {spec.vocab_size} words
  (OOV token `{spec.oov_token}`), padded/truncated to {spec.maxlen} ids ({spec.padding}/{spec.truncating});
  see `preprocessing.json`.
- Labels: {', '.join(label_names)}.
- Data: {source}; {metrics['rows']['train']} training, {metrics['rows']['validation']} validation,
  {metrics['rows']['test']} test rows ({split}).
- Training: {spec.optimizer} (lr {spec.learning_rate}{_anneal_text(spec)}), batch {spec.batch_size}, {metrics['epochs_run']} epochs
  ({'early stopping, ' if spec.patience else ''}epoch {metrics['best_epoch']}, the best by {spec.monitor}, kept),
  {metrics['train_seconds']} s.

## Test results

Accuracy **{metrics['test_accuracy']:.4f}**, loss {metrics['test_loss']:.4f}.

| label | precision | recall | F1 | support |
|---|---|---|---|---|
{per_class}

## Limits

Trained on English reviews; expect weaker results on other domains, other languages,
sarcasm and long documents (texts longer than {spec.maxlen} words are truncated).
Versions: {', '.join(f'{k} {v}' for k, v in metrics['versions'].items())}.
"""
