"""`pad_sequences` with the semantics of `keras.utils.pad_sequences`, in numpy."""

import numpy as np


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre", value=0.0):
    """Pad (and truncate) a list of id sequences into a 2-D array of shape (len(sequences), maxlen).

    `padding` / `truncating` are "pre" (at the start) or "post" (at the end); `maxlen=None` uses
    the longest sequence. Empty sequences become rows of `value`.
    """
    if padding not in ("pre", "post"):
        raise ValueError(f'padding must be "pre" or "post", got {padding!r}')
    if truncating not in ("pre", "post"):
        raise ValueError(f'truncating must be "pre" or "post", got {truncating!r}')
    if maxlen is not None and (not isinstance(maxlen, (int, np.integer)) or maxlen < 0):
        raise ValueError(f"maxlen must be a non-negative int or None, got {maxlen!r}")
    if isinstance(sequences, (str, bytes)) or not hasattr(sequences, "__len__"):
        raise TypeError(f"sequences must be a list of sequences, got {type(sequences).__name__}")
    rows = []
    for i, seq in enumerate(sequences):
        row = np.asarray(seq)
        if row.ndim != 1:
            raise ValueError(f"sequences[{i}] must be a flat sequence, got shape {row.shape}")
        rows.append(row)
    if maxlen is None:
        maxlen = max((len(r) for r in rows), default=0)
    out = np.full((len(rows), maxlen), value, dtype=dtype)
    if maxlen == 0:
        return out
    for i, row in enumerate(rows):
        if not len(row):
            continue
        kept = row[-maxlen:] if truncating == "pre" else row[:maxlen]
        if padding == "post":
            out[i, : len(kept)] = kept
        else:
            out[i, maxlen - len(kept) :] = kept
    return out
