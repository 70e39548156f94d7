"""The `kerasseq` command: train, export, predict, generate, forecast, stats, presets.

TensorFlow is imported only by `train` and `export`; `predict`, `generate` and `forecast` run on
onnxruntime alone.
Every error becomes one line on stderr and exit status 1, never a traceback (`--debug` shows it).
"""

import argparse
import contextlib
import json
import os
import sys
import warnings

PREDICT_BATCH = 256  # texts per chunk for `predict --file`: read, run and printed before the next is read


def _train(args):
    from kerasseq.models import PRESETS

    common = dict(preset=args.preset, epochs=args.epochs, out=args.out, export=args.export, seed=args.seed,
                  data_dir=args.data_dir, overwrite=args.overwrite)
    task = PRESETS.get(args.preset, {}).get("task")
    if task == "char-lm":
        from kerasseq.train_charlm import train_char_lm

        out = train_char_lm(text=args.data, **common)
    elif task == "forecast":
        from kerasseq.train_forecast import train_forecaster

        out = train_forecaster(data=args.data, **common)
    else:
        from kerasseq.train import train

        out = train(data=args.data or "uci", **common)
    metrics = _load(os.path.join(out, "metrics.json"))
    if task == "forecast":
        test = metrics["test"]
        print("test " + test["target"] + ": " + "; ".join(
            f"{name.replace('_', ' ')} MSE {m['mse']:.4g} MAE {m['mae']:.4g} R2 {m['r2']:.4f}"
            for name, m in test.items() if isinstance(m, dict)))
    elif "test_accuracy" in metrics:
        print(f"test accuracy {metrics['test_accuracy']:.4f}  loss {metrics['test_loss']:.4f}  "
              f"({metrics['epochs_run']} epochs, {metrics['train_seconds']} s)")
    else:
        held_out = f", held-out {metrics['val_loss']:.4f}" if metrics["val_loss"] is not None else ""
        print(f"loss {metrics['loss']:.4f} nats/char{held_out} at epoch {metrics['best_epoch']} "
              f"({metrics['epochs_run']} epochs, {metrics['seconds_per_epoch']} s each)")
    if args.export:
        _print_export(_load(os.path.join(out, "export_report.json")))
    print(f"bundle written to {out}")


def _generate(args):
    from kerasseq.serve import Generator

    generator = Generator(args.bundle)
    characters = generator.stream(args.prime, max_chars=args.max_chars, temperature=args.temperature,
                                  top_k=args.top_k, greedy=args.greedy, stop_at=args.stop_at, seed=args.seed,
                                  unknown=args.unknown)
    out = sys.stdout
    out.write(generator.prime_text(args.prime, args.unknown))  # the prime as the model read it
    for k, char in enumerate(characters, start=1):  # streamed: a long generation shows as it comes
        out.write(char)
        if char == "\n" or k % 64 == 0:
            out.flush()
    out.write("\n")


def _forecast(args):
    import csv

    from kerasseq.serve import Forecaster

    rows = Forecaster(args.bundle).forecast(args.csv, every_day=args.every_day)
    if args.format == "json":
        for row in rows:
            print(json.dumps(row))
        return
    columns = list(rows[0]) if rows else []
    for row in rows[1:]:
        columns += [c for c in row if c not in columns]
    writer = csv.DictWriter(sys.stdout, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)


def _serve(args):
    import uvicorn

    from kerasseq.serve.app import Limits, create_app
    from kerasseq.serve.timeouts import timed_protocol

    protocol = timed_protocol(args.header_timeout, args.body_timeout)  # checks the values before loading
    limits = Limits(max_body_bytes=args.max_body_bytes, max_texts=args.max_texts, max_text_chars=args.max_text_chars)
    app = create_app(args.bundles, max_batch=args.max_batch, max_delay_ms=args.max_delay_ms, threads=args.threads,
                     limits=limits)
    names = ", ".join(m["name"] for m in app.state.models)
    print(f"kerasseq serve: {names} on http://{args.host}:{args.port} (max batch {args.max_batch}, "
          f"max delay {args.max_delay_ms} ms)", file=sys.stderr, flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False, http=protocol)


