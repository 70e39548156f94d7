"""Load test of `kerasseq serve`: throughput and latency at 1, 16 and 64 concurrent clients, with
micro-batching on (--max-batch 64 --max-delay-ms 5) and off (--max-batch 1), in one run.

    python scripts/load_test_server.py [--requests 2000] [--seconds 20] [--out artifacts/benchmarks]

It trains an IMDb-size LSTM (the `imdb-lstm` preset: vocab 8,000, 200 steps, LSTM(32)) for one
epoch on the embedded data and exports it (speed does not depend on the weights), starts the server
in its own process for each setting, and drives it from another process over loopback: one
keep-alive HTTP connection per client thread, one real review per request (IMDb test reviews when
the data directory has them, else the Amazon sample, else the embedded UCI sentences). Each level
stops after --requests requests or --seconds seconds. It checks that served scores equal
`Predictor.predict` on the same texts, and writes serving.md and serving.json.
"""

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LEVELS = (1, 16, 64)
SETTINGS = {"on": ["--max-batch", "64", "--max-delay-ms", "5"], "off": ["--max-batch", "1"]}


def client(port, texts, clients, max_requests, max_seconds):
    """Run `clients` threads against the server; returns latencies, errors, seconds and answers."""
    import http.client

    lock = threading.Lock()
    latencies, errors, answers = [], [], {}
    sent = [0]
    deadline = time.monotonic() + max_seconds

    def worker(k):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            with lock:
                if sent[0] >= max_requests or time.monotonic() > deadline:
                    break
                i = sent[0]
                sent[0] += 1
            text = texts[i % len(texts)]
            body = json.dumps({"texts": [text]})
            started = time.perf_counter()
            try:
                connection.request("POST", "/v1/models/model/predict", body=body,
                                   headers={"content-type": "application/json"})
                response = connection.getresponse()
                data = response.read()
                elapsed = time.perf_counter() - started
                with lock:
                    if response.status == 200:
                        latencies.append(elapsed)
                        if i < len(texts):
                            answers[i] = json.loads(data)["predictions"][0]
                    else:
                        errors.append(response.status)
            except (OSError, http.client.HTTPException) as e:
                with lock:
                    errors.append(type(e).__name__)
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"seconds": time.perf_counter() - started, "latencies": latencies, "errors": errors,
            "answers": {str(k): v for k, v in answers.items()}}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model_dir, flags):
    import http.client

    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "kerasseq.cli", "serve", str(model_dir), "--port", str(port),
                                *flags], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/readyz")
            if connection.getresponse().status == 200:
                return process, port
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"server did not start: {process.stderr.read()}")


def review_texts(data_dir, n=2000):
    """Real reviews: IMDb test reviews, else the Amazon sample, else the embedded UCI sentences."""
    from kerasseq.data import load_amazon, load_imdb, load_uci

    for name, load in (("IMDb test reviews", lambda: load_imdb(data_dir)[1]),
                       ("Amazon review sample", lambda: load_amazon(data_dir)[0])):
        try:
            return name, load().texts[:n]
        except (FileNotFoundError, ValueError):
            continue
    return "UCI sentences (embedded)", load_uci().texts[:n]


def build_bundle(out):
    """An IMDb-size LSTM bundle (imdb-lstm preset, 1 epoch on the embedded data), exported."""
    if (out / "model" / "model.onnx").is_file():
        return out / "model"
    subprocess.run([sys.executable, "-m", "kerasseq.cli", "train", "--preset", "imdb-lstm", "--data", "uci",
                    "--epochs", "1", "--export", "--out", str(out / "model")], check=True,
                   stdout=subprocess.DEVNULL)
    return out / "model"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per level at most")
    parser.add_argument("--seconds", type=float, default=20, help="seconds per level at most")
    parser.add_argument("--data-dir", default=os.environ.get("KERASSEQ_DATA", str(ROOT.parent / "shared" / "data")))
    parser.add_argument("--out", default=str(ROOT / "artifacts" / "benchmarks"))
    parser.add_argument("--work", default=str(ROOT / "runs" / "load-test"))
    parser.add_argument("--client", nargs=4, metavar=("PORT", "TEXTS_JSON", "CLIENTS", "REQUESTS"),
                        help=argparse.SUPPRESS)  # internal: run as the client process
    args = parser.parse_args()
    if args.client:
        port, texts_path, clients, requests = args.client
        texts = json.loads(Path(texts_path).read_text())
        print(json.dumps(client(int(port), texts, int(clients), int(requests), args.seconds)))
        return

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    model_dir = build_bundle(work)
    source, texts = review_texts(args.data_dir)
    texts_path = work / "texts.json"
    texts_path.write_text(json.dumps(texts))
    from kerasseq.serve import Predictor

    predictor = Predictor(model_dir, providers=["CPUExecutionProvider"])
    expected = predictor.predict(texts)
    costs = inference_costs(predictor, texts)
    print(json.dumps(costs), flush=True)
    rows = []
    for setting, flags in SETTINGS.items():
        process, port = start_server(model_dir, flags)
        try:
            for clients in LEVELS:
                run = subprocess.run([sys.executable, __file__, "--seconds", str(args.seconds), "--client", str(port),
                                      str(texts_path), str(clients), str(args.requests)],
                                     capture_output=True, text=True, check=True)
                r = json.loads(run.stdout)
                lat = np.array(r["latencies"]) * 1000
                diffs = [abs(v["score"] - expected[int(k)]["score"]) for k, v in r["answers"].items()
                         if v["label"] == expected[int(k)]["label"]]
                mismatched = sum(v["label"] != expected[int(k)]["label"] for k, v in r["answers"].items())
                rows.append({"batching": setting, "clients": clients, "requests": len(lat),
                             "errors": len(r["errors"]), "seconds": round(r["seconds"], 2),
                             "throughput_rps": round(len(lat) / r["seconds"], 1),
                             "p50_ms": round(float(np.percentile(lat, 50)), 2),
                             "p95_ms": round(float(np.percentile(lat, 95)), 2),
                             "p99_ms": round(float(np.percentile(lat, 99)), 2),
                             "checked_answers": len(r["answers"]), "label_mismatches": int(mismatched),
                             "max_score_diff": float(max(diffs)) if diffs else None})
                print(json.dumps(rows[-1]), flush=True)
        finally:
            process.terminate()
            process.wait(timeout=20)
    result = {"rows": rows, "texts": source, "model": "imdb-lstm preset (vocab 8,000, 200 steps, LSTM(32))",
              "requests_per_level": args.requests, "seconds_per_level": args.seconds,
              "machine": {"cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
              "inference": costs, "targets": targets(rows)}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "serving.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / "serving.md").write_text(markdown(result))
    print(f"wrote {out / 'serving.md'}")


def inference_costs(predictor, texts):
    """In-process Predictor.predict time (encoding + onnxruntime): one text, and per text in 64s."""
    def median_ms(batch, repeats):
        times = []
        for r in range(repeats):
            chunk = [texts[(r * batch + k) % len(texts)] for k in range(batch)]
            started = time.perf_counter()
            predictor.predict(chunk)
            times.append(time.perf_counter() - started)
        return 1000 * float(np.median(times))

    median_ms(64, 3)  # warm up
    return {"predict_1_text_ms": round(median_ms(1, 300), 3), "predict_per_text_in_64_ms": round(median_ms(64, 50) / 64, 4)}


def targets(rows):
    at = {(r["batching"], r["clients"]): r for r in rows}
    ratio = at[("on", 64)]["throughput_rps"] / at[("off", 64)]["throughput_rps"]
    diffs = [r["max_score_diff"] for r in rows if r["max_score_diff"] is not None]
    return {
        "batching_speedup_at_64": {"value": round(ratio, 2), "target": 3.0, "met": ratio >= 3.0},
        "errors_at_64_with_batching": {"value": at[("on", 64)]["errors"], "target": 0,
                                       "met": at[("on", 64)]["errors"] == 0},
        "p99_ms_at_16_with_batching": {"value": at[("on", 16)]["p99_ms"], "target": 50,
                                       "met": at[("on", 16)]["p99_ms"] <= 50},
        "max_score_diff_vs_predictor": {"value": max(diffs), "target": 1e-6,
                                        "met": max(diffs) <= 1e-6 and not any(r["label_mismatches"] for r in rows)},
    }


def markdown(result):
    table = "\n".join(f"| {r['batching']} | {r['clients']} | {r['requests']} | {r['errors']} | "
                      f"{r['throughput_rps']:,.0f} | {r['p50_ms']} | {r['p95_ms']} | {r['p99_ms']} |"
                      for r in result["rows"])
    goals = "\n".join(f"| {name.replace('_', ' ')} | {t['value']} | {t['target']} | {'met' if t['met'] else 'NOT met'} |"
                      for name, t in result["targets"].items())
    return f"""# Serving load test

`python scripts/load_test_server.py`: `kerasseq serve` (FastAPI + uvicorn, one process) with the
{result['model']}, driven over loopback from a separate client process (one keep-alive connection per
client thread, one review per request: {result['texts']}). At most {result['requests_per_level']} requests
or {result['seconds_per_level']} s per level. Batching on: `--max-batch 64 --max-delay-ms 5`; off: `--max-batch 1`.
Machine: {result['machine']['cores']} cores, Python {result['machine']['python']}; server and client share the cores.

| batching | clients | requests | errors | requests/s | p50 ms | p95 ms | p99 ms |
|---|---|---|---|---|---|---|---|
{table}

| target | measured | goal | |
|---|---|---|---|
{goals}

In process, `Predictor.predict` (encoding + onnxruntime) takes {result['inference']['predict_1_text_ms']} ms for one
text and {result['inference']['predict_per_text_in_64_ms']} ms per text in a batch of 64: batching can save at most that
difference per request, while one HTTP request costs the server and the client about
{1000 / max(r['throughput_rps'] for r in result['rows'] if r['batching'] == 'off' and r['clients'] == 1):.2f} ms (1 client,
no batching). Batching pays where inference dominates a request; this small LSTM is not that case on 2 cores.
"""


if __name__ == "__main__":
    sys.exit(main())
