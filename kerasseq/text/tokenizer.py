"""A word tokenizer with the semantics of Keras's (legacy) `Tokenizer`, in pure Python."""

import json

DEFAULT_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'


def text_to_word_sequence(text, filters=DEFAULT_FILTERS, lower=True, split=" "):
    """Split a text into words exactly as `keras.preprocessing.text.text_to_word_sequence`."""
    if lower:
        text = text.lower()
    text = text.translate(str.maketrans({c: split for c in filters}))
    return [word for word in text.split(split) if word]


class Tokenizer:
    """Maps words to integer ids, most frequent first (id 0 is reserved for padding).

    Same rules as Keras's `Tokenizer`: `word_index` is ordered by count, ties by first
    appearance; with `oov_token` that token takes id 1; `texts_to_sequences` keeps only ids
    below `num_words` (others become the OOV id, or are dropped without `oov_token`).
    """

    def __init__(self, num_words=None, filters=DEFAULT_FILTERS, lower=True, split=" ", oov_token=None):
        if num_words is not None and (not isinstance(num_words, int) or num_words < 1):
            raise ValueError(f"num_words must be a positive int or None, got {num_words!r}")
        if not isinstance(split, str) or not split:
            raise ValueError(f"split must be a non-empty string, got {split!r}")
        self.num_words = num_words
        self.filters = filters
        self.lower = lower
        self.split = split
        self.oov_token = oov_token
        self.word_counts = {}
        self.document_count = 0
        self.word_index = {}
        self._table = str.maketrans({c: split for c in filters})

    def _words(self, text):
        if not isinstance(text, str):
            raise TypeError(f"texts must hold str items, got {type(text).__name__}")
        if self.lower:
            text = text.lower()
        return [w for w in text.translate(self._table).split(self.split) if w]

    def fit_on_texts(self, texts):
        """Count the words of `texts` and rebuild `word_index`."""
        texts = _as_text_list(texts)
        for text in texts:
            self.document_count += 1
            for word in self._words(text):
                self.word_counts[word] = self.word_counts.get(word, 0) + 1
        self._index_words()
        return self

    def _index_words(self):
        # sorted() is stable, so equal counts keep first-appearance order, as in Keras.
        ranked = sorted(self.word_counts, key=self.word_counts.__getitem__, reverse=True)
        if self.oov_token is not None:
            ranked = [self.oov_token] + ranked
        self.word_index = {word: i for i, word in enumerate(ranked, start=1)}

    def texts_to_sequences(self, texts):
        """Return one list of ids per text."""
        return [[i for i, _ in pairs] for pairs in self._encode(texts)]

    def texts_to_words(self, texts):
        """The words behind `texts_to_sequences`, position by position (an OOV id keeps its word)."""
        return [[w for _, w in pairs] for pairs in self._encode(texts)]

    def _encode(self, texts):
        texts = _as_text_list(texts)
        index = self.word_index
        limit = self.num_words
        oov = index.get(self.oov_token) if self.oov_token is not None else None
        encoded = []
        for text in texts:
            pairs = []
            for word in self._words(text):
                i = index.get(word)
                if i is None or (limit and i >= limit):
                    i = oov
                if i is not None:
                    pairs.append((i, word))
            encoded.append(pairs)
        return encoded

    @property
    def index_word(self):
        """id → word, the inverse of `word_index`."""
        return {i: w for w, i in self.word_index.items()}

    def sequences_to_texts(self, sequences):
        """Texts from id sequences, as Keras's Tokenizer gives them: each id's word joined by spaces; ids at or
        above `num_words`, and unknown ids, become the OOV token (or are left out without one)."""
        index_word = self.index_word
        oov = index_word.get(self.word_index.get(self.oov_token)) if self.oov_token is not None else None
        texts = []
        for sequence in sequences:
            words = []
            for i in sequence:
                word = index_word.get(int(i))
                if word is None or (self.num_words and int(i) >= self.num_words):
                    word = oov
                if word is not None:
                    words.append(word)
            texts.append(" ".join(words))
        return texts

    @property
    def vocab_size(self):
        """The number of ids `texts_to_sequences` can produce, padding id 0 included."""
        size = len(self.word_index) + 1
        return min(size, self.num_words) if self.num_words else size

    def get_config(self):
        return {
            "num_words": self.num_words,
            "filters": self.filters,
            "lower": self.lower,
            "split": self.split,
            "oov_token": self.oov_token,
        }

    def to_dict(self, encoding_only=False):
        """A JSON-able dict. `encoding_only=True` keeps only the words that can get an id below
        `num_words` (the bundle format): such a tokenizer encodes identically but cannot be refit."""
        words = list(self.word_index)
        if self.oov_token is not None:
            words = words[1:]
        if encoding_only and self.num_words:
            words = words[: max(self.num_words - 1 - (self.oov_token is not None), 0)]
        return {
            "config": self.get_config(),
            "document_count": self.document_count,
            "vocabulary": [[w, self.word_counts[w]] for w in words],
        }

    @classmethod
    def from_dict(cls, data):
        tokenizer = cls(**data["config"])
        tokenizer.document_count = data["document_count"]
        tokenizer.word_counts = {w: c for w, c in data["vocabulary"]}
        tokenizer._index_words()
        return tokenizer

    def to_json(self, **kwargs):
        return json.dumps(self.to_dict(**kwargs), ensure_ascii=False)

    @classmethod
    def from_json(cls, text):
        return cls.from_dict(json.loads(text))


def _as_text_list(texts):
    if isinstance(texts, str):
        raise TypeError("texts must be a list of str, got a single str (wrap it in a list)")
    try:
        return list(texts)
    except TypeError:
        raise TypeError(f"texts must be a list of str, got {type(texts).__name__}") from None


def tokenizer_from_json(text):
    """A Tokenizer from the JSON of Keras's own Tokenizer (`tf.keras.preprocessing.text.Tokenizer().to_json()`,
    also Keras 3's legacy one): the same settings and the same `word_index`, so `texts_to_sequences` gives the
    same ids. `char_level=True` tokenizers are refused (ValueError)."""
    try:
        data = json.loads(text)
        config = data["config"]
        if data.get("class_name") != "Tokenizer":
            raise ValueError(f"class_name is {data.get('class_name')!r}, not 'Tokenizer'")
        if config.get("char_level"):
            raise ValueError("char_level=True is not supported (use kerasseq.text.CharTokenizer)")
        tokenizer = Tokenizer(num_words=config.get("num_words") or None, filters=config["filters"],
                              lower=config["lower"], split=config["split"], oov_token=config.get("oov_token"))
        tokenizer.document_count = int(config.get("document_count", 0))
        tokenizer.word_counts = {str(w): int(c) for w, c in json.loads(config.get("word_counts") or "{}").items()}
        tokenizer.word_index = {str(w): int(i) for w, i in json.loads(config["word_index"]).items()}
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ValueError(f"not the JSON of a Keras Tokenizer: {type(e).__name__}: {e}") from None
    return tokenizer
