"""Train a character-level LSTM language model and write a generation bundle.

Checkpoints: every epoch the weights, optimizer state, loss log and best weights so far go to
`OUT.checkpoint/` (Keras BackupAndRestore, CSVLogger, ModelCheckpoint). Run the same command
again after an interruption and training resumes at the next epoch (early stopping's patience
counts again from there); the folder is removed when training completes.
"""

import csv
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from kerasseq import bundle
from kerasseq.data.chars import load_text, stream_rows, window_rows
from kerasseq.models import get_preset
from kerasseq.plots import plot_losses
from kerasseq.models.spec import CharLMSpec
from kerasseq.text.chars import CharTokenizer

SAMPLE_CHARS = 2000  # held-out characters kept in samples.json for export checks


def train_char_lm(preset="alice-char-lstm", text=None, epochs=None, out=None, export=False, seed=0, data_dir=None,
                  verbose=None, spec=None, extra_callbacks=(), overwrite=False):
    """Train `preset` (or `spec`, a CharLMSpec) on `text` (default: the preset's) and write a bundle.

    `text` is "alice" (embedded), "warpeace" (from the data directory) or a text file's path.
    `extra_callbacks` are more Keras callbacks for `fit`, run after kerasseq's. `out` must be new, empty
    or a kerasseq bundle unless `overwrite=True`, and `OUT.checkpoint/` new, empty or kerasseq's own.
    Returns the bundle path. The bundle's `model.keras` is the step model (see
    `kerasseq.models.charlm.build_step_model`); with `export=True` it also gets `model.onnx`.
    """
    import keras

    from kerasseq.models.charlm import build_char_lm, build_step_model, copy_weights
    from kerasseq.train import _deterministic_ops, _versions

    spec = spec or get_preset(preset)
    if not isinstance(spec, CharLMSpec):
        raise ValueError(f"preset {preset!r} is not a character language model (task 'char-lm')")
    spec = spec.replace(epochs=epochs or spec.epochs)
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    source = text or spec.text
    corpus = load_text(source, data_dir)
    tokenizer = CharTokenizer.fit(corpus, lower=spec.lower)
    ids = tokenizer.encode(corpus)
    split = len(ids) - int(len(ids) * spec.validation_fraction)
    train_ids, val_ids = ids[:split], ids[split:]
    stateful = spec.scheme == "streams"
    if stateful:
        x, y = stream_rows(train_ids, spec.batch_size, spec.steps)
        val = stream_rows(val_ids, spec.batch_size, spec.steps) if len(val_ids) else None
    else:
        x, y = window_rows(train_ids, spec.steps)
        val = window_rows(val_ids, spec.steps) if len(val_ids) > spec.steps else None
    if spec.validation_fraction and val is None:
        raise ValueError(f"the held-out {len(val_ids)} characters fill no batch; lower validation_fraction")

    out = bundle.check_destination(Path(out) if out else Path("runs") / preset, overwrite)
    checkpoint = out.parent / f"{out.name}.checkpoint"
    if (checkpoint.exists() and not (checkpoint.is_dir() and (not any(checkpoint.iterdir())
                                                              or (checkpoint / "run.json").is_file()))):
        raise FileExistsError(f"{checkpoint} exists and is not a kerasseq training checkpoint (no run.json): "
                              "move it away or choose another --out")
    checkpoint.mkdir(parents=True, exist_ok=True)
    resuming = (checkpoint / "backup").exists()
    run = {"preset": preset, "text": str(source), "seed": seed, "spec": spec.to_dict(),
           "vocabulary": "".join(tokenizer.chars)}
    if resuming and bundle.read_json(checkpoint / "run.json") != json.loads(json.dumps(run)):
        raise ValueError(f"{checkpoint} holds the checkpoint of another run (preset, text, seed or settings "
                         "differ): delete it to start afresh, or choose another --out")
    if not resuming:  # a fresh run: nothing of an older one
        for name in ("log.csv", "best.weights.h5"):
            (checkpoint / name).unlink(missing_ok=True)
        bundle.write_json(checkpoint / "run.json", run)
    keras.utils.set_random_seed(seed)
    _deterministic_ops()
    model = build_char_lm(spec, tokenizer.vocab_size, stateful=stateful)
    callbacks = [keras.callbacks.BackupAndRestore(str(checkpoint / "backup")),
                 _epoch_hooks(stateful), keras.callbacks.CSVLogger(str(checkpoint / "log.csv"), append=True)]
    best_path = checkpoint / "best.weights.h5"
    if val is not None:
        best = keras.callbacks.ModelCheckpoint(str(best_path), monitor="val_loss", save_best_only=True,
                                               save_weights_only=True)
        if resuming and (checkpoint / "log.csv").exists():  # the best of the epochs before the interruption
            best.best = min(_read_log(checkpoint / "log.csv").get("val_loss", [np.inf]))
        callbacks.append(best)
        if spec.patience:
            callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=spec.patience))
    callbacks += list(extra_callbacks)
    started = time.perf_counter()
    model.fit(x, y, batch_size=spec.batch_size, epochs=spec.epochs, shuffle=not stateful, validation_data=val,
              callbacks=callbacks, verbose=verbose)
    train_seconds = time.perf_counter() - started
    log = _read_log(checkpoint / "log.csv")
    best_epoch = len(log["loss"])
    if val is not None:
        model.load_weights(best_path)
        best_epoch = int(np.argmin(log["val_loss"])) + 1

    step_model = build_step_model(spec, tokenizer.vocab_size)
    copy_weights(model, step_model)
    metrics = {
        "preset": preset, "text": Path(source).name, "characters": len(ids), "vocab_size": tokenizer.vocab_size,
        "rows": {"train_characters": int(x.size), "validation_characters": int(0 if val is None else val[0].size)},
        "parameters": int(step_model.count_params()), "epochs_run": len(log["loss"]),
        "train_seconds_this_run": round(train_seconds, 1), "seconds_per_epoch": round(float(np.median(log["seconds"])), 1),
        "best_epoch": best_epoch, "loss": log["loss"][best_epoch - 1],
        "val_loss": log["val_loss"][best_epoch - 1] if val is not None else None,
        "history": log, "seed": seed, "spec": spec.to_dict(), "versions": _versions(),
    }
    sample = _keras_sample(step_model, tokenizer, spec, seed)
    start = split if len(val_ids) >= SAMPLE_CHARS else 0
    with bundle.atomic_directory(out, overwrite) as tmp:
        step_model.save(tmp / bundle.KERAS_MODEL)
        bundle.write_json(tmp / bundle.PREPROCESSING, bundle.generation_dict(tokenizer, spec, preset))
        bundle.write_json(tmp / bundle.METRICS, metrics)
        bundle.write_json(tmp / bundle.SAMPLES, {"texts": [corpus[start:start + SAMPLE_CHARS]],
                                                 "generated": [sample]})
        plot_losses(log, tmp / "loss.png", preset, "cross-entropy (nats/char)", "held-out text")
        (tmp / bundle.MODEL_CARD).write_text(_model_card(spec, metrics, sample), encoding="utf-8")
    shutil.rmtree(checkpoint, ignore_errors=True)
    if export:
        from kerasseq.export import export_bundle

        export_bundle(out)
    return out