def _export(args):
    from pathlib import Path

    path = Path(args.bundle)
    if path.is_file():  # a Keras model file of the user's own
        return _export_model(args, path)
    if args.output:
        raise ValueError("--output is for exporting a model file; a bundle's model.onnx is written inside it")
    from kerasseq.export import export_bundle

    _print_export(export_bundle(args.bundle, opset=args.opset, optimize=args.optimize, quantize=args.quantize))


def _export_model(args, path):
    from pathlib import Path

    from kerasseq.export import to_onnx

    if args.optimize or args.quantize:
        raise ValueError("--optimize and --quantize apply to bundles; for a model file, export it first")
    output = Path(args.output) if args.output else path.with_suffix(".onnx")
    samples = _load_samples(args.samples) if args.samples else None
    report = to_onnx(path, output, opset=args.opset, overwrite=args.overwrite, sample_inputs=samples).report
    ops = ", ".join(f"{op} {n}" for op, n in report["op_types"].items())
    print(f"exported {output} (opset {report['opset']}): max |onnx - keras| = {report['max_abs_diff']:.2e} over "
          f"{sum(report['rows'].values())} rows at batch sizes {', '.join(report['max_abs_diff_by_batch_size'])}; "
          f"recurrent nodes {report['recurrent_nodes'] or 'none'}; Loop/Scan nodes {report['loop_nodes']}")
    print(f"op types: {ops}")
    for layer in report["not_native"]:
        print(f"WARNING: layer {layer['layer']} is not converted by kerasseq's native path ({layer['reason']}); "
              "tf2onnx converts it (a Loop unless it has its own rewrite)", file=sys.stderr)
    print(f"report written to {output.with_name(output.stem + '.export_report.json')}")


def _load_samples(path):
    """The arrays of an .npz file (no pickle), in the order of the model's inputs: arr_0, arr_1, ... as
    np.savez writes them, or the names given to np.savez(inputs_0=..., ...) in file order."""
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as data:
            return [data[name] for name in data.files]
    except (OSError, ValueError) as e:
        raise ValueError(f"--samples {path}: expected an .npz file of arrays (numpy.savez): {e}") from None


def _bundle(args):
    from kerasseq.export.from_keras import bundle_from_keras

    labels = [label.strip() for label in args.labels.split(",")] if args.labels else None
    _print_export(bundle_from_keras(args.model, args.keras_tokenizer, args.maxlen, args.out, args.padding,
                                    args.truncating, labels, args.overwrite))
    print(f"bundle written to {args.out}: kerasseq predict {args.out} \"some text\"")


def _print_export(report):
    if report.get("task") == "forecast":
        print(f"exported model.onnx (opset {report['opset']}): max |onnx - keras| = {report['max_abs_diff']:.2e} "
              f"over {sum(report['rows'].values())} rows at batch sizes {', '.join(report['max_abs_diff_by_batch_size'])}"
              f"; recurrent nodes {report['recurrent_nodes'] or 'none'}")
        return
    if report.get("task") == "char-generation":
        print(f"exported model.onnx (step model, opset {report['opset']}): max |onnx - keras| = "
              f"{report['max_abs_diff']:.2e} (per step {report['per_step_max_abs_diff']:.2e} over "
              f"{report['per_step_chars']} characters); greedy {report['greedy_chars']} characters equal: "
              f"{report['greedy_equal']}; recurrent nodes {report['recurrent_nodes'] or 'none'}")
        return
    print(f"exported model.onnx (opset {report['opset']}{', optimized' if report['optimized'] else ''}): "
          f"max |onnx - keras| = {report['max_abs_diff']:.2e} over {sum(report['rows'].values())} rows at "
          f"batch sizes {', '.join(report['max_abs_diff_by_batch_size'])}; recurrent nodes "
          f"{report['recurrent_nodes'] or 'none'}")
    for layer in report["not_native"]:
        print(f"WARNING: layer {layer['layer']} is not a native ONNX recurrent node ({layer['reason']}): "
              f"exported as a slow Loop", file=sys.stderr)
    for node in report["cuda_cpu_fallback"]:
        print(f"note: {node['op']} node {node['node']} would run on the CPU under onnxruntime's CUDA provider "
              f"({'; '.join(node['reasons'])})", file=sys.stderr)
    for name in report.get("removed_stale", []):
        print(f"note: removed {name}, made from the previous model.onnx (rebuild it with --quantize int8)",
              file=sys.stderr)
    if "int8" in report:
        q = report["int8"]
        print(f"int8 model.int8.onnx: {q['int8']['bytes'] / 1e6:.2f} MB vs {q['float32']['bytes'] / 1e6:.2f} MB, "
              f"batch-1 {q['int8']['batch1_median_ms']:.3f} ms vs {q['float32']['batch1_median_ms']:.3f} ms, "
              f"accuracy {q['int8']['accuracy']} vs {q['float32']['accuracy']} on {q['rows']} held-out rows")


