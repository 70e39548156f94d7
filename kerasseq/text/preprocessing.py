"""Raw text to the padded id matrix a model was trained on."""

from kerasseq.text.sequence import pad_sequences
from kerasseq.text.tokenizer import Tokenizer


class TextEncoder:
    """An optional review normalizer, a fitted tokenizer and the padding settings:
    `encode(texts)` gives the exact training ids."""

    def __init__(self, tokenizer, maxlen, padding="pre", truncating="pre", normalizer=None):
        if not isinstance(maxlen, int) or maxlen < 1:
            raise ValueError(f"maxlen must be a positive int, got {maxlen!r}")
        for name, side in (("padding", padding), ("truncating", truncating)):
            if side not in ("pre", "post"):
                raise ValueError(f'{name} must be "pre" or "post", got {side!r}')
        self.tokenizer = tokenizer
        self.normalizer = normalizer
        self.maxlen = maxlen
        self.padding = padding
        self.truncating = truncating

    @property
    def vocab_size(self):
        return self.tokenizer.vocab_size

    def normalize(self, texts):
        """The texts as the tokenizer reads them (unchanged without a normalizer)."""
        return list(texts) if self.normalizer is None else self.normalizer.normalize(texts)

    def encode(self, texts, normalized=False):
        """Return an int32 array of shape (len(texts), maxlen); `normalized=True` skips the
        normalizer for texts that already went through `normalize`."""
        sequences = self.tokenizer.texts_to_sequences(texts if normalized else self.normalize(texts))
        return pad_sequences(
            sequences, maxlen=self.maxlen, dtype="int32", padding=self.padding, truncating=self.truncating
        )

    def tokens(self, texts, normalized=False):
        """For each text, the token behind each position of its `encode` row (None at padding):
        the normalized words the model saw, truncated and padded like the ids. `normalized=True`
        as for `encode`."""
        rows = []
        for words in self.tokenizer.texts_to_words(texts if normalized else self.normalize(texts)):
            kept = words[-self.maxlen:] if self.truncating == "pre" else words[:self.maxlen]
            padding = [None] * (self.maxlen - len(kept))
            rows.append(padding + kept if self.padding == "pre" else kept + padding)
        return rows

    def to_dict(self):
        return {
            "normalizer": None if self.normalizer is None else self.normalizer.get_config(),
            "tokenizer": self.tokenizer.to_dict(encoding_only=True),
            "maxlen": self.maxlen,
            "padding": self.padding,
            "truncating": self.truncating,
            "pad_value": 0,
            "dtype": "int32",
        }

    @classmethod
    def from_dict(cls, data):
        normalizer = None
        if data.get("normalizer") is not None:
            from kerasseq.text.normalize import ReviewNormalizer

            normalizer = ReviewNormalizer.from_config(data["normalizer"])
        return cls(
            tokenizer_from_dict(data["tokenizer"]),
            maxlen=data["maxlen"],
            padding=data["padding"],
            truncating=data["truncating"],
            normalizer=normalizer,
        )


def tokenizer_from_dict(data):
    """A Tokenizer, or a KerasImdbTokenizer for `"kind": "keras-imdb"`."""
    from kerasseq.text.keras_imdb import KIND, KerasImdbTokenizer

    kind = data.get("kind", "keras")
    if kind == KIND:
        return KerasImdbTokenizer.from_dict(data)
    if kind != "keras":
        raise ValueError(f"unknown tokenizer kind {kind!r}; expected 'keras' or {KIND!r}")
    return Tokenizer.from_dict(data)
