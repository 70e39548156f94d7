"""The bundle directory: file names, `preprocessing.json`, and atomic writes.

A bundle holds `model.keras`, `model.onnx` (and optionally `model.int8.onnx`), `preprocessing.json`, `metrics.json`,
`export_report.json`, `samples.json`, two plots and `MODEL_CARD.md`. Pure Python: no TensorFlow.
"""

import contextlib
import json
import math
import os
import re
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

# Ranges a preprocessing.json value must lie in (far beyond any real bundle; a value outside is corrupt).
MAX_VOCAB = 10_000_000
MAX_MAXLEN = 100_000
MAX_LABELS = 10_000
MAX_LSTM_UNITS = 65_536


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
    check_fields(path, data, "", {
        "preset": (_optional(_is_str), "a string"),
        "series": (lambda v: v in ("weekly-sales", "daily-prices"), '"weekly-sales" or "daily-prices"'),
        "target": (lambda v: v in ("price", "return"), '"price" or "return"'),
        "window": (lambda v: v is None or _is_int(v, 1, 10_000), "null or an int in [1, 10,000]"),
        "features": (lambda v: isinstance(v, list) and 1 <= len(v) <= 10_000 and all(_is_str(f) for f in v),
                     "a list of feature names"),
        "columns": (lambda v: isinstance(v, list) and all(_is_str(c) for c in v), "a list of column names"),
    })
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
    from kerasseq.text.chars import UNKNOWN_POLICIES, CharTokenizer

    path, data = _read_task_file(bundle_dir, GENERATION_TASK)
    check_fields(path, data, "", {
        "preset": (_optional(_is_str), "a string"),
        "tokenizer": (_is_dict, "an object"),
        "lstm_units": (lambda v: isinstance(v, list) and 1 <= len(v) <= 64
                       and all(_is_int(u, 1, MAX_LSTM_UNITS) for u in v), f"a list of ints in [1, {MAX_LSTM_UNITS}]"),
        "sampling": (_is_dict, "an object"),
    })
    check_fields(path, data["tokenizer"], "tokenizer", {
        "chars": (lambda v: isinstance(v, str) and 2 <= len(v) == len(set(v)), "at least two distinct characters"),
        "lower": (_optional(_is_bool), "true or false"),
        "unknown": (_optional(lambda v: v in UNKNOWN_POLICIES), f"one of {list(UNKNOWN_POLICIES)}"),
        "replacement": (_optional(lambda v: isinstance(v, str) and len(v) == 1), "one character"),
    })
    check_fields(path, data["sampling"], "sampling", {
        "prime": (lambda v: isinstance(v, str) and v != "", "a non-empty string"),
        "top_k": (lambda v: v is None or _is_int(v, 1, MAX_VOCAB), "null or a positive int"),
        "temperature": (lambda v: _is_number(v) and v > 0, "a finite number > 0"),
    })
    tokenizer = CharTokenizer.from_dict(data["tokenizer"])
    return tokenizer, {**data, "sampling": dict(data["sampling"])}


def _check_version(path, data):
    if data.get("format_version") != PREPROCESSING_VERSION:
        raise BundleError(
            f"{path} has format_version {data.get('format_version')!r}, written by kerasseq "
            f"{data.get('kerasseq_version')}; this kerasseq {__version__} reads version {PREPROCESSING_VERSION}"
        )


def read_preprocessing(bundle_dir):
    """Load and check `preprocessing.json`; return (TextEncoder, labels, the raw dict).

    Every field is checked for its type and range; a bad one is a BundleError naming the file and the field.
    """
    from kerasseq.text import TextEncoder

    path, data = _read_task_file(bundle_dir, "text-classification")
    check_fields(path, data, "", {
        "preset": (_optional(_is_str), "a string"),
        "labels": (lambda v: isinstance(v, list) and 2 <= len(v) <= MAX_LABELS and all(_is_str(x) and x for x in v)
                   and len(set(v)) == len(v), f"a list of 2 to {MAX_LABELS} distinct non-empty strings"),
        "vocab_size": (lambda v: _is_int(v, 2, MAX_VOCAB), f"an int in [2, {MAX_VOCAB:,}]"),
        "encoder": (_is_dict, "an object"),
    })
    _check_encoder(path, data["encoder"])
    try:
        encoder = TextEncoder.from_dict(data["encoder"])
    except (KeyError, TypeError, ValueError) as e:
        raise BundleError(f"{path} field 'encoder' is malformed: {type(e).__name__}: {e}") from None
    if data["vocab_size"] < encoder.vocab_size:
        raise BundleError(f"{path} field 'vocab_size': expected an int >= the tokenizer's {encoder.vocab_size} ids, "
                          f"got {data['vocab_size']!r}")
    return encoder, list(data["labels"]), data