def _predict(args):
    from kerasseq.serve import Predictor
    from kerasseq.serve.jsontext import dumps

    predictor = Predictor(args.bundle, int8=args.int8, batch_size=args.batch_size)
    heatmap = _heatmap_path(args.heatmap) if args.explain else None
    several = len(args.texts) > 1 or args.file is not None  # heat maps NAME-1.png, NAME-2.png, ...
    count = 0
    for chunk in _chunks(_input_texts(args), args.batch_size):
        if args.explain:
            _explain(predictor, chunk, heatmap, args.top, count, several)
        else:
            for text, result in zip(chunk, predictor.predict(chunk)):
                print(dumps({"text": text, **result}))
        count += len(chunk)
        sys.stdout.flush()
    if not count:
        raise ValueError("give at least one text, or --file with one text per line")


def _input_texts(args):
    """The texts on the command line, then the lines of --file, read lazily (one text per line;
    a UTF-8 BOM and CR LF line ends are removed)."""
    yield from args.texts
    if not args.file:
        return
    try:
        f = open(args.file, "rb")
    except OSError as e:
        raise ValueError(f"--file {args.file}: {e.strerror}") from None
    with f:
        for number, line in enumerate(f, start=1):
            try:
                text = line.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as e:
                raise ValueError(f"--file {args.file} line {number} is not UTF-8 text: {e.reason} at byte "
                                 f"{e.start}") from None
            yield text[:-2] if text.endswith("\r\n") else text[:-1] if text.endswith("\n") else text


def _chunks(items, size):
    """Lists of `size` items; when reading an item fails, the items before it come first."""
    chunk = []
    try:
        for item in items:
            chunk.append(item)
            if len(chunk) == size:
                yield chunk
                chunk = []
    except ValueError:
        if chunk:
            yield chunk
        raise
    if chunk:
        yield chunk


def _heatmap_path(name):
    """The --heatmap path as written: PNG, so a name without the .png suffix gets it."""
    from pathlib import Path

    path = Path(name)
    return path if path.suffix.lower() == ".png" else path.with_name(path.name + ".png")


def _explain(predictor, texts, heatmap, top, start, several):
    """One JSON line per text with its top attention tokens, and one heat-map PNG per text
    (`heatmap` itself for a single text on the command line, else NAME-1.png, NAME-2.png, ...)."""
    from kerasseq.serve.heatmap import plot_attention
    from kerasseq.serve.jsontext import dumps

    for k, (text, result) in enumerate(zip(texts, predictor.explain(texts, top=top)), start=start + 1):
        path = heatmap.with_name(f"{heatmap.stem}-{k}{heatmap.suffix}") if several else heatmap
        plot_attention(result, path, title=f"text {k}")
        top_tokens = [[token, round(weight, 4)] for token, weight in result["top"]]
        print(dumps({"text": text, "label": result["label"], "score": result["score"],
                     "top_tokens": top_tokens, "heatmap": str(path)}))


def _stats(args):
    from pathlib import Path

    from kerasseq import bundle, stats
    from kerasseq.data import load_splits
    from kerasseq.models import get_preset
    from kerasseq.text.normalize import ReviewNormalizer

    spec = get_preset(args.preset) if args.preset else None
    if spec is not None and not hasattr(spec, "normalize"):
        kind = {"char-lm": "character language model", "forecast": "forecaster"}[spec.task]
        raise ValueError(f"--preset {args.preset} is a {kind}; stats counts the tokens of "
                         "labelled review data for text classifiers")
    normalizer = None if spec is None or spec.normalize is None else ReviewNormalizer.from_config(spec.normalize)
    args.data = args.data or "uci"
    train_set, _ = load_splits(args.data, args.data_dir)
    lengths = stats.token_lengths(train_set.texts, normalizer)
    result = stats.length_stats(lengths, spec.maxlen if spec else None)
    result.update(data=str(args.data), preset=args.preset, normalized=normalizer is not None)
    out = stats.check_output(args.out or Path("runs") / f"stats-{Path(str(args.data)).stem}", args.overwrite)
    out.mkdir(parents=True, exist_ok=True)
    bundle.replace_files(out, {
        "lengths.json": lambda path: bundle.write_json(path, {"format": stats.FORMAT, **result}),
        "lengths.png": lambda path: stats.plot_lengths(lengths, result, path, title=f"{args.data} training texts"),
    })
    print(f"{result['texts']} training texts of {args.data}" + (" after the NLTK pipeline" if normalizer else ""))
    print("\n".join(stats.format_table(result)))
    print(f"wrote {out / 'lengths.png'} and {out / 'lengths.json'}")


def _presets(args):
    from kerasseq.models import PRESETS, get_preset

    for name in PRESETS:
        print(f"{name:20s} {get_preset(name).description}")


