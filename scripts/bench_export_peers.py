"""Export peers: kerasseq's `to_onnx` vs plain `tf2onnx.convert.from_keras` vs Keras's own
`model.export(format="onnx")`, on the peer suite's models (tests/test_export_peers.py), in one run.

Per model and exporter: success or the error, Loop/Scan and native recurrent node counts, max |onnx - keras|
on the same generated rows (kerasseq.export.sample_inputs), onnxruntime CPU batch-1 latency and batch-64
throughput. Latency is the lowest of ROUNDS medians of LATENCY_RUNS calls, the exporters' sessions taking
turns round by round: at ~10 µs a call, one median alone is mostly scheduling noise.

    python scripts/bench_export_peers.py        → artifacts/benchmarks/export_peers.md + .json
"""

import json
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
OUT = ROOT / "artifacts" / "benchmarks"
LATENCY_RUNS = 200
ROUNDS = 5


def exporters():
    import onnx
    import tensorflow as tf
    import tf2onnx

    from kerasseq.export import to_onnx

    def kerasseq_export(model):
        return to_onnx(model, validate=False).model.SerializeToString()

    def plain_tf2onnx(model):
        signature = [tf.TensorSpec([None, *t.shape[1:]], t.dtype, name=f"in{k}") for k, t in enumerate(model.inputs)]
        onnx_model, _ = tf2onnx.convert.from_keras(model, input_signature=signature, opset=17)
        return onnx_model.SerializeToString()

    def keras_export(model):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.onnx"
            model.export(str(path), format="onnx", verbose=False)
            return onnx.load(str(path)).SerializeToString()

    return {"kerasseq": kerasseq_export, "tf2onnx": plain_tf2onnx, "keras export": keras_export}


def prepare(data, model, rows):
    """(onnxruntime session, its batch-1 feed, the result so far: parity, node counts, batch-64 throughput)."""
    import onnx
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 4
    session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    want = model(rows if len(rows) > 1 else rows[0], training=False)
    want = [np.asarray(w) for w in (want if isinstance(want, (list, tuple)) else [want])]
    got = session.run(None, dict(zip(names, rows)))
    diff = max(float(np.abs(np.asarray(g) - w).max()) for g, w in zip(got, want)) if all(
        np.shape(g) == w.shape for g, w in zip(got, want)) else float("inf")
    batch = dict(zip(names, [r[:64] for r in rows]))
    started, runs = time.perf_counter(), 0
    while time.perf_counter() - started < 0.5:
        session.run(None, batch)
        runs += 1
    ops = Counter(node.op_type for node in onnx.load_from_string(data).graph.node)
    one = dict(zip(names, [r[:1] for r in rows]))
    for _ in range(20):
        session.run(None, one)
    return session, one, {"ok": True, "max_abs_diff": diff, "loops": ops["Loop"] + ops["Scan"],
                          "native": sum(ops[o] for o in ("RNN", "GRU", "LSTM")), "batch1_ms": float("inf"),
                          "batch64_rows_per_s": 64 * runs / (time.perf_counter() - started)}


def latency_round(session, feed):
    times = []
    for _ in range(LATENCY_RUNS):
        started = time.perf_counter()
        session.run(None, feed)
        times.append(time.perf_counter() - started)
    return 1000 * float(np.median(times))


def main():
    import keras

    from kerasseq.export import sample_inputs
    from test_export_peers import CASES

    results = []
    for name in sorted(CASES):
        keras.utils.set_random_seed(0)
        model = CASES[name]()
        rows = next(iter(sample_inputs(model).values()))
        row, sessions = {"model": name}, {}
        for exporter, export in exporters().items():
            try:
                session, feed, row[exporter] = prepare(export(model), model, rows)
                sessions[exporter] = (session, feed)
            except Exception as e:  # a peer that cannot convert the model: its error, in one line
                row[exporter] = {"ok": False, "error": f"{type(e).__name__}: {str(e).splitlines()[0][:120]}"}
        for _ in range(ROUNDS):  # the exporters take turns, so a slow moment of the machine hits all of them
            for exporter, (session, feed) in sessions.items():
                row[exporter]["batch1_ms"] = min(row[exporter]["batch1_ms"], latency_round(session, feed))
        results.append(row)
        print(name, {k: ("%.3f ms, %d loops, diff %.1e" % (v["batch1_ms"], v["loops"], v["max_abs_diff"]) if v["ok"]
                         else v["error"][:60]) for k, v in row.items() if k != "model"}, flush=True)
    write(results)


def cell(r):
    if not r["ok"]:
        return f"fails: {r['error'][:70]}"
    return (f"{r['batch1_ms']:.3f} ms · {r['batch64_rows_per_s']:,.0f}/s · {r['loops']} Loop · {r['native']} native · "
            f"{r['max_abs_diff']:.0e}")


def write(results):
    import keras
    import onnxruntime
    import tensorflow as tf
    import tf2onnx

    names = ("kerasseq", "tf2onnx", "keras export")
    lines = ["| model | " + " | ".join(names) + " | kerasseq vs faster peer at batch 1 |", "|---" * 5 + "|"]
    for row in results:
        peers = [row[n]["batch1_ms"] for n in names[1:] if row[n]["ok"]]
        speed = (f"{min(peers) / row['kerasseq']['batch1_ms']:.2f}x" if peers and row["kerasseq"]["ok"] else "no peer")
        lines.append(f"| {row['model']} | " + " | ".join(cell(row[n]) for n in names) + f" | {speed} |")
    ok = {n: sum(row[n]["ok"] for row in results) for n in names}
    meta = {"python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__,
            "tf2onnx": tf2onnx.__version__, "onnxruntime": onnxruntime.__version__, "cpus": os.cpu_count()}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "export_peers.json").write_text(json.dumps({"results": results, **meta}, indent=1) + "\n")
    (OUT / "export_peers.md").write_text(
        "# Exporting the peer suite: kerasseq vs tf2onnx vs Keras's own ONNX export\n\n"
        f"`python scripts/bench_export_peers.py`: {len(results)} models of `tests/test_export_peers.py`, on {meta['cpus']} "
        f"CPU cores; TensorFlow {meta['tensorflow']}, Keras {meta['keras']}, tf2onnx {meta['tf2onnx']}, onnxruntime "
        f"{meta['onnxruntime']} (CPU provider). Each cell: batch-1 median latency · batch-64 rows/s · Loop/Scan nodes · "
        "native RNN/GRU/LSTM nodes · max |onnx - keras| on the same generated rows. Converted: "
        + ", ".join(f"{n} {ok[n]}/{len(results)}" for n in names) + ".\n\n" + "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
