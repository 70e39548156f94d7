"""The review normalizer: NLTK word tokenization, stopword and punctuation removal, Porter stemming.

The classic review pipeline (lowercase → `nltk.word_tokenize` → drop English stopwords and
`string.punctuation` tokens → `PorterStemmer`), with the same output, faster:

- the Punkt sentence model and the English stopword list ship with kerasseq (`nltk_data/`), so
  nothing is downloaded and training and serving use the same data;
- word tokenization runs NLTK's own Treebank regexes in NLTK's order, but skips each one when a
  cheap substring test shows it cannot match (the result is identical);
- stems are cached per word.
"""

import string
from pathlib import Path

import nltk
import regex
from nltk.data import FileSystemPathPointer
from nltk.stem import PorterStemmer
from nltk.tokenize.destructive import NLTKWordTokenizer
from nltk.tokenize.punkt import PunktTokenizer, load_punkt_params

NLTK_DATA = Path(__file__).parent / "nltk_data"
if str(NLTK_DATA) not in nltk.data.path:
    nltk.data.path.append(str(NLTK_DATA))  # NLTK only opens data files under its data path
PUNCTUATION = frozenset(string.punctuation)
# Stopwords that carry sentiment: kept when `keep_negations=True`.
NEGATIONS = frozenset({
    "no", "nor", "not", "ain", "aren", "aren't", "couldn", "couldn't", "didn", "didn't", "doesn",
    "doesn't", "don", "don't", "hadn", "hadn't", "hasn", "hasn't", "haven", "haven't", "isn", "isn't",
    "mightn", "mightn't", "mustn", "mustn't", "needn", "needn't", "shan", "shan't", "shouldn",
    "shouldn't", "wasn", "wasn't", "weren", "weren't", "won", "won't", "wouldn", "wouldn't",
})


def english_stopwords():
    """NLTK's English stopword list (179 words), from the copy shipped with kerasseq."""
    path = NLTK_DATA / "corpora" / "stopwords" / "english"
    return [w for w in path.read_text(encoding="utf-8").splitlines() if w]


def _any_of(chars):
    return lambda s: any(c in s for c in chars)


def _has(sub):
    return lambda s: sub in s


# A necessary condition for each Treebank regex (keyed by its pattern) to match; a pattern not
# listed always runs. Each test only skips a substitution that would change nothing.
_GUARDS = {
    "([«“‘„]|[`]+)": _any_of("«“‘„`"),
    '^\\"': lambda s: s.startswith('"'),
    "(``)": _has("``"),
    "([ \\(\\[{<])(\\\"|\\'{2})": _any_of(['"', "''"]),
    "(?i)(?<!\\w)(\\')(?!(?:re|ve|ll|m|t|s|d|n)\\b)(?=\\w)": _has("'"),
    "([^\\.])(\\.)([\\]\\)}>\"\\'»”’ ]*+)\\s*$": _has("."),
    "([:,])([^\\d])": _any_of(":,"),
    "([:,])$": _any_of(":,"),
    "\\.{2,}": _has(".."),
    "[;@#$%&]": _any_of(";@#$%&"),
    "[\\u2012-\\u2015]": _any_of("\u2012\u2013\u2014\u2015"),
    "([^\\.])(\\.)([\\]\\)}>\"\\']*)\\s*$": _has("."),
    "[?!]": _any_of("?!"),
    "([^'])' ": _has("' "),
    "[*]": _has("*"),
    "[\\]\\[\\(\\)\\{\\}\\<\\>]": _any_of("[](){}<>"),
    "--": _has("--"),
    "([»”’])": _any_of("»”’"),
    "''": _has("''"),
    '"': _has('"'),
    "\\s+": regex.compile(r"[^\S ]| {2}").search,  # only single plain spaces: nothing to replace
    "([^' ])('[sS]|'[mM]|'[dD]|') ": _has("'"),
    "([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) ": _has("'"),
}


def _engine(pattern):
    """The compiled `regex` pattern inside NLTK's timeout wrapper (same engine, no per-call timer)."""
    return getattr(pattern, "_rx", pattern)


class FastTreebankTokenizer:
    """`NLTKWordTokenizer().tokenize` (without parenthesis conversion), same output, fewer regex passes."""

    def __init__(self):
        tb = NLTKWordTokenizer

        def steps(pairs):
            return [(_engine(p), repl, _GUARDS.get(p.pattern)) for p, repl in pairs]
        self._before_pad = steps(tb.STARTING_QUOTES + tb.PUNCTUATION + [tb.PARENS_BRACKETS, tb.DOUBLE_DASHES])
        self._after_pad = steps(tb.ENDING_QUOTES)
        self._contractions = [_engine(p) for p in tb.CONTRACTIONS2 + tb.CONTRACTIONS3]
        # One search for all contraction patterns: when none matches, none of them can change the text.
        self._any_contraction = regex.compile("|".join(f"(?:{p.pattern.replace('(?i)', '')})"
                                                       for p in self._contractions), regex.IGNORECASE)

    @staticmethod
    def _apply(steps, text):
        for pattern, repl, guard in steps:
            if guard is None or guard(text):
                text = pattern.sub(repl, text)
        return text

    def tokenize(self, text):
        text = self._apply(self._before_pad, text)
        text = self._apply(self._after_pad, " " + text + " ")  # NLTK pads here too
        if self._any_contraction.search(text):
            for pattern in self._contractions:
                text = pattern.sub(r" \1 \2 ", text)
        return text.split()


class ShippedPunktTokenizer(PunktTokenizer):
    """NLTK's Punkt sentence tokenizer with the English `punkt_tab` model shipped in kerasseq."""

    def load_lang(self, lang="english"):
        model = FileSystemPathPointer(str(NLTK_DATA / "tokenizers" / "punkt_tab" / "english"))
        self._params = load_punkt_params(model)
        self._lang = "english"


class ReviewNormalizer:
    """Raw review → normalized string of tokens, configurable step by step.

    Defaults reproduce the classic pipeline exactly: lowercase, `nltk.word_tokenize`, drop the 179
    NLTK English stopwords and single-character `string.punctuation` tokens, Porter-stem.
    `keep_negations=True` keeps "not", "no", "nor" and the n't words, which carry sentiment.
    """

    def __init__(self, lowercase=True, drop_stopwords=True, drop_punctuation=True, stem=True,
                 keep_negations=False):
        self.lowercase = lowercase
        self.drop_stopwords = drop_stopwords
        self.drop_punctuation = drop_punctuation
        self.stem = stem
        self.keep_negations = keep_negations
        dropped = set()
        if drop_stopwords:
            dropped |= set(english_stopwords()) - (NEGATIONS if keep_negations else set())
        if drop_punctuation:
            dropped |= PUNCTUATION
        self._dropped = frozenset(dropped)
        self._sentences = ShippedPunktTokenizer()
        self._words = FastTreebankTokenizer()
        self._stemmer = PorterStemmer()
        self._stems = {}

    def tokens(self, text):
        """The normalized tokens of one text."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        if self.lowercase:
            text = text.lower()
        words = [w for sentence in self._sentences.tokenize(text) for w in self._words.tokenize(sentence)]
        if self._dropped:
            words = [w for w in words if w not in self._dropped]
        if self.stem:
            stems = self._stems
            words = [stems.get(w) or stems.setdefault(w, self._stemmer.stem(w)) for w in words]
        return words

    def __call__(self, text):
        """The normalized tokens of one text, joined by spaces (what the word tokenizer then reads)."""
        return " ".join(self.tokens(text))

    def normalize(self, texts):
        """Normalize a list of texts."""
        if isinstance(texts, str):
            raise TypeError("texts must be a list of str, got a single str (wrap it in a list)")
        return [self(text) for text in texts]

    def get_config(self):
        return {"lowercase": self.lowercase, "drop_stopwords": self.drop_stopwords,
                "drop_punctuation": self.drop_punctuation, "stem": self.stem,
                "keep_negations": self.keep_negations}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
