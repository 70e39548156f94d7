"""Characters to ids and back, for character-level language models. Pure Python and numpy."""

import numpy as np

UNKNOWN_POLICIES = ("error", "replace", "drop")


class CharTokenizer:
    """A fixed character vocabulary: id i is `chars[i]`, in sorted order.

    `lower=True` lower-cases text before encoding (the War and Peace model does). A character
    outside the vocabulary is handled by `unknown`: "error" raises ValueError naming it,
    "replace" encodes it as `replacement` (a vocabulary character, by default a space), "drop"
    leaves it out. Nothing is reserved for unknown characters: the model never saw one.
    """

    def __init__(self, chars=(), lower=False, unknown="error", replacement=" "):
        self.chars = list(chars)
        if any(not isinstance(c, str) or len(c) != 1 for c in self.chars):
            raise ValueError("chars must be single characters")
        if len(set(self.chars)) != len(self.chars):
            raise ValueError("chars must not repeat")
        if unknown not in UNKNOWN_POLICIES:
            raise ValueError(f"unknown must be one of {UNKNOWN_POLICIES}, got {unknown!r}")
        if not isinstance(replacement, str) or len(replacement) != 1:
            raise ValueError(f"replacement must be one character, got {replacement!r}")
        self.lower = bool(lower)
        self.unknown = unknown
        self.replacement = replacement
        self.index = {c: i for i, c in enumerate(self.chars)}

    @classmethod
    def fit(cls, text, lower=False, **kwargs):
        """The tokenizer whose vocabulary is every character of `text` (after lower-casing)."""
        if not isinstance(text, str) or not text:
            raise ValueError("text must be a non-empty string")
        return cls(sorted(set(text.lower() if lower else text)), lower=lower, **kwargs)

    @property
    def vocab_size(self):
        return len(self.chars)

    def encode(self, text, unknown=None):
        """int32 ids of `text`; `unknown` overrides the tokenizer's policy for this call."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        policy = unknown or self.unknown
        if policy not in UNKNOWN_POLICIES:
            raise ValueError(f"unknown must be one of {UNKNOWN_POLICIES}, got {policy!r}")
        if self.lower:
            text = text.lower()
        index = self.index
        missing = sorted(set(text) - index.keys())
        if missing and policy == "error":
            shown = ", ".join(f"{c!r} (U+{ord(c):04X})" for c in missing[:10])
            raise ValueError(f"{len(missing)} character(s) not in the {self.vocab_size}-character vocabulary: "
                             f"{shown}{' ...' if len(missing) > 10 else ''} (use unknown='replace' or 'drop')")
        if missing and policy == "replace":
            if self.replacement not in index:
                raise ValueError(f"replacement {self.replacement!r} is not in the vocabulary")
            text = text.translate({ord(c): self.replacement for c in missing})
        elif missing:
            text = text.translate({ord(c): None for c in missing})
        return np.fromiter((index[c] for c in text), dtype=np.int32, count=len(text))

    def decode(self, ids):
        """The text of a sequence of ids; ValueError for an id outside the vocabulary."""
        ids = np.asarray(ids).ravel()
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise ValueError(f"ids must lie in [0, {self.vocab_size}), got {ids.min()}..{ids.max()}")
        return "".join(self.chars[i] for i in ids.tolist())

    def to_dict(self):
        return {"chars": "".join(self.chars), "lower": self.lower, "unknown": self.unknown,
                "replacement": self.replacement}

    @classmethod
    def from_dict(cls, data):
        return cls(list(data["chars"]), lower=data.get("lower", False), unknown=data.get("unknown", "error"),
                   replacement=data.get("replacement", " "))
