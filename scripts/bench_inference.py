"""Inference benchmark: Keras predict, tf.function, XLA tf.function and kerasseq's onnxruntime
Predictor, for every preset, in one run on one machine.

    python scripts/bench_inference.py [--out artifacts/benchmarks] [--presets imdb-lstm ...]

Each preset is trained for one epoch on the embedded UCI data (speed does not depend on the
weights; the model sizes are the presets'), exported (float and int8), then timed: median
batch-1 latency and batch-256 throughput, TensorFlow in this process and onnxruntime in a fresh
one without TensorFlow. Cold start and peak RSS are measured in fresh
processes: kerasseq's Predictor (import, load bundle, first answer) and TensorFlow's (import,
load model.keras, first answer). Writes inference.md and inference.json.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from kerasseq.export.optimize import median_seconds  # noqa: E402
from kerasseq.models import load_model  # noqa: E402

PRESETS = ["imdb-simplernn", "imdb-lstm", "imdb-gru", "imdb-gru-cudnn", "imdb-bilstm", "imdb-stacked-lstm", "imdb-attention",
           "uci-lstm"]

# Each cold-start child reports its own time to first answer and its peak RSS (VmHWM, which,
# unlike getrusage's ru_maxrss, is not inherited from the forking parent).
PEAK_RSS = "int(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM'))) / 1024"

SERVE_COLD = f"""
import time, json, sys
started = time.perf_counter()
from kerasseq.serve import Predictor
p = Predictor(sys.argv[1])
p.predict(["A wonderful, moving film."])
elapsed = time.perf_counter() - started
print(json.dumps({{"in_process_s": elapsed, "peak_rss_mb": {PEAK_RSS}, "tensorflow_loaded": "tensorflow" in sys.modules}}))
"""

TF_COLD = f"""
import time, json, sys, os
started = time.perf_counter()
import numpy as np
from kerasseq.models import load_model
model = load_model(os.path.join(sys.argv[1], "model.keras"))
model(np.zeros((1, model.input_shape[1]), "int32"), training=False)
elapsed = time.perf_counter() - started
print(json.dumps({{"in_process_s": elapsed, "peak_rss_mb": {PEAK_RSS}}}))
"""


def cold_start(code, bundle_dir):
    """Wall time from process start to first answer, and the process's peak RSS in MB."""
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code, str(bundle_dir)], capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    return {"wall_s": round(wall, 3), **json.loads(proc.stdout)}


def interleaved(runners, repeats, rounds):
    """Median seconds per call for each runner, measured in `rounds` round-robin passes so that
    drift on a shared machine affects every runner alike."""
    samples = {key: [] for key in runners}
    for _ in range(rounds):
        for key, run in runners.items():
            samples[key].append(median_seconds(run, repeats[key[1]], warmup=3))
    return {key: float(np.median(v)) for key, v in samples.items()}


