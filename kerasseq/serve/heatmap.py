"""An attention heat map: the tokens a model saw, in reading order, coloured by their weight."""

import math

import numpy as np

from kerasseq.serve.jsontext import printable

COLUMNS = 12  # tokens per line


def plot_attention(explanation, path, title=None):
    """Write a PNG of one `Predictor.explain` result: tokens laid out in lines of `COLUMNS`,
    each cell coloured by its attention weight (white 0 → dark red the largest weight)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("the attention heat map needs matplotlib: pip install matplotlib") from None

    tokens, weights = explanation["tokens"], np.asarray(explanation["weights"], np.float32)
    lines = max(1, math.ceil(len(tokens) / COLUMNS))
    grid = np.full((lines, COLUMNS), np.nan, np.float32)
    grid.flat[:len(weights)] = weights
    top = float(weights.max()) if len(weights) and weights.max() > 0 else 1.0
    fig, ax = plt.subplots(figsize=(COLUMNS * 1.05, max(1.6, 0.9 + 0.38 * lines)))
    image = ax.imshow(grid, cmap="Reds", vmin=0.0, vmax=top, aspect="auto")
    for k, token in enumerate(tokens):
        ax.text(k % COLUMNS, k // COLUMNS, printable(token[:14]), ha="center", va="center", fontsize=8,
                color="white" if weights[k] > 0.6 * top else "black")
    ax.set_xticks([])
    ax.set_yticks([])
    label = f"{explanation['label']} ({explanation['score']:.3f})"
    ax.set_title(f"{title}: {label}" if title else label, fontsize=10)
    fig.colorbar(image, ax=ax, fraction=0.025, pad=0.01, label="attention weight")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