def _check_encoder(path, encoder):
    check_fields(path, encoder, "encoder", {
        "maxlen": (lambda v: _is_int(v, 1, MAX_MAXLEN), f"an int in [1, {MAX_MAXLEN:,}]"),
        "padding": (lambda v: v in ("pre", "post"), '"pre" or "post"'),
        "truncating": (lambda v: v in ("pre", "post"), '"pre" or "post"'),
        "normalizer": (lambda v: v is None or (_is_dict(v) and all(_is_bool(x) for x in v.values())),
                       "null or an object of true/false settings"),
        "tokenizer": (_is_dict, "an object"),
        "pad_value": (_optional(lambda v: v == 0 and not isinstance(v, bool)), "0"),
        "dtype": (_optional(lambda v: v == "int32"), '"int32"'),
    })
    tokenizer = encoder["tokenizer"]
    kind = tokenizer.get("kind", "keras")
    config_rules = {
        "num_words": (lambda v: v is None or _is_int(v, 1, MAX_VOCAB), f"null or an int in [1, {MAX_VOCAB:,}]"),
        "filters": (_is_str, "a string"),
        "lower": (_is_bool, "true or false"),
        "split": (lambda v: _is_str(v) and v != "", "a non-empty string"),
    }
    if kind == "keras":
        config_rules["oov_token"] = (lambda v: v is None or _is_str(v), "null or a string")
        check_fields(path, tokenizer, "encoder.tokenizer", {
            "config": (_is_dict, "an object"),
            "document_count": (lambda v: _is_int(v, 0, 10**15), "a non-negative int"),
            "vocabulary": (lambda v: isinstance(v, list) and len(v) <= MAX_VOCAB and all(
                isinstance(w, list) and len(w) == 2 and _is_str(w[0]) and _is_int(w[1], 0, 10**15) for w in v),
                "a list of [word, count] pairs"),
        })
    elif kind == "keras-imdb":
        config_rules.update({k: (lambda v: _is_int(v, 0, MAX_VOCAB), "a non-negative int")
                             for k in ("start_char", "oov_char", "index_from")})
        check_fields(path, tokenizer, "encoder.tokenizer", {
            "config": (_is_dict, "an object"),
            "word_index": (lambda v: _is_dict(v) and all(_is_int(r, 0, MAX_VOCAB) for r in v.values()),
                           "an object mapping words to ranks"),
        })
    else:
        raise BundleError(f"{path} field 'encoder.tokenizer.kind': expected \"keras\" or \"keras-imdb\", got {kind!r}")
    check_fields(path, tokenizer["config"], "encoder.tokenizer.config", config_rules)


_MISSING = object()


def check_fields(path, data, where, rules):
    """Check `data` (a dict read from the JSON file `path`) against `rules`: {key: (predicate, what)};
    a predicate wrapped in `_optional` also accepts a missing key. BundleError names the file and field."""
    if not _is_dict(data):
        raise BundleError(f"{path} field '{where or '(top level)'}': expected an object, got {_shown(data)}")
    for key, (ok, what) in rules.items():
        name = f"{where}.{key}" if where else key
        value = data.get(key, _MISSING)
        if value is _MISSING:
            if getattr(ok, "optional", False):
                continue
            raise BundleError(f"{path} field '{name}' is missing (expected {what})")
        if not ok(value):
            raise BundleError(f"{path} field '{name}': expected {what}, got {_shown(value)}")


def _optional(predicate):
    def check(value):
        return predicate(value)
    check.optional = True
    return check


def _is_int(value, low, high):
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_str(value):
    return isinstance(value, str)


def _is_bool(value):
    return isinstance(value, bool)


def _is_dict(value):
    return isinstance(value, dict)


def _shown(value):
    text = json.dumps(value, ensure_ascii=True)
    return text if len(text) <= 60 else text[:57] + "..."


