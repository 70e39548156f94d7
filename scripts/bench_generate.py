"""Generation benchmark: characters per second from a char-generation bundle, kerasseq's
onnxruntime step model vs a Keras step loop (eager calls and a tf.function), in one run.

    python scripts/bench_generate.py [BUNDLE ...] [--chars 500] [--repeats 3] [--out artifacts/benchmarks]

Default bundles: the committed alice-char-lstm and warpeace-char-lstm.

Every engine runs the same loop (`kerasseq.serve.sampling.generate_ids`): the prime in one call,
then one call per character with the LSTM states fed back. Greedy decoding, so every engine must
produce the same text; the table says whether it did. Writes generation.md and generation.json.
"""

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from kerasseq import bundle  # noqa: E402
from kerasseq.serve import Generator  # noqa: E402
from kerasseq.serve.generator import state_sizes, zero_states  # noqa: E402
from kerasseq.serve.sampling import generate_ids  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def time_engine(step, prime_ids, units, chars, repeats):
    """(median seconds for `chars` greedy characters, the ids generated)."""
    times, ids = [], None
    for _ in range(repeats + 1):  # the first run warms up (graph tracing, allocations)
        states = zero_states(units)
        started = time.perf_counter()
        ids = generate_ids(step, prime_ids, states, chars, greedy=True)
        times.append(time.perf_counter() - started)
    return float(np.median(times[1:])), ids


def tf_function_step(model, units):
    import tensorflow as tf

    signature = [tf.TensorSpec([None, None], tf.int32)] + [tf.TensorSpec([None, u], tf.float32)
                                                           for u in state_sizes(units)]

    @tf.function(input_signature=signature)
    def run(ids, *states):
        return model([ids, *states], training=False)

    def step(ids, states):
        outputs = run(ids, *states)
        return outputs[0].numpy(), [s.numpy() for s in outputs[1:]]

    return step


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundles", nargs="*", default=[str(ROOT / "artifacts" / name) for name in
                                                       ("alice-char-lstm", "warpeace-char-lstm")])
    parser.add_argument("--chars", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "artifacts" / "benchmarks"))
    args = parser.parse_args()

    from bench_inference import machine

    results = [bench(path, args.chars, args.repeats, machine()) for path in args.bundles]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    bundle.write_json(out / "generation.json", {"runs": results})
    (out / "generation.md").write_text("# Character generation speed\n\n" + "\n".join(markdown(r) for r in results),
                                       encoding="utf-8")
    print(f"wrote {out / 'generation.md'} and {out / 'generation.json'}")


def bench(bundle_dir, chars, repeats, machine_info):
    """Greedy characters per second of every engine on one bundle, and a seeded sample."""
    from kerasseq.export.native_rnn import cpu_clone
    from kerasseq.export.step_export import keras_step_fn
    from kerasseq.models import load_model

    generator = Generator(bundle_dir)
    units, tokenizer = generator.units, generator.tokenizer
    prime = generator.prime_text()
    prime_ids = tokenizer.encode(prime)
    model = cpu_clone(load_model(Path(bundle_dir) / bundle.KERAS_MODEL))
    engines = {"onnxruntime step model (kerasseq Generator)": generator.step,
               "Keras step loop, eager model calls": keras_step_fn(model),
               "Keras step loop, tf.function": tf_function_step(model, units)}
    rows, texts = [], {}
    print(Path(bundle_dir).name, flush=True)
    for name, step in engines.items():
        seconds, ids = time_engine(step, prime_ids, units, chars, repeats)
        texts[name] = tokenizer.decode(ids)
        rows.append({"engine": name, "seconds": round(seconds, 4), "chars_per_second": round(chars / seconds, 1),
                     "ms_per_char": round(1000 * seconds / chars, 3)})
        print(f"  {name:45s} {rows[-1]['chars_per_second']:9.1f} chars/s  {rows[-1]['ms_per_char']:7.3f} ms/char",
              flush=True)
    reference = texts[rows[1]["engine"]]
    for row in rows:
        row["speedup_vs_keras_eager"] = round(rows[1]["seconds"] / row["seconds"], 2)
        row["same_text_as_keras"] = texts[row["engine"]] == reference

    started = time.perf_counter()
    sampled = generator.generate(max_chars=chars, seed=0)
    sampled_seconds = time.perf_counter() - started
    return {"bundle": Path(bundle_dir).name, "chars": chars, "repeats": repeats, "prime": prime,
            "lstm_units": units, "vocab_size": tokenizer.vocab_size, "rows": rows,
            "sampled_chars_per_second": round(chars / sampled_seconds, 1),
            "greedy_text": prime + reference, "sampled_text": prime + sampled, "machine": machine_info}


def markdown(r):
    m = r["machine"]
    table = "\n".join(f"| {row['engine']} | {row['chars_per_second']:,.0f} | {row['ms_per_char']:.3f} | "
                      f"{row['speedup_vs_keras_eager']:.1f}x | {'yes' if row['same_text_as_keras'] else 'NO'} |"
                      for row in r["rows"])
    return f"""## {r['bundle']}

`python scripts/bench_generate.py` on `{r['bundle']}` (LSTM {' + '.join(map(str, r['lstm_units']))},
{r['vocab_size']} characters): {r['chars']} greedy characters after the prime "{r['prime']}", batch 1, median of
{r['repeats']} runs after a warm-up. Every engine runs the same loop: the prime in one call, then one call per
character with the LSTM states fed back (no prefix recomputed).

| engine | chars/s | ms/char | vs Keras eager | same greedy text as Keras |
|---|---|---|---|---|
{table}

Sampling with the bundle's settings (top-k, temperature) through `Generator.generate`: {r['sampled_chars_per_second']:,.0f} chars/s.

Machine: {m['cpu']}, {m['cores']} cores; Python {m['python']}; TensorFlow {m['tensorflow']}, Keras {m['keras']},
tf2onnx {m['tf2onnx']}, onnxruntime {m['onnxruntime']} (CPU provider).

Greedy text (onnxruntime):

```
{r['greedy_text']}
```

Sampled text (seed 0):

```
{r['sampled_text']}
```
"""


if __name__ == "__main__":
    sys.exit(main())
