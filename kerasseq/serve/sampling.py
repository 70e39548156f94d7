"""Sampling the next character from logits, and the generation loop. numpy only.

The loop drives any `step(ids, states) -> (logits, states)` function, so onnxruntime (the
served path) and Keras (the reference in export checks and benchmarks) generate the same way.
"""

import math

import numpy as np


def check_sampling(max_chars, temperature, top_k, vocab_size):
    """Validate the sampling arguments; returns the effective top_k (None, or at most the vocabulary)."""
    if not isinstance(max_chars, int) or isinstance(max_chars, bool) or max_chars < 1:
        raise ValueError(f"max_chars must be a positive int, got {max_chars!r}")
    if not isinstance(temperature, (int, float)) or not math.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"temperature must be a number > 0 (use greedy for argmax), got {temperature!r}")
    if top_k is not None:
        if not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1:
            raise ValueError(f"top_k must be None or a positive int, got {top_k!r}")
        top_k = min(top_k, vocab_size)  # more than the vocabulary means all of it
    return top_k


def next_id(logits, rng, temperature=1.0, top_k=None, greedy=False):
    """One id from a logits vector: argmax when greedy, else a draw from softmax(logits / T)
    restricted to the `top_k` largest logits."""
    logits = np.asarray(logits, np.float64)
    if greedy:
        return int(np.argmax(logits))
    if top_k is not None and top_k < len(logits):
        candidates = np.argpartition(-logits, top_k - 1)[:top_k]
    else:
        candidates = np.arange(len(logits))
    # (l - max) / T is <= 0 and exactly 0 at the maximum, so no temperature over- or underflows it into
    # NaN: a tiny T gives argmax (ties split evenly), a huge one the uniform draw.
    with np.errstate(over="ignore", under="ignore"):
        chosen = logits[candidates]
        p = np.exp((chosen - chosen.max()) / temperature)
    return int(candidates[rng.choice(len(candidates), p=p / p.sum())])


def generate_ids(step, prime_ids, states, max_chars, temperature=1.0, top_k=None, greedy=False, stop_id=None,
                 seed=None):
    """The ids generated after `prime_ids` (at most `max_chars`, ending at `stop_id` if drawn), as a list."""
    return list(iter_ids(step, prime_ids, states, max_chars, temperature, top_k, greedy, stop_id, seed))


def iter_ids(step, prime_ids, states, max_chars, temperature=1.0, top_k=None, greedy=False, stop_id=None,
             seed=None):
    """Yield the ids generated after `prime_ids` one by one, as each is drawn.

    The whole prime runs through `step` in one call; then one call per generated id, feeding the
    states back (nothing is recomputed). `seed` makes sampling reproducible.
    """
    rng = np.random.default_rng(seed)
    logits, states = step(np.asarray(prime_ids, np.int32)[None, :], states)
    for produced in range(1, max_chars + 1):
        token = next_id(logits[0, -1], rng, temperature, top_k, greedy)
        yield token
        if token == stop_id or produced == max_chars:
            return
        logits, states = step(np.array([[token]], np.int32), states)