def _epoch_hooks(stateful):
    """A callback that adds each epoch's seconds to the logs and, for stateful models, zeroes the
    LSTM states at every epoch start and before validation."""
    import keras

    from kerasseq.models.charlm import reset_lstm_states

    class EpochHooks(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()
            if stateful:
                reset_lstm_states(self.model)

        def on_test_begin(self, logs=None):
            if stateful:
                reset_lstm_states(self.model)

        def on_epoch_end(self, epoch, logs=None):
            logs["seconds"] = round(time.perf_counter() - self.started, 2)

    return EpochHooks()


def _read_log(path):
    """The CSVLogger file as {column: [values per epoch]} (epoch 1-based)."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    log = {}
    for row in rows:
        for key, value in row.items():
            log.setdefault(key, []).append(int(value) + 1 if key == "epoch" else float(value))
    return log


def _keras_sample(model, tokenizer, spec, seed, max_chars=300):
    """A sample from the trained model with the preset's sampling settings (for the model card)."""
    from kerasseq.export.step_export import keras_step_fn
    from kerasseq.serve.generator import zero_states
    from kerasseq.serve.sampling import generate_ids

    ids = generate_ids(keras_step_fn(model), tokenizer.encode(spec.prime, unknown="replace"), zero_states(spec.units),
                       max_chars, spec.temperature, spec.top_k, seed=seed)
    return spec.prime + tokenizer.decode(ids)


def _model_card(spec, metrics, sample):
    inputs = f"Embedding({spec.embedding_dim})" if spec.embedding_dim else "one-hot characters"
    lstms = " → ".join(f"LSTM({u})" for u in spec.units)
    scheme = (f"{spec.batch_size} parallel streams of {spec.steps} characters, state carried across batches"
              if spec.scheme == "streams" else f"shuffled windows of {spec.steps} characters, batch {spec.batch_size}")
    val = "" if metrics["val_loss"] is None else f", held-out {metrics['val_loss']:.3f}"
    return f"""# Model card: {metrics['preset']}

{spec.description or 'A kerasseq character-level LSTM language model.'}

- Architecture: {inputs} → {lstms} → Dense({metrics['vocab_size']}) logits; {metrics['parameters']:,} parameters.
- Vocabulary: the {metrics['vocab_size']} characters of the training text{' (lower-cased)' if spec.lower else ''};
  characters outside it are rejected, or replaced/dropped on request (see `preprocessing.json`).
- Data: {metrics['text']}, {metrics['characters']:,} characters; the last {spec.validation_fraction:.0%} held out.
- Training: {scheme}; Adam (lr {spec.learning_rate}{f', clipnorm {spec.clipnorm}' if spec.clipnorm else ''}),
  {metrics['epochs_run']} epochs, {metrics['seconds_per_epoch']} s per epoch; the weights of epoch {metrics['best_epoch']}
  ({'the lowest held-out loss' if metrics['val_loss'] is not None else 'the last'}) are kept.
- Loss at that epoch (cross-entropy, nats per character): train {metrics['loss']:.3f}{val}.

## Sample (prime, then top-{spec.top_k or 'all'} sampling at temperature {spec.temperature}, seed {metrics['seed']})

```
{sample}
```

## Limits

It imitates the spelling and punctuation of one book; it has no knowledge and writes no facts.
Versions: {', '.join(f'{k} {v}' for k, v in metrics['versions'].items())}.
"""