def _load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _int_at_least(low, high=None):
    """An argparse type: an int in [low, high]; argparse names the option in its error."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected an integer {f'from {low} to {high}' if high else f'>= {low}'}, "
                                             f"got {value}")
        return value
    return parse


def build_parser():
    from kerasseq import __version__
    from kerasseq.data import DATA_ENV

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    parser = argparse.ArgumentParser(prog="kerasseq", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", dest="debug_all", action="store_true", help="show the full traceback of an error")
    parser.add_argument("--version", action="version", version=f"kerasseq {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    add_parser = commands.add_parser

    def command(name, **kwargs):
        return add_parser(name, parents=[common], **kwargs)

    p = command("train", help="train a preset and write a bundle")
    p.add_argument("--preset", default="uci-lstm", help="preset name (see `kerasseq presets`)")
    p.add_argument("--data", help='classifiers: "uci" (embedded default), "imdb", "amazon", a CSV/TSV with '
                   'text and label columns, or an aclImdb directory; char-lm presets: "alice" (embedded), '
                   '"warpeace" or a text file (default: the preset\'s text)')
    p.add_argument("--data-dir", help=f"where imdb/amazon files are looked for (else ${DATA_ENV}, then "
                   "~/.kerasseq/data)")
    p.add_argument("--epochs", type=_int_at_least(1), help="maximum epochs (default: the preset's)")
    p.add_argument("--out", help="bundle directory (default: runs/PRESET): a new or empty folder, or a kerasseq "
                   "bundle, which it replaces")
    p.add_argument("--overwrite", action="store_true", help="replace --out even if it is not a kerasseq bundle")
    p.add_argument("--export", action="store_true", help="also export and validate model.onnx")
    p.add_argument("--seed", type=_int_at_least(0), default=0, help="random seed (default 0)")
    p.set_defaults(run=_train)

    p = command("export", help="convert a bundle's model, or a .keras/.h5 model file, to ONNX and validate it")
    p.add_argument("bundle", metavar="PATH", help="a bundle directory, or a Keras model file (.keras, .h5)")
    p.add_argument("--output", help="model files: the ONNX file to write (default: PATH with .onnx), beside "
                   "OUTPUT.export_report.json")
    p.add_argument("--overwrite", action="store_true", help="model files: replace --output even if kerasseq "
                   "did not write it")
    p.add_argument("--samples", help="model files: an .npz of validation inputs (numpy.savez, one array per "
                   "model input, in order) instead of the generated rows")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset, 13 to 18 (default 17)")
    p.add_argument("--optimize", action="store_true", help="save onnxruntime's optimized graph")
    p.add_argument("--quantize", choices=["int8"], help="also write a dynamically quantized model.int8.onnx")
    p.set_defaults(run=_export)

    p = command("bundle", help="make a bundle from your own Keras text classifier and Keras Tokenizer JSON")
    p.add_argument("--model", required=True, help="the classifier (.keras or .h5): int token ids in, probabilities out")
    p.add_argument("--keras-tokenizer", required=True, help="its tokenizer: the JSON of tf.keras's "
                   "Tokenizer.to_json()")
    p.add_argument("--maxlen", required=True, type=_int_at_least(1), help="the sequence length it was trained on")
    p.add_argument("--padding", choices=["pre", "post"], default="pre", help="padding side (default pre, as Keras)")
    p.add_argument("--truncating", choices=["pre", "post"], default="pre", help="truncating side (default pre)")
    p.add_argument("--labels", help="comma-separated class names (default: negative,positive)")
    p.add_argument("--out", required=True, help="the bundle directory: new, empty or a kerasseq bundle")
    p.add_argument("--overwrite", action="store_true", help="replace --out even if it is not a kerasseq bundle")
    p.set_defaults(run=_bundle)

    p = command("predict", help="label raw texts with a bundle's ONNX model")
    p.add_argument("bundle")
    p.add_argument("texts", nargs="*", help="texts to label")
    p.add_argument("--file", help="a UTF-8 file with one text per line")
    p.add_argument("--int8", action="store_true", help="use model.int8.onnx (from export --quantize int8)")
    p.add_argument("--explain", action="store_true", help="attention models: print the most weighted tokens "
                   "and write a heat map per text")
    p.add_argument("--heatmap", default="attention.png", help="heat-map PNG for --explain (several texts or "
                   "--file: NAME-1.png, NAME-2.png, ...; default attention.png; .png is added if missing)")
    p.add_argument("--top", type=_int_at_least(1), default=10, help="tokens to print with --explain (default 10)")
    p.add_argument("--batch-size", type=_int_at_least(1), default=PREDICT_BATCH, help="texts read, run and "
                   f"printed at a time: memory stays bounded for any --file (default {PREDICT_BATCH})")
    p.set_defaults(run=_predict)

    p = command("generate", help="generate text with a char-generation bundle's ONNX step model")
    p.add_argument("bundle")
    p.add_argument("--prime", help="text that starts the generation (default: the preset's)")
    p.add_argument("--max-chars", type=_int_at_least(1), default=300, help="characters to generate (default 300; "
                   "printed as they come, no upper limit; the server caps a request at 2,000)")
    p.add_argument("--temperature", type=float, help="> 0; lower is more conservative (default: the preset's)")
    p.add_argument("--top-k", type=_int_at_least(1), help="draw from the K most likely characters (default: the preset's; "
                   "above the vocabulary size means all)")
    p.add_argument("--greedy", action="store_true", help="always take the most likely character")
    p.add_argument("--stop-at", help="stop right after generating this character (e.g. '.')")
    p.add_argument("--seed", type=_int_at_least(0), help="random seed for a reproducible draw")
    p.add_argument("--unknown", choices=["error", "replace", "drop"],
                   help="prime characters outside the vocabulary: error (default), replace by a space, or drop")
    p.set_defaults(run=_generate)

    p = command("forecast", help="next-step forecasts from a CSV history with a forecast bundle")
    p.add_argument("bundle")
    p.add_argument("--csv", required=True, help="the history, in the training table's column layout: "
                   "Product_Code,W0..Wn (weekly sales) or Date,Open,High,Low,Close,Volume (daily prices)")
    p.add_argument("--format", choices=["csv", "json"], default="csv", help="output format (default csv)")
    p.add_argument("--every-day", action="store_true", help="daily prices: also forecast every earlier day "
                   "from the days before it, with the actual close beside it")
    p.set_defaults(run=_forecast)

    p = command("serve", help="serve bundles over HTTP (FastAPI + uvicorn, micro-batching, metrics)")
    p.add_argument("bundles", nargs="+", help="bundle directories; each is served under its directory name")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=_int_at_least(1, 65535), default=8080, help="TCP port, 1 to 65535 (default 8080)")
    p.add_argument("--max-batch", type=_int_at_least(1), default=64, help="rows per onnxruntime call (1: no batching)")
    p.add_argument("--max-delay-ms", type=float, default=5.0, help="how long the first request of a batch "
                   "waits for others (default 5)")
    p.add_argument("--threads", type=_int_at_least(1), help="onnxruntime intra-op threads per model "
                   "(default: onnxruntime's)")
    p.add_argument("--max-texts", type=_int_at_least(1), default=256, help="texts per predict request (default 256)")
    p.add_argument("--max-text-chars", type=_int_at_least(1), default=20000, help="characters per text "
                   "(default 20000)")
    p.add_argument("--max-body-bytes", type=_int_at_least(1), default=2_000_000, help="request body size "
                   "(default 2 MB); a larger body is read and discarded up to 64 MB, then answered 413")
    p.add_argument("--header-timeout", type=float, default=10.0, help="seconds a client may take to send a "
                   "request's headers (default 10)")
    p.add_argument("--body-timeout", type=float, default=30.0, help="seconds a client may take to send a "
                   "request's body (default 30)")
    p.set_defaults(run=_serve)

    p = command("stats", help="token lengths of a data set: percentiles, covering maxlen, histogram")
    p.add_argument("--data", help='as for train: "uci" (default), "imdb", "amazon" or a CSV/TSV path')
    p.add_argument("--data-dir", help=f"where imdb/amazon files are looked for (else ${DATA_ENV})")
    p.add_argument("--preset", help="count tokens after this preset's text pipeline and check its maxlen")
    p.add_argument("--out", help="folder for lengths.png and lengths.json (default: runs/stats-DATA): new, empty "
                   "or an earlier stats folder")
    p.add_argument("--overwrite", action="store_true", help="write into --out even if it holds other files "
                   "(only lengths.png and lengths.json are replaced)")
    p.set_defaults(run=_stats)

    p = command("presets", help="list the model presets")
    p.set_defaults(run=_presets)
    return parser


def main(argv=None):
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command == "predict" and not any(e.startswith("-") for e in extra):
        args.texts += extra  # texts given after an option, e.g. `predict BUNDLE --int8 "text"`
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.debug = args.debug or args.debug_all
    # TensorFlow's C++ and absl lines: off (TF_CPP_MIN_LOG_LEVEL 3) unless the user chose a level or --debug
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if args.debug else "3")
    level = int(os.environ["TF_CPP_MIN_LOG_LEVEL"]) if os.environ["TF_CPP_MIN_LOG_LEVEL"].isdigit() else 0
    if not args.debug:
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy's; every bad input gets its own error
    if level and args.command in ("train", "export", "bundle"):  # the commands that load TensorFlow
        from kerasseq.quiet import native_logs_filtered

        filtered = native_logs_filtered(level)
    else:
        filtered = contextlib.nullcontext()
    try:
        with filtered:
            args.run(args)
            sys.stdout.flush()
    except KeyboardInterrupt:
        print("kerasseq: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly, as Unix tools do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except Exception as e:  # one line, no traceback: the message names the argument or file
        if args.debug:
            raise
        message = str(e) or type(e).__name__
        print(f"kerasseq {args.command}: error: {message.splitlines()[0]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
