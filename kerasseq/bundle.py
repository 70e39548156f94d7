"""The bundle directory: file names, `preprocessing.json`, and atomic writes.

A bundle holds `model.keras`, `model.onnx` (and optionally `model.int8.onnx`), `preprocessing.json`, `metrics.json`,
`export_report.json`, `samples.json`, two plots and `MODEL_CARD.md`. Pure Python: no TensorFlow.
"""

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from kerasseq import __version__

PREPROCESSING = "preprocessing.json"
KERAS_MODEL = "model.keras"
ONNX_MODEL = "model.onnx"
INT8_MODEL = "model.int8.onnx"
METRICS = "metrics.json"
SAMPLES = "samples.json"
EXPORT_REPORT = "export_report.json"
MODEL_CARD = "MODEL_CARD.md"

# The ONNX model's input (int32 [batch, sequence]) and output (float32 [batch, classes]); models
# with attention pooling have a second output, float32 [batch, sequence].
ONNX_INPUT = "token_ids"
ONNX_OUTPUT = "probabilities"
ATTENTION_OUTPUT = "attention_weights"

# A char-generation bundle's step model: int32 `char_ids` [batch, steps] and float32 states
# h_0, c_0, h_1, ... [batch, units] in; `logits` [batch, steps, vocab] and next_h_0, next_c_0, ... out.
GENERATION_TASK = "char-generation"
CHAR_INPUT = "char_ids"
LOGITS_OUTPUT = "logits"
NEXT_STATE_PREFIX = "next_"

# A forecast bundle's model: float32 `series` [batch, steps, features] in, the standardized
# forecast `forecast` out ([batch, steps, 1] for weekly sales, [batch, 1] for daily prices).
FORECAST_TASK = "forecast"
SERIES_INPUT = "series"
FORECAST_OUTPUT = "forecast"

PREPROCESSING_FORMAT = "kerasseq.preprocessing"
PREPROCESSING_VERSION = 1


class BundleError(ValueError):
    """A bundle file is corrupt, incomplete or written by an incompatible version."""


def bundle_file(bundle_dir, name):
    """Path of `name` inside `bundle_dir`; FileNotFoundError naming the path if either is missing."""
    bundle_dir = Path(bundle_dir)
    if not bundle_dir.is_dir():
        raise FileNotFoundError(f"bundle directory not found: {bundle_dir}")
    path = bundle_dir / name
    if not path.is_file():
        raise FileNotFoundError(f"bundle file not found: {path}")
    return path


def read_json(path):
    """Load a JSON file, turning a decode error into a BundleError that names the file."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BundleError(f"{path} is not valid JSON: {e}") from None


def write_json(path, data):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, ensure_ascii=False)
        f.write("\n")


def preprocessing_dict(encoder, labels, preset, vocab_size):
    """The content of `preprocessing.json` for a text classifier.

    `vocab_size` is the model's embedding size: ids in [0, vocab_size) are valid model input.
    """
    return {
        "format": PREPROCESSING_FORMAT,
        "format_version": PREPROCESSING_VERSION,
        "kerasseq_version": __version__,
        "task": "text-classification",
        "preset": preset,
        "labels": list(labels),
        "vocab_size": int(vocab_size),
        "encoder": encoder.to_dict(),
    }


def generation_dict(tokenizer, spec, preset):
    """The content of `preprocessing.json` for a character language model (task "char-generation")."""
    return {
        "format": PREPROCESSING_FORMAT,
        "format_version": PREPROCESSING_VERSION,
        "kerasseq_version": __version__,
        "task": GENERATION_TASK,
        "preset": preset,
        "tokenizer": tokenizer.to_dict(),
        "lstm_units": list(spec.units),
        "sampling": {"prime": spec.prime, "top_k": spec.top_k, "temperature": spec.temperature},
    }


def forecast_dict(spec, preset, config):
    """The content of `preprocessing.json` for a forecaster (task "forecast"): how a CSV table
    becomes model input (`config`: features, scalers, columns) and how the output becomes a forecast."""
    return {
        "format": PREPROCESSING_FORMAT,
        "format_version": PREPROCESSING_VERSION,
        "kerasseq_version": __version__,
        "task": FORECAST_TASK,
        "preset": preset,
        "series": spec.series,
        "window": spec.window,
        "target": spec.target,
        **config,
    }


def read_forecast(bundle_dir):
    """Load and check a forecast `preprocessing.json`; return the dict with its scalers as Standardizers."""
    from kerasseq.series import Standardizer

    path, data = _read_task_file(bundle_dir, FORECAST_TASK)
    try:
        scalers = {k: Standardizer.from_dict(data[k]) for k in ("scaler", "feature_scaler", "target_scaler")
                   if k in data}
        if data["series"] not in ("weekly-sales", "daily-prices") or data["target"] not in ("price", "return"):
            raise ValueError(f"unknown series {data['series']!r} or target {data['target']!r}")
        if data["series"] == "daily-prices" and not (isinstance(data["window"], int) and len(data["features"]) == len(
                scalers["feature_scaler"].mean)):
            raise ValueError("a daily-prices forecaster needs a window and one feature_scaler entry per feature")
    except (KeyError, TypeError, ValueError) as e:
        raise BundleError(f"{path} is incomplete or malformed: {type(e).__name__}: {e}") from None
    return {**data, **scalers}


COMMANDS = {"text-classification": "kerasseq predict", "char-generation": "kerasseq generate",
            "forecast": "kerasseq forecast"}


def read_task(bundle_dir):
    """The bundle's task: "text-classification", "char-generation" or "forecast"."""
    path = bundle_file(bundle_dir, PREPROCESSING)
    data = read_json(path)
    if not isinstance(data, dict) or data.get("format") != PREPROCESSING_FORMAT:
        raise BundleError(f"{path} is not a kerasseq preprocessing file (no 'format': '{PREPROCESSING_FORMAT}')")
    return data.get("task", "text-classification")


