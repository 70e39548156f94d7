"""The `kerasseq` command: train, export, predict, generate, forecast, stats, presets.

TensorFlow is imported only by `train` and `export`; `predict`, `generate` and `forecast` run on
onnxruntime alone.
Every error becomes one line on stderr and a non-zero exit, never a traceback.
"""

import argparse
import json
import os
import sys


def _train(args):
    from kerasseq.models import PRESETS

    common = dict(preset=args.preset, epochs=args.epochs, out=args.out, export=args.export, seed=args.seed,
                  data_dir=args.data_dir)
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
    prime = generator.sampling["prime"] if args.prime is None else args.prime
    text = generator.generate(prime, max_chars=args.max_chars, temperature=args.temperature, top_k=args.top_k,
                              greedy=args.greedy, stop_at=args.stop_at, seed=args.seed, unknown=args.unknown)
    print(prime + text)


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

    limits = Limits(max_body_bytes=args.max_body_bytes, max_texts=args.max_texts, max_text_chars=args.max_text_chars)
    app = create_app(args.bundles, max_batch=args.max_batch, max_delay_ms=args.max_delay_ms, threads=args.threads,
                     limits=limits)
    names = ", ".join(m["name"] for m in app.state.models)
    print(f"kerasseq serve: {names} on http://{args.host}:{args.port} (max batch {args.max_batch}, "
          f"max delay {args.max_delay_ms} ms)", file=sys.stderr, flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)


def _export(args):
    from kerasseq.export import export_bundle

    _print_export(export_bundle(args.bundle, opset=args.opset, optimize=args.optimize, quantize=args.quantize))


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
    if "int8" in report:
        q = report["int8"]
        print(f"int8 model.int8.onnx: {q['int8']['bytes'] / 1e6:.2f} MB vs {q['float32']['bytes'] / 1e6:.2f} MB, "
              f"batch-1 {q['int8']['batch1_median_ms']:.3f} ms vs {q['float32']['batch1_median_ms']:.3f} ms, "
              f"accuracy {q['int8']['accuracy']} vs {q['float32']['accuracy']} on {q['rows']} held-out rows")


def _predict(args):
    from kerasseq.serve import Predictor

    texts = list(args.texts)
    if args.file:
        try:
            with open(args.file, encoding="utf-8") as f:
                texts += [line.rstrip("\n") for line in f]
        except UnicodeDecodeError as e:
            raise ValueError(f"--file {args.file} is not UTF-8 text: {e}") from None
    if not texts:
        raise ValueError("give at least one text, or --file with one text per line")
    predictor = Predictor(args.bundle, int8=args.int8)
    if args.explain:
        _explain(predictor, texts, args.heatmap, args.top)
        return
    for text, result in zip(texts, predictor.predict(texts)):
        print(json.dumps({"text": text, **result}, ensure_ascii=False))


def _explain(predictor, texts, heatmap, top):
    """One JSON line per text with its top attention tokens, and one heat-map PNG per text."""
    from pathlib import Path

    from kerasseq.serve.heatmap import plot_attention

    heatmap = Path(heatmap)
    for k, (text, result) in enumerate(zip(texts, predictor.explain(texts, top=top)), start=1):
        path = heatmap if len(texts) == 1 else heatmap.with_name(f"{heatmap.stem}-{k}{heatmap.suffix}")
        plot_attention(result, path, title=f"text {k}")
        top_tokens = [[token, round(weight, 4)] for token, weight in result["top"]]
        print(json.dumps({"text": text, "label": result["label"], "score": result["score"],
                          "top_tokens": top_tokens, "heatmap": str(path)}, ensure_ascii=False))


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
    out = Path(args.out or Path("runs") / f"stats-{Path(str(args.data)).stem}")
    out.mkdir(parents=True, exist_ok=True)
    bundle.write_json(out / "lengths.json", result)
    stats.plot_lengths(lengths, result, out / "lengths.png", title=f"{args.data} training texts")
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


def build_parser():
    from kerasseq import __version__
    from kerasseq.data import DATA_ENV

    parser = argparse.ArgumentParser(prog="kerasseq", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"kerasseq {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("train", help="train a preset and write a bundle")
    p.add_argument("--preset", default="uci-lstm", help="preset name (see `kerasseq presets`)")
    p.add_argument("--data", help='classifiers: "uci" (embedded default), "imdb", "amazon", a CSV/TSV with '
                   'text and label columns, or an aclImdb directory; char-lm presets: "alice" (embedded), '
                   '"warpeace" or a text file (default: the preset\'s text)')
    p.add_argument("--data-dir", help=f"where imdb/amazon files are looked for (else ${DATA_ENV}, then "
                   "~/.kerasseq/data)")
    p.add_argument("--epochs", type=int, help="maximum epochs (default: the preset's)")
    p.add_argument("--out", help="bundle directory (default: runs/PRESET)")
    p.add_argument("--export", action="store_true", help="also export and validate model.onnx")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=_train)

    p = commands.add_parser("export", help="convert a bundle's model to ONNX and validate it")
    p.add_argument("bundle")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset, 13 to 18 (default 17)")
    p.add_argument("--optimize", action="store_true", help="save onnxruntime's optimized graph")
    p.add_argument("--quantize", choices=["int8"], help="also write a dynamically quantized model.int8.onnx")
    p.set_defaults(run=_export)

    p = commands.add_parser("predict", help="label raw texts with a bundle's ONNX model")
    p.add_argument("bundle")
    p.add_argument("texts", nargs="*", help="texts to label")
    p.add_argument("--file", help="a UTF-8 file with one text per line")
    p.add_argument("--int8", action="store_true", help="use model.int8.onnx (from export --quantize int8)")
    p.add_argument("--explain", action="store_true", help="attention models: print the most weighted tokens "
                   "and write a heat map per text")
    p.add_argument("--heatmap", default="attention.png", help="heat-map PNG for --explain (several texts: "
                   "NAME-1.png, NAME-2.png, ...; default attention.png)")
    p.add_argument("--top", type=int, default=10, help="tokens to print with --explain (default 10)")
    p.set_defaults(run=_predict)

    p = commands.add_parser("generate", help="generate text with a char-generation bundle's ONNX step model")
    p.add_argument("bundle")
    p.add_argument("--prime", help="text that starts the generation (default: the preset's)")
    p.add_argument("--max-chars", type=int, default=300, help="characters to generate (default 300)")
    p.add_argument("--temperature", type=float, help="> 0; lower is more conservative (default: the preset's)")
    p.add_argument("--top-k", type=int, help="draw from the K most likely characters (default: the preset's; "
                   "above the vocabulary size means all)")
    p.add_argument("--greedy", action="store_true", help="always take the most likely character")
    p.add_argument("--stop-at", help="stop right after generating this character (e.g. '.')")
    p.add_argument("--seed", type=int, help="random seed for a reproducible draw")
    p.add_argument("--unknown", choices=["error", "replace", "drop"],
                   help="prime characters outside the vocabulary: error (default), replace by a space, or drop")
    p.set_defaults(run=_generate)

    p = commands.add_parser("forecast", help="next-step forecasts from a CSV history with a forecast bundle")
    p.add_argument("bundle")
    p.add_argument("--csv", required=True, help="the history, in the training table's column layout: "
                   "Product_Code,W0..Wn (weekly sales) or Date,Open,High,Low,Close,Volume (daily prices)")
    p.add_argument("--format", choices=["csv", "json"], default="csv", help="output format (default csv)")
    p.add_argument("--every-day", action="store_true", help="daily prices: also forecast every earlier day "
                   "from the days before it, with the actual close beside it")
    p.set_defaults(run=_forecast)

    p = commands.add_parser("serve", help="serve bundles over HTTP (FastAPI + uvicorn, micro-batching, metrics)")
    p.add_argument("bundles", nargs="+", help="bundle directories; each is served under its directory name")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--max-batch", type=int, default=64, help="rows per onnxruntime call (1: no batching)")
    p.add_argument("--max-delay-ms", type=float, default=5.0, help="how long the first request of a batch "
                   "waits for others (default 5)")
    p.add_argument("--threads", type=int, help="onnxruntime intra-op threads per model (default: onnxruntime's)")
    p.add_argument("--max-texts", type=int, default=256, help="texts per predict request (default 256)")
    p.add_argument("--max-text-chars", type=int, default=20000, help="characters per text (default 20000)")
    p.add_argument("--max-body-bytes", type=int, default=2_000_000, help="request body size (default 2 MB)")
    p.set_defaults(run=_serve)

    p = commands.add_parser("stats", help="token lengths of a data set: percentiles, covering maxlen, histogram")
    p.add_argument("--data", help='as for train: "uci" (default), "imdb", "amazon" or a CSV/TSV path')
    p.add_argument("--data-dir", help=f"where imdb/amazon files are looked for (else ${DATA_ENV})")
    p.add_argument("--preset", help="count tokens after this preset's text pipeline and check its maxlen")
    p.add_argument("--out", help="folder for lengths.png and lengths.json (default: runs/stats-DATA)")
    p.set_defaults(run=_stats)

    p = commands.add_parser("presets", help="list the model presets")
    p.set_defaults(run=_presets)
    return parser


def main(argv=None):
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command == "predict" and not any(e.startswith("-") for e in extra):
        args.texts += extra  # texts given after an option, e.g. `predict BUNDLE --int8 "text"`
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ info lines out of the output
    try:
        args.run(args)
    except KeyboardInterrupt:
        print("kerasseq: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # one line, no traceback: the message names the argument or file
        message = str(e) or type(e).__name__
        print(f"kerasseq {args.command}: error: {message.splitlines()[0]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
