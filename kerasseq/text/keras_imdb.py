"""Raw text to the ids of `keras.datasets.imdb`, for models trained on that data set's id lists."""

from kerasseq.text.tokenizer import DEFAULT_FILTERS, _as_text_list, text_to_word_sequence

KIND = "keras-imdb"


class KerasImdbTokenizer:
    """Encodes words with `imdb_word_index.json` (word → frequency rank from 1) and Keras's offsets.

    `keras.datasets.imdb.load_data(num_words, start_char=1, oov_char=2, index_from=3)` gives the word
    of rank r the id r + index_from, replaces ids ≥ num_words by oov_char and starts every review
    with start_char. Forgetting the offsets shifts every word by three places. Words are split as
    `text_to_word_sequence` does; a word missing from the index becomes oov_char.
    """

    def __init__(self, word_index, num_words=None, start_char=1, oov_char=2, index_from=3,
                 filters=DEFAULT_FILTERS, lower=True, split=" "):
        if not isinstance(word_index, dict) or not word_index:
            raise TypeError("word_index must be a non-empty dict mapping words to ranks (imdb_word_index.json)")
        if num_words is not None and (not isinstance(num_words, int) or num_words <= index_from):
            raise ValueError(f"num_words must be an int above index_from={index_from}, or None, got {num_words!r}")
        if not 0 <= start_char < index_from or not 0 <= oov_char < index_from:
            raise ValueError(f"start_char and oov_char must be below index_from={index_from}")
        self.word_index = word_index
        self.num_words = num_words
        self.start_char = start_char
        self.oov_char = oov_char
        self.index_from = index_from
        self.filters = filters
        self.lower = lower
        self.split = split

    def texts_to_sequences(self, texts):
        """One id list per text, starting with start_char."""
        return [[i for i, _ in pairs] for pairs in self._encode(texts)]

    def texts_to_words(self, texts):
        """The words behind `texts_to_sequences`, position by position ("<start>" for start_char)."""
        return [[w for _, w in pairs] for pairs in self._encode(texts)]

    def _encode(self, texts):
        limit = self.num_words or float("inf")
        encoded = []
        for text in _as_text_list(texts):
            if not isinstance(text, str):
                raise TypeError(f"texts must hold str items, got {type(text).__name__}")
            pairs = [(self.start_char, "<start>")]
            for word in text_to_word_sequence(text, self.filters, self.lower, self.split):
                rank = self.word_index.get(word)
                i = self.oov_char if rank is None else rank + self.index_from
                pairs.append((i if i < limit else self.oov_char, word))
            encoded.append(pairs)
        return encoded

    def sequences_to_texts(self, sequences):
        """Ids back to words; padding, start and OOV ids read "?" as in the Keras examples."""
        words = {rank + self.index_from: w for w, rank in self.word_index.items()}
        return [" ".join(words.get(int(i), "?") for i in ids if i != 0) for ids in sequences]

    @property
    def vocab_size(self):
        return self.num_words or max(self.word_index.values()) + self.index_from + 1

    def to_dict(self, encoding_only=False):
        """A JSON-able dict; `encoding_only=True` keeps only the words whose id is below num_words."""
        keep = self.word_index
        if encoding_only and self.num_words:
            keep = {w: r for w, r in keep.items() if r + self.index_from < self.num_words}
        config = {k: getattr(self, k) for k in ("num_words", "start_char", "oov_char", "index_from", "filters",
                                               "lower", "split")}
        return {"kind": KIND, "config": config, "word_index": keep}

    @classmethod
    def from_dict(cls, data):
        return cls(data["word_index"], **data["config"])
