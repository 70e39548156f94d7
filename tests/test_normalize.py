"""The review normalizer against the classic pipeline done by hand with NLTK, on real reviews:
the embedded UCI sentences (always), plus IMDb and Amazon reviews where ../shared/data has them.
The reference reads NLTK's data from the copy that ships inside kerasseq (punkt_tab English,
stopwords), so nothing here needs a download or the shared data folder."""

import csv
import gzip
import json
import string

import pytest

from conftest import SHARED_DATA
from kerasseq.text import TextEncoder, Tokenizer
from kerasseq.text.normalize import NLTK_DATA, FastTreebankTokenizer, ReviewNormalizer, english_stopwords

nltk = pytest.importorskip("nltk")
IMDB = SHARED_DATA / "imdb" / "imdb_test.csv.gz"
AMAZON = SHARED_DATA / "amazon_polarity" / "amazon_reviews_5000.csv"


@pytest.fixture(scope="module")
def reviews(uci):
    texts = list(uci.texts[:600])
    if IMDB.is_file():
        with gzip.open(IMDB, "rt", encoding="utf-8", newline="") as f:
            texts += [row["text"] for _, row in zip(range(300), csv.DictReader(f))]
    if AMAZON.is_file():
        with open(AMAZON, encoding="utf-8", newline="") as f:
            texts += [row["review_text"] for _, row in zip(range(300), csv.DictReader(f))]
    return texts


@pytest.fixture(scope="module")
def reference():
    """The seed's steps, by hand: NLTK's own data, word_tokenize, stopwords + punctuation, stemmer."""
    if str(NLTK_DATA) not in nltk.data.path:
        nltk.data.path.insert(0, str(NLTK_DATA))
    from nltk.corpus import stopwords
    from nltk.stem import PorterStemmer

    dropped = stopwords.words("english") + list(string.punctuation)
    stemmer = PorterStemmer()

    def normalize(text):
        tokens = [w for w in nltk.word_tokenize(text.lower()) if w not in dropped]
        return " ".join(stemmer.stem(w) for w in tokens)

    return normalize


def test_normalizer_equals_the_nltk_steps_on_real_reviews(reviews, reference):
    assert ReviewNormalizer().normalize(reviews) == [reference(text) for text in reviews]


def test_fast_treebank_equals_nltk_on_raw_sentences(reviews):
    slow, fast = nltk.tokenize.destructive.NLTKWordTokenizer(), FastTreebankTokenizer()
    sentences = [s for text in reviews for s in nltk.sent_tokenize(text)]
    sentences += ['"Quoted" start', "gonna GIMME 'tis cannot -- wanna go", "a\tb\n c  d", "x...y (z) [w] {v} <u>",
                  "It’s “fine” «ok» — really?! ‘yes’", "can't won't they'll I'm you'd 'em"]
    assert [fast.tokenize(s) for s in sentences] == [slow.tokenize(s) for s in sentences]


def test_shipped_stopwords_are_nltks_179():
    assert len(english_stopwords()) == 179
    assert {"not", "no", "nor", "the"} <= set(english_stopwords())


def test_keep_negations_keeps_sentiment_words():
    text = "This is not good, and no one liked it. Nor did I! I didn't."
    assert "not" not in ReviewNormalizer().tokens(text)
    kept = ReviewNormalizer(keep_negations=True).tokens(text)
    assert {"not", "no", "nor", "n't"} <= set(kept) and "thi" not in kept and "is" not in kept


@pytest.mark.parametrize("text, expected", [
    ("", ""), ("   \n\t ", ""), ("the and of is", ""), ("!!! ... ?", "..."), ("😀 great 👍", "😀 great 👍"),
    ("Très bien, très bon", "trè bien trè bon"),
])
def test_edge_texts_have_defined_results(text, expected):
    assert ReviewNormalizer()(text) == expected


def test_one_megabyte_review_is_handled():
    text = "A surprisingly good film, honestly. " * 30_000
    tokens = ReviewNormalizer().tokens(text)
    assert len(tokens) == 30_000 * 4 and tokens[:4] == ["surprisingli", "good", "film", "honestli"]


def test_bad_input_types():
    with pytest.raises(TypeError, match="text"):
        ReviewNormalizer()(None)
    with pytest.raises(TypeError, match="texts"):
        ReviewNormalizer().normalize("a single string")


def test_encoder_with_normalizer_round_trips(reviews):
    normalizer = ReviewNormalizer(keep_negations=True)
    tokenizer = Tokenizer(num_words=500, oov_token="<OOV>").fit_on_texts(normalizer.normalize(reviews))
    encoder = TextEncoder(tokenizer, maxlen=50, normalizer=normalizer)
    loaded = TextEncoder.from_dict(json.loads(json.dumps(encoder.to_dict())))
    assert loaded.normalizer.get_config() == normalizer.get_config()
    assert (loaded.encode(reviews[:40]) == encoder.encode(reviews[:40])).all()
    assert (encoder.encode(normalizer.normalize(reviews[:40]), normalized=True) == encoder.encode(reviews[:40])).all()
