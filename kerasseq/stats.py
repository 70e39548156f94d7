"""Review lengths in tokens: percentiles, the maxlen that covers 90 % / 95 %, a histogram. No TensorFlow."""

import json
from pathlib import Path

import numpy as np

PERCENTILES = (50, 75, 90, 95, 99)
COVERAGE = (90, 95)
FORMAT = "kerasseq.stats"  # in lengths.json: marks a folder that `kerasseq stats` wrote
OUTPUTS = ("lengths.json", "lengths.png")


def check_output(out, overwrite=False):
    """The stats folder `out`, if kerasseq may write its two files there: a new or empty folder, or
    one an earlier `kerasseq stats` wrote (its lengths.json says so). Anything else is refused
    (FileExistsError naming the path) unless `overwrite`; even then only the two files are replaced."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"stats destination {out} exists and is not a folder")
    if overwrite or not out.exists() or not any(out.iterdir()):
        return out
    try:
        ours = json.loads((out / OUTPUTS[0]).read_text(encoding="utf-8")).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        ours = False
    if not ours:
        raise FileExistsError(f"stats destination {out} holds files that kerasseq stats did not write: choose a "
                              "new folder, or pass --overwrite to write lengths.json and lengths.png there")
    return out


def token_lengths(texts, normalizer=None):
    """Words per text as the preset's tokenizer sees them (after the normalizer, if any)."""
    from kerasseq.text import text_to_word_sequence

    texts = list(texts) if normalizer is None else normalizer.normalize(texts)
    return np.array([len(text_to_word_sequence(t)) for t in texts], dtype=np.int64)


def length_stats(lengths, maxlen=None):
    """Percentiles and coverage of `lengths`; with `maxlen`, the share of texts it keeps whole."""
    lengths = np.asarray(lengths)
    if lengths.ndim != 1 or len(lengths) == 0:
        raise ValueError("lengths must be a non-empty 1-D array of token counts")
    # inverted_cdf: the smallest observed length L with at least p % of texts no longer than L
    covering = {f"{p}": int(np.percentile(lengths, p, method="inverted_cdf")) for p in PERCENTILES}
    stats = {
        "texts": int(len(lengths)), "mean": round(float(lengths.mean()), 1), "min": int(lengths.min()),
        "max": int(lengths.max()), "percentiles": covering,
        "maxlen_covering": {f"{p}": covering[f"{p}"] for p in COVERAGE},
        "empty": int((lengths == 0).sum()),
    }
    if maxlen is not None:
        stats["maxlen"] = int(maxlen)
        stats["share_within_maxlen"] = round(float((lengths <= maxlen).mean()), 4)
    return stats


def plot_lengths(lengths, stats, path, title="review length"):
    """Histogram of token counts with the 90 % / 95 % coverage (and the preset's maxlen) marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lengths = np.asarray(lengths)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    top = max(1, int(np.percentile(lengths, 99.5)))
    step = -(-(top + 1) // 60)  # whole-token bins, about 60 of them
    ax.hist(np.minimum(lengths, top), bins=np.arange(0, top + step + 1, step), color="#4c72b0")
    for p, style in zip(COVERAGE, ("--", ":")):
        x = stats["maxlen_covering"][f"{p}"]
        ax.axvline(x, color="black", linestyle=style, label=f"{p} % ≤ {x}")
    if "maxlen" in stats:
        ax.axvline(stats["maxlen"], color="#c44e52", label=f"maxlen {stats['maxlen']}")
    ax.set_xlabel(f"tokens per text (clipped at {top})")
    ax.set_ylabel("texts")
    ax.set_title(f"{title}: {stats['texts']:,} texts, median {stats['percentiles']['50']}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def format_table(stats):
    """The percentile table as text lines."""
    lines = [f"{'percentile':>10}  tokens"]
    lines += [f"{p + ' %':>10}  {v}" for p, v in stats["percentiles"].items()]
    lines.append(f"{'max':>10}  {stats['max']}   (mean {stats['mean']}, {stats['empty']} empty)")
    lines += [f"maxlen covering {p} %: {v}" for p, v in stats["maxlen_covering"].items()]
    if "maxlen" in stats:
        lines.append(f"the preset's maxlen {stats['maxlen']} keeps {100 * stats['share_within_maxlen']:.1f} % "
                     f"of texts whole")
    return lines
