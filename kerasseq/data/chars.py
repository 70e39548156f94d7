"""Plain texts and the training arrays of character-level language models. numpy only.

Two ways to cut a text into training rows, both with targets one character ahead:

- `stream_rows` (seed 000): the text is split into `streams` parallel streams; batch b holds
  window b of every stream, so an RNN's state carries from one batch to the next (stateful
  training, no shuffling).
- `window_rows` (seed 004): independent windows of `steps + 1` characters, `stride` apart, to be
  shuffled.
"""

from importlib import resources
from pathlib import Path

import numpy as np

# name → (relative paths tried in a data directory, encoding); "alice" also ships with kerasseq.
NAMED_TEXTS = {
    "alice": (("alice/alice.txt", "alice.txt"), "latin-1"),
    "warpeace": (("warpeace/warpeace_input.txt", "warpeace_input.txt"), "utf-8"),
}


def load_text(source, data_dir=None, encoding="utf-8"):
    """A plain text: "alice" (embedded), "warpeace" (found in the data directory), or a file path.

    Line ends are normalized to "\\n". A file that does not decode raises ValueError naming it.
    """
    from kerasseq.data.sources import find_data

    source = str(source)
    if source == "alice":
        return (resources.files("kerasseq.data") / "alice" / "alice.txt").read_bytes().decode("latin-1") \
            .replace("\r\n", "\n")
    if source in NAMED_TEXTS:
        candidates, encoding = NAMED_TEXTS[source]
        path = find_data(candidates, data_dir, what=f"the {source} text")
    else:
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"text file not found: {path} (or name one of {sorted(NAMED_TEXTS)})")
    try:
        text = path.read_bytes().decode(encoding)
    except UnicodeDecodeError as e:
        raise ValueError(f"{path} is not {encoding} text ({e}); pass its encoding") from None
    text = text.replace("\r\n", "\n")
    if not text:
        raise ValueError(f"{path} is empty")
    return text


def stream_rows(ids, streams, steps):
    """(x, y) int32 [n_batches * streams, steps] for stateful training with batch size `streams`.

    Row `b * streams + s` is window b of stream s: stream s continues in the same row of the
    next batch. y is x one character ahead; the tail that fills no whole batch is dropped.
    """
    ids = np.asarray(ids, np.int32)
    n_batches = (len(ids) - 1) // (streams * steps)
    if n_batches < 1:
        raise ValueError(f"a text of {len(ids)} characters fills no batch of {streams} streams x {steps} steps "
                         f"(needs at least {streams * steps + 1})")
    total = n_batches * streams * steps

    def rows(a):  # [streams, n_batches * steps] → [n_batches, streams, steps] → rows
        return a.reshape(streams, n_batches, steps).transpose(1, 0, 2).reshape(-1, steps)

    return rows(ids[:total]), rows(ids[1:total + 1])


def window_rows(ids, steps, stride=None):
    """(x, y) int32 [n, steps]: windows of `steps + 1` characters starting every `stride`
    (default `steps`) characters; x is a window's first `steps`, y its last `steps`."""
    ids = np.asarray(ids, np.int32)
    stride = stride or steps
    starts = np.arange(0, len(ids) - steps, stride)
    if len(starts) == 0:
        raise ValueError(f"a text of {len(ids)} characters holds no window of {steps + 1}")
    windows = ids[starts[:, None] + np.arange(steps + 1)]
    return windows[:, :-1], windows[:, 1:]
