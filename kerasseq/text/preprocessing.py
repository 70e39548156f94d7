"""Raw text to the padded id matrix a model was trained on."""

from kerasseq.text.sequence import pad_sequences
from kerasseq.text.tokenizer import Tokenizer


class TextEncoder:
    """A fitted tokenizer plus the padding settings: `encode(texts)` gives the exact training ids."""

    def __init__(self, tokenizer, maxlen, padding="pre", truncating="pre"):
        if not isinstance(maxlen, int) or maxlen < 1:
            raise ValueError(f"maxlen must be a positive int, got {maxlen!r}")
        for name, side in (("padding", padding), ("truncating", truncating)):
            if side not in ("pre", "post"):
                raise ValueError(f'{name} must be "pre" or "post", got {side!r}')
        self.tokenizer = tokenizer
        self.maxlen = maxlen
        self.padding = padding
        self.truncating = truncating

    @property
    def vocab_size(self):
        return self.tokenizer.vocab_size

    def encode(self, texts):
        """Return an int32 array of shape (len(texts), maxlen)."""
        sequences = self.tokenizer.texts_to_sequences(texts)
        return pad_sequences(
            sequences, maxlen=self.maxlen, dtype="int32", padding=self.padding, truncating=self.truncating
        )

    def to_dict(self):
        return {
            "tokenizer": self.tokenizer.to_dict(encoding_only=True),
            "maxlen": self.maxlen,
            "padding": self.padding,
            "truncating": self.truncating,
            "pad_value": 0,
            "dtype": "int32",
        }

    @classmethod
    def from_dict(cls, data):
        return cls(
            Tokenizer.from_dict(data["tokenizer"]),
            maxlen=data["maxlen"],
            padding=data["padding"],
            truncating=data["truncating"],
        )