def _read_task_file(bundle_dir, task):
    """(path, dict) of a bundle's `preprocessing.json` when it is of `task` and a readable version."""
    path = bundle_file(bundle_dir, PREPROCESSING)
    found = read_task(bundle_dir)
    if found != task:
        raise BundleError(f"{bundle_dir} is a {found} bundle, not a {task} one"
                          + (f" (use `{COMMANDS[found]}`)" if found in COMMANDS else ""))
    data = read_json(path)
    _check_version(path, data)
    return path, data


def read_generation(bundle_dir):
    """Load and check a char-generation `preprocessing.json`; return (CharTokenizer, the raw dict)."""
    from kerasseq.text.chars import CharTokenizer

    path, data = _read_task_file(bundle_dir, GENERATION_TASK)
    try:
        tokenizer = CharTokenizer.from_dict(data["tokenizer"])
        units = [int(u) for u in data["lstm_units"]]
        sampling = dict(data["sampling"])
    except (KeyError, TypeError, ValueError) as e:
        raise BundleError(f"{path} is incomplete or malformed: {type(e).__name__}: {e}") from None
    if not units or tokenizer.vocab_size < 2:
        raise BundleError(f"{path} needs lstm_units and a vocabulary of at least two characters")
    return tokenizer, {**data, "lstm_units": units, "sampling": sampling}


def _check_version(path, data):
    if data.get("format_version") != PREPROCESSING_VERSION:
        raise BundleError(
            f"{path} has format_version {data.get('format_version')!r}, written by kerasseq "
            f"{data.get('kerasseq_version')}; this kerasseq {__version__} reads version {PREPROCESSING_VERSION}"
        )


def read_preprocessing(bundle_dir):
    """Load and check `preprocessing.json`; return (TextEncoder, labels, the raw dict)."""
    from kerasseq.text import TextEncoder

    path, data = _read_task_file(bundle_dir, "text-classification")
    try:
        encoder = TextEncoder.from_dict(data["encoder"])
        labels = [str(label) for label in data["labels"]]
        vocab_size = data["vocab_size"]
    except (KeyError, TypeError, ValueError) as e:
        raise BundleError(f"{path} is incomplete or malformed: {type(e).__name__}: {e}") from None
    if not isinstance(vocab_size, int) or vocab_size < encoder.vocab_size:
        raise BundleError(f"{path}: vocab_size must be an int >= the tokenizer's {encoder.vocab_size} ids, "
                          f"got {vocab_size!r}")
    if len(labels) < 2:
        raise BundleError(f"{path} must list at least two labels, got {labels!r}")
    return encoder, labels, data


@contextlib.contextmanager
def atomic_directory(out_dir):
    """Yield a fresh temporary directory beside `out_dir`; on success it replaces `out_dir`.

    An exception (or a kill) leaves `out_dir` as it was: never a half-written bundle.
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private; a bundle gets normal permissions
    try:
        yield tmp
        old = None
        if out_dir.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
            os.rename(out_dir, old / "bundle")
        os.rename(tmp, out_dir)
        if old is not None:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def replace_files(bundle_dir, files):
    """Write several files into an existing bundle, each via a temp file and `os.replace`.

    `files` maps a file name to a callable that writes that file at the path it is given.
    """
    bundle_dir = Path(bundle_dir)
    staged = []
    try:
        for name, write in files.items():
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.tmp-", dir=bundle_dir)
            os.close(fd)
            os.chmod(tmp, 0o666 & ~_umask())
            staged.append((tmp, bundle_dir / name))
            write(tmp)
        for tmp, final in staged:
            os.replace(tmp, final)
    finally:
        for tmp, _ in staged:
            if os.path.exists(tmp):
                os.remove(tmp)


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask
