"""Peak memory and throughput of `kerasseq predict BUNDLE --file` on many texts.

For each run: write N texts (one per line) to a temporary file, run the real command in a fresh
process with its output to a file, read that process's peak RSS (wait4's ru_maxrss) and wall time,
then check that every output line equals `Predictor.predict` run one chunk of 256 texts at a time
in this process. Targets (issue #15): 1,000,000 texts on uci-lstm and 100,000 on
amazon-stacked-lstm with peak RSS <= 500 MB.

    python scripts/bench_predict_memory.py                 # both runs → artifacts/benchmarks/predict_memory.md + .json
    python scripts/bench_predict_memory.py --scale 0.01    # a quick check at 1 % of the sizes
"""

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from itertools import islice
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kerasseq.data import load_uci  # noqa: E402
from kerasseq.serve import Predictor  # noqa: E402

OUT = ROOT / "artifacts" / "benchmarks"
TARGET_MB = 500
CHUNK = 256
RUNS = [("uci-lstm", 1_000_000, "UCI sentences"), ("amazon-stacked-lstm", 100_000, "Amazon reviews")]


def source_texts(kind, data_dir):
    """Real texts to cycle through: the embedded UCI sentences, or the Amazon sample (UCI without it)."""
    amazon = Path(data_dir) / "amazon_polarity" / "amazon_reviews_5000.csv"
    if kind == "Amazon reviews" and amazon.is_file():
        with open(amazon, encoding="utf-8", newline="") as f:
            return [" ".join(row["review_text"].split()) for row in csv.DictReader(f)], "Amazon reviews"
    return [" ".join(t.split()) for t in load_uci().texts], "UCI sentences"


def write_texts(path, texts, n, seed=0):
    """n lines drawn from `texts` in a shuffled order per pass (so chunks differ from pass to pass)."""
    rng = np.random.default_rng(seed)
    with open(path, "w", encoding="utf-8") as f:
        written = 0
        while written < n:
            for i in rng.permutation(len(texts))[:n - written]:
                f.write(texts[i] + "\n")
                written += 1


def run_cli(bundle_dir, texts_path, out_path):
    """(seconds, peak RSS in MB, exit status) of `kerasseq predict BUNDLE --file texts_path` > out_path."""
    with open(out_path, "wb") as out:
        started = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-m", "kerasseq.cli", "predict", str(bundle_dir), "--file",
                                    str(texts_path)], stdout=out, cwd=ROOT)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
    return seconds, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def check_output(bundle_dir, texts_path, out_path):
    """Lines of the CLI output that differ from Predictor.predict run CHUNK texts at a time."""
    predictor = Predictor(bundle_dir)
    differing = checked = 0
    with open(texts_path, encoding="utf-8") as texts, open(out_path, encoding="utf-8") as answers:
        while chunk := [line[:-1] for line in islice(texts, CHUNK)]:
            for text, want in zip(chunk, predictor.predict(chunk)):
                got = json.loads(next(answers))
                differing += got != {"text": text, **want}
                checked += 1
        differing += sum(1 for _ in answers)  # lines the CLI printed beyond the input
    return checked, differing


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the target sizes (default 1)")
    parser.add_argument("--data-dir", default=os.environ.get("KERASSEQ_DATA", ROOT.parent / "shared" / "data"))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for preset, n, kind in RUNS:
            n = max(1, int(n * args.scale))
            texts, kind = source_texts(kind, args.data_dir)
            texts_path, out_path = Path(tmp) / "texts.txt", Path(tmp) / "out.jsonl"
            write_texts(texts_path, texts, n)
            seconds, peak_mb, status = run_cli(ROOT / "artifacts" / preset, texts_path, out_path)
            checked, differing = check_output(ROOT / "artifacts" / preset, texts_path, out_path)
            row = {"preset": preset, "texts": n, "source": kind, "input_mb": round(texts_path.stat().st_size / 2**20, 1),
                   "exit_status": status, "seconds": round(seconds, 1), "texts_per_second": round(n / seconds),
                   "peak_rss_mb": round(peak_mb, 1), "target_mb": TARGET_MB, "met": peak_mb <= TARGET_MB and status == 0,
                   "lines_checked": checked, "lines_differing": differing}
            rows.append(row)
            print(json.dumps(row), flush=True)
    table = ["| bundle | texts | input | peak RSS | target | texts/s | wall | output vs chunked Predictor |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        table.append(f"| {r['preset']} | {r['texts']:,} {r['source']} | {r['input_mb']} MB | **{r['peak_rss_mb']:.0f} MB** "
                     f"| ≤ {r['target_mb']} MB: {'met' if r['met'] else 'NOT met'} | {r['texts_per_second']:,} | "
                     f"{r['seconds']} s | {r['lines_checked'] - r['lines_differing']:,} of {r['lines_checked']:,} "
                     "lines identical |")
    print("\n".join(table))
    if args.scale != 1.0:
        return
    OUT.mkdir(parents=True, exist_ok=True)
    meta = {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count()}
    (OUT / "predict_memory.json").write_text(json.dumps({"runs": rows, **meta}, indent=1) + "\n")
    (OUT / "predict_memory.md").write_text(
        "# `kerasseq predict --file`: peak memory and throughput\n\n"
        f"`python scripts/bench_predict_memory.py` on {meta['cpus']} CPU cores ({meta['machine']}, Python "
        f"{meta['python']}). Each run is the real command in a fresh process, its output to a file; peak RSS is "
        "that process's `ru_maxrss`. The CLI reads, runs and prints 256 texts at a time, so memory does not grow "
        "with the input. Every output line is compared with `Predictor.predict` run 256 texts at a time.\n\n"
        + "\n".join(table) + "\n")


if __name__ == "__main__":
    main()