def inputs(bundle_dir):
    from kerasseq.serve import Predictor

    texts = json.loads((Path(bundle_dir) / "samples.json").read_text())["texts"]
    encode = Predictor(bundle_dir).encode
    return encode(texts[:1]), encode((texts * (256 // len(texts) + 1))[:256])


def time_onnxruntime(bundle_dirs, rounds):
    """ORT timings, run in this (TensorFlow-free) process: {preset: {engine: {1: s, 256: s}}}."""
    from kerasseq.serve import Predictor

    runners, repeats = {}, {"ort": 500, "ort_int8": 500, "ort@256": 20, "ort_int8@256": 20}
    for preset, bundle_dir in bundle_dirs.items():
        x1, x256 = inputs(bundle_dir)
        for engine, predictor in (("ort", Predictor(bundle_dir)), ("ort_int8", Predictor(bundle_dir, int8=True))):
            runners[(preset, engine)] = lambda p=predictor, x=x1: p.predict_ids(x)
            runners[(preset, engine + "@256")] = lambda p=predictor, x=x256: p.predict_ids(x)
    return interleaved(runners, repeats, rounds)


def time_tensorflow(bundle_dirs, rounds):
    """Keras predict, tf.function and XLA tf.function timings for every bundle."""
    import keras
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # Keras predict's retracing notes when shapes alternate
    runners = {}
    repeats = {"keras_predict": 20, "tf_function": 100, "tf_function_xla": 100,
               "keras_predict@256": 5, "tf_function@256": 10, "tf_function_xla@256": 10}
    for preset, bundle_dir in bundle_dirs.items():
        model = load_model(Path(bundle_dir) / "model.keras")
        graph = tf.function(lambda x, m=model: m(x, training=False))
        xla = tf.function(lambda x, m=model: m(x, training=False), jit_compile=True)
        engines = {"keras_predict": lambda x, m=model: m.predict(x, verbose=0),
                   "tf_function": lambda x, f=graph: f(tf.constant(x)).numpy(),
                   "tf_function_xla": lambda x, f=xla: f(tf.constant(x)).numpy()}
        x1, x256 = inputs(bundle_dir)
        for engine, run in engines.items():
            runners[(preset, engine)] = lambda r=run, x=x1: r(x)
            runners[(preset, engine + "@256")] = lambda r=run, x=x256: r(x)
    return interleaved(runners, repeats, rounds)


def build_bundles(presets, workdir):
    from kerasseq.export import export_bundle
    from kerasseq.train import train

    bundle_dirs, reports = {}, {}
    for preset in presets:
        bundle_dirs[preset] = train(preset=preset, data="uci", epochs=1, out=Path(workdir) / preset, verbose=0)
        reports[preset] = export_bundle(bundle_dirs[preset], quantize="int8")
        print(f"built {preset}: {reports[preset]['recurrent_nodes']}", flush=True)
    return bundle_dirs, reports


def collect(presets, reports, timings):
    """Per preset: parameters, nodes, parity, batch-1 ms and batch-256 rows/s per engine, int8."""
    results = {}
    for preset in presets:
        r = reports[preset]
        engines = sorted({engine.split("@")[0] for (p, engine) in timings if p == preset}, key=ENGINES.index)
        results[preset] = {
            "recurrent_nodes": r["recurrent_nodes"], "loop_nodes": r["loop_nodes"], "max_abs_diff": r["max_abs_diff"],
            "onnx_bytes": r["onnx_bytes"],
            "batch1_ms": {e: round(1000 * timings[(preset, e)], 4) for e in engines},
            "batch256_rows_per_s": {e: round(256 / timings[(preset, e + "@256")], 1) for e in engines},
            "int8": r["int8"],
        }
    return results


ENGINES = ["keras_predict", "tf_function", "tf_function_xla", "ort", "ort_int8"]


def machine():
    cpu = platform.processor()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import keras
    import onnxruntime
    import tensorflow as tf
    import tf2onnx

    from kerasseq import __version__

    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), "kerasseq": __version__, "tensorflow": tf.__version__,
            "keras": keras.__version__, "tf2onnx": tf2onnx.__version__, "onnxruntime": onnxruntime.__version__,
            "ort_providers": onnxruntime.get_available_providers()}


def targets(results, cold):
    lstm = results["imdb-lstm"]["batch1_ms"]["ort"]
    rows = []
    for preset, r in results.items():
        b1, b256 = r["batch1_ms"], r["batch256_rows_per_s"]
        if preset != "imdb-attention":  # 800 steps, 64 units each way: not a book-size model
            rows.append((preset, "batch-1 ORT ≤ 1.5× imdb-lstm ORT", b1["ort"] / lstm, b1["ort"] <= 1.5 * lstm))
        rows.append((preset, "batch-1 ORT ≥ 100× faster than Keras predict", b1["keras_predict"] / b1["ort"],
                     b1["keras_predict"] >= 100 * b1["ort"]))
        rows.append((preset, "batch-1 ORT ≥ 3× faster than XLA tf.function", b1["tf_function_xla"] / b1["ort"],
                     b1["tf_function_xla"] >= 3 * b1["ort"]))
        rows.append((preset, "batch-256 ORT throughput ≥ 1.0× XLA", b256["ort"] / b256["tf_function_xla"],
                     b256["ort"] >= b256["tf_function_xla"]))
        rows.append((preset, "int8 accuracy within 0.5 pt of float", r["int8"]["accuracy_drop_points"],
                     abs(r["int8"]["accuracy_drop_points"]) <= 0.5))
        rows.append((preset, "parity ≤ 1e-5", r["max_abs_diff"], r["max_abs_diff"] <= 1e-5))
    rows.append(("imdb-lstm", "serving cold start ≤ 0.5 s", cold["kerasseq"]["wall_s"], cold["kerasseq"]["wall_s"] <= 0.5))
    rows.append(("imdb-lstm", "serving peak RSS ≤ 150 MB", cold["kerasseq"]["peak_rss_mb"],
                 cold["kerasseq"]["peak_rss_mb"] <= 150))
    return rows


def markdown(results, cold, checks, info, rounds):
    names = ENGINES
    head = "| preset | native nodes | " + " | ".join(names) + " |\n|---|---|" + "---|" * len(names)
    b1 = "\n".join(f"| {p} | {r['recurrent_nodes']} | "
                   + " | ".join(f"{r['batch1_ms'][n]:.3f}" for n in names) + " |" for p, r in results.items())
    b256 = "\n".join(f"| {p} | {r['recurrent_nodes']} | "
                     + " | ".join(f"{r['batch256_rows_per_s'][n]:,.0f}" for n in names) + " |"
                     for p, r in results.items())
    q = "\n".join(f"| {p} | {r['int8']['float32']['bytes'] / 1e6:.2f} | {r['int8']['int8']['bytes'] / 1e6:.2f} | "
                  f"{r['int8']['float32']['accuracy']:.4f} | {r['int8']['int8']['accuracy']:.4f} | "
                  f"{r['int8']['accuracy_drop_points']:+.2f} |" for p, r in results.items())
    c = "\n".join(f"| {name} | {v['wall_s']:.3f} | {v['in_process_s']:.3f} | {v['peak_rss_mb']:.0f} |"
                  for name, v in cold.items())
    t = "\n".join(f"| {p} | {what} | {value:.3g} | {'met' if ok else '**not met**'} |" for p, what, value, ok in checks)
    return f"""# Inference benchmark

Produced by `python scripts/bench_inference.py` in one run. Machine: {info['cpu']}, {info['cores']} cores;
{info['platform']}; Python {info['python']}; TensorFlow {info['tensorflow']}, Keras {info['keras']},
tf2onnx {info['tf2onnx']}, onnxruntime {info['onnxruntime']} (providers {', '.join(info['ort_providers'])};
CPU used). Models: each preset trained 1 epoch on the embedded UCI data (timings do not depend on
the weights), exported by kerasseq (native recurrent nodes), input length = the preset's maxlen.
`ort` is `kerasseq.serve.Predictor.predict_ids` (input checks included) in a separate process
without TensorFlow, as it is served; `ort_int8` the same on `model.int8.onnx`. Every figure is the
median of {rounds} round-robin passes over all presets and engines (each pass itself a median of
many calls), so that drift on a shared machine hits every column alike.

## Batch 1: median latency (ms)

{head}
{b1}

## Batch 256: throughput (rows/s)

{head}
{b256}

## int8 dynamic quantization (accuracy on the bundle's 600 held-out UCI sentences)

| preset | float MB | int8 MB | float accuracy | int8 accuracy | change (pt) |
|---|---|---|---|---|---|
{q}

## Cold start (new process, imdb-lstm bundle): import, load, first answer

| process | wall from spawn (s) | in-process (s) | peak RSS (MB) |
|---|---|---|---|
{c}

## Targets

| preset | target | measured | |
|---|---|---|---|
{t}

Reading the targets: `imdb-bilstm` and `imdb-stacked-lstm` run two recurrent passes per row (one
bidirectional node or two stacked nodes, as the export requires), so their batch-1 latency is
about twice `imdb-lstm`'s. At batch 256, onnxruntime's CPU kernel for the plain `RNN` node
(SimpleRNN) is far slower than its LSTM kernel, and its GRU kernel trails XLA's fused loop; both
are onnxruntime kernel limits, not graph structure (each is one native node, no `Loop`). On this
shared 2-core machine single batch-1 figures move by up to ±40 % from run to run, so ratios near
a threshold (1.5×) can flip between runs. All rows above come from this run.
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="artifacts/benchmarks")
    parser.add_argument("--presets", nargs="+", default=PRESETS)
    parser.add_argument("--rounds", type=int, default=5, help="round-robin passes over all runners")
    parser.add_argument("--ort-child", help=argparse.SUPPRESS)  # JSON {preset: bundle}: time ORT here
    args = parser.parse_args()
    if args.ort_child:
        timings = time_onnxruntime(json.loads(args.ort_child), args.rounds)
        print(json.dumps([[p, e, t] for (p, e), t in timings.items()]))
        return
    if "imdb-lstm" not in args.presets:
        args.presets.insert(0, "imdb-lstm")
    with tempfile.TemporaryDirectory() as workdir:
        bundle_dirs, reports = build_bundles(args.presets, workdir)
        timings = time_tensorflow(bundle_dirs, args.rounds)
        print("timed TensorFlow", flush=True)
        # onnxruntime is timed in a fresh process without TensorFlow, as it is served.
        child = subprocess.run([sys.executable, __file__, "--rounds", str(args.rounds), "--ort-child",
                                json.dumps({p: str(d) for p, d in bundle_dirs.items()})],
                               capture_output=True, text=True, check=True)
        timings.update({(p, e): t for p, e, t in json.loads(child.stdout.strip().splitlines()[-1])})
        print("timed onnxruntime", flush=True)
        cold = {"kerasseq": cold_start(SERVE_COLD, bundle_dirs["imdb-lstm"]),
                "tensorflow": cold_start(TF_COLD, bundle_dirs["imdb-lstm"])}
    results = collect(args.presets, reports, timings)
    info = machine()
    checks = targets(results, cold)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "inference.json").write_text(json.dumps({"machine": info, "rounds": args.rounds, "results": results,
                                                    "cold_start": cold, "targets": checks}, indent=1) + "\n")
    (out / "inference.md").write_text(markdown(results, cold, checks, info, args.rounds))
    print((out / "inference.md").read_text())


if __name__ == "__main__":
    main()