def is_bundle(path):
    """True when `path` is a folder holding a kerasseq `preprocessing.json` (any task, any version)."""
    try:
        data = json.loads((Path(path) / PREPROCESSING).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("format") == PREPROCESSING_FORMAT


def check_destination(out_dir, overwrite=False):
    """Refuse to write a bundle where it would replace something kerasseq did not write.

    A bundle may go to a new path, an empty folder or an existing kerasseq bundle (recognised by its
    `preprocessing.json` format). A file or any other folder is refused (FileExistsError naming the path)
    unless `overwrite=True`. The current directory, and the folders above it, are always refused.
    Called before training starts, so a long run never ends in a refusal.
    """
    out = Path(out_dir)
    resolved, cwd = out.resolve(), Path.cwd().resolve()
    if resolved == cwd or resolved in cwd.parents:
        raise ValueError(f"bundle destination {out_dir!s} is the current directory or one above it; "
                         "name a new folder for the bundle")
    if out.is_dir() and not out.is_symlink():
        if not any(out.iterdir()) or is_bundle(out):
            return out
        what = "a folder that is not a kerasseq bundle"
    elif out.exists() or out.is_symlink():
        what = "a file" if out.is_file() else "not a folder"
    else:
        return out
    if not overwrite:
        raise FileExistsError(f"bundle destination {out} exists and is {what}: kerasseq replaces only its own "
                              "bundles; choose a new folder, or pass --overwrite (overwrite=True) to replace it")
    return out


def _temp_name(name, kind):
    """The prefix of kerasseq's temporary files beside `name`: `.NAME.KIND-PID-` (KIND tmp or old)."""
    return f".{name}.{kind}-{os.getpid()}-"


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def remove_stale_temps(folder, name):
    """Remove the temporary files and folders that a killed kerasseq write to `folder/name` left behind.

    Only kerasseq's own names are touched: `.NAME.tmp-PID-XXXX[.suffix]` and `.NAME.old-PID-XXXX` whose process
    PID is gone (and the pre-0.1.1 `.NAME.tmp-XXXXXXXX`). A previous bundle parked in an `.old-` folder by
    a write killed between its two renames is put back at `folder/name` if nothing is there.
    """
    folder = Path(folder)
    pattern = re.compile(rf"\.{re.escape(name)}\.(?:(tmp|old)-(\d+)-[a-z0-9_]+(?:\.\w+)?|tmp-[a-z0-9_]{{8}})")
    try:
        entries = list(folder.iterdir())
    except OSError:
        return
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if not match or (match.group(2) and _pid_alive(int(match.group(2)))):
            continue
        target = folder / name
        if match.group(1) == "old" and (entry / "bundle").is_dir() and not target.exists():
            os.rename(entry / "bundle", target)
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_directory(out_dir, overwrite=False):
    """Yield a fresh temporary directory beside `out_dir`; on success it replaces `out_dir`.

    `out_dir` must pass `check_destination` (before and after the work). An exception (or a kill)
    leaves `out_dir` as it was: never a half-written bundle; the next write to `out_dir` removes what
    a killed one left behind.
    """
    out_dir = Path(out_dir)
    check_destination(out_dir, overwrite)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out_dir.parent, out_dir.name)
    tmp = Path(tempfile.mkdtemp(prefix=_temp_name(out_dir.name, "tmp"), dir=out_dir.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private; a bundle gets normal permissions
    try:
        yield tmp
        check_destination(out_dir, overwrite)  # something may have appeared there in the meantime
        old = None
        if out_dir.exists() or out_dir.is_symlink():
            old = Path(tempfile.mkdtemp(prefix=_temp_name(out_dir.name, "old"), dir=out_dir.parent))
            os.rename(out_dir, old / "bundle")
        os.rename(tmp, out_dir)
        if old is not None:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def replace_files(bundle_dir, files, remove=()):
    """Write several files into an existing bundle, each via a temp file and `os.replace`, then
    delete the files named in `remove` (e.g. a model made from the one being replaced).

    `files` maps a file name to a callable that writes that file at the path it is given.
    """
    bundle_dir = Path(bundle_dir)
    staged = []
    try:
        for name, write in files.items():
            remove_stale_temps(bundle_dir, name)
            fd, tmp = tempfile.mkstemp(prefix=_temp_name(name, "tmp"), suffix=Path(name).suffix, dir=bundle_dir)
            os.close(fd)
            os.chmod(tmp, 0o666 & ~_umask())
            staged.append((tmp, bundle_dir / name))
            write(tmp)
        for tmp, final in staged:
            os.replace(tmp, final)
        for name in remove:
            (bundle_dir / name).unlink(missing_ok=True)
    finally:
        for tmp, _ in staged:
            if os.path.exists(tmp):
                os.remove(tmp)


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask
