"""Small matplotlib helpers for training plots (headless)."""

import numpy as np


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_losses(history, path, title, ylabel, val_label="validation", log_scale=False):
    """Training loss (and `val_loss` when present) per epoch, saved to `path`."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    epochs = np.arange(1, len(history["loss"]) + 1)
    ax.plot(epochs, history["loss"], label="train")
    if history.get("val_loss"):
        ax.plot(epochs, history["val_loss"], label=val_label)
    if log_scale:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
