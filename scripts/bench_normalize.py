"""Throughput of the review normalizer vs a naive loop doing the same NLTK calls per review.

    python scripts/bench_normalize.py [--data-dir ../shared/data] [--out artifacts/benchmarks]

Reads the 25,000 IMDb training reviews, runs each pipeline once over all of them, checks that
both give identical output, and prints and writes reviews per second (normalize.md / .json).
"""

import argparse
import json
import os
import platform
import string
import time
from pathlib import Path


def naive_pipeline():
    """The classic steps as usually written: word_tokenize, a stopword list, a stemmer call per token."""
    import nltk
    from nltk.corpus import stopwords
    from nltk.stem import PorterStemmer

    import kerasseq.text.normalize  # noqa: F401  (puts the shipped punkt/stopwords on nltk's path)

    dropped = stopwords.words("english") + list(string.punctuation)
    stemmer = PorterStemmer()

    def normalize(text):
        tokens = [w for w in nltk.word_tokenize(text.lower()) if w not in dropped]
        return " ".join(stemmer.stem(w) for w in tokens)

    return normalize


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("KERASSEQ_DATA", "../shared/data"))
    parser.add_argument("--out", default="artifacts/benchmarks")
    args = parser.parse_args()
    from kerasseq.data import load_imdb
    from kerasseq.text.normalize import ReviewNormalizer

    texts = load_imdb(args.data_dir)[0].texts

    results = {}
    for name, normalize in (("naive NLTK loop", naive_pipeline()), ("kerasseq ReviewNormalizer", ReviewNormalizer())):
        started = time.perf_counter()
        out = [normalize(text) for text in texts]
        seconds = time.perf_counter() - started
        results[name] = {"seconds": round(seconds, 2), "reviews_per_s": round(len(texts) / seconds, 1), "out": out}
        print(f"{name}: {len(texts)} reviews in {seconds:.1f} s = {len(texts) / seconds:,.0f} reviews/s", flush=True)
    naive, ours = results.values()
    identical = naive.pop("out") == ours.pop("out")
    speedup = ours["reviews_per_s"] / naive["reviews_per_s"]
    print(f"identical output: {identical}; speedup {speedup:.2f}x")
    report = {"reviews": len(texts), "results": results, "identical_output": identical, "speedup": round(speedup, 2),
              "cpu_count": os.cpu_count(), "python": platform.python_version()}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "normalize.json").write_text(json.dumps(report, indent=1) + "\n")
    rows = "\n".join(f"| {name} | {r['seconds']} | {r['reviews_per_s']:,.0f} |" for name, r in results.items())
    (out / "normalize.md").write_text(f"""# Review normalizer throughput

Produced by `python scripts/bench_normalize.py` (one run, {os.cpu_count()} cores, Python
{platform.python_version()}) on the {len(texts):,} IMDb training reviews: lowercase, NLTK word
tokenization, English stopwords and punctuation dropped, Porter stemming.

| pipeline | seconds | reviews/s |
|---|---|---|
{rows}

Speed-up: **{speedup:.2f}×**; identical output on every review: **{identical}**.
""")


if __name__ == "__main__":
    main()
