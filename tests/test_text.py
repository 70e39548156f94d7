"""kerasseq.text against Keras's own Tokenizer / text_to_word_sequence / pad_sequences."""

import json

import numpy as np
import pytest

from kerasseq.text import TextEncoder, Tokenizer, pad_sequences, text_to_word_sequence, tokenizer_from_json



@pytest.fixture(scope="module")
def keras_text():
    """The oracle: tf.keras 2's text module (only the comparisons need TensorFlow)."""
    return pytest.importorskip("tensorflow").keras.preprocessing.text


@pytest.fixture(scope="module")
def keras():
    return pytest.importorskip("keras")

TOKENIZER_SETTINGS = [
    {},
    {"num_words": 1000},
    {"num_words": 1000, "oov_token": "<OOV>"},
    {"num_words": 50, "oov_token": "zzunk"},
    {"oov_token": "<unk>", "lower": False},
    {"num_words": 500, "filters": '.,!?"', "split": " "},
    {"num_words": 300, "filters": "", "split": "e"},
]


@pytest.mark.parametrize("settings", TOKENIZER_SETTINGS, ids=str)
def test_tokenizer_matches_keras(review_corpus, settings, keras_text):
    fit, held_out = review_corpus[: len(review_corpus) // 2], review_corpus[len(review_corpus) // 2:]
    ours = Tokenizer(**settings).fit_on_texts(fit)
    theirs = keras_text.Tokenizer(**settings)
    theirs.fit_on_texts(fit)
    assert list(ours.word_index.items()) == list(theirs.word_index.items())
    assert ours.texts_to_sequences(held_out) == theirs.texts_to_sequences(held_out)
    assert ours.texts_to_sequences(fit[:500]) == theirs.texts_to_sequences(fit[:500])


def test_tokenizer_refit_matches_keras(review_corpus, keras_text):
    ours, theirs = Tokenizer(num_words=2000, oov_token="<OOV>"), keras_text.Tokenizer(num_words=2000, oov_token="<OOV>")
    for chunk in (review_corpus[:700], review_corpus[700:1500]):
        ours.fit_on_texts(chunk)
        theirs.fit_on_texts(chunk)
    assert ours.word_index == theirs.word_index
    assert ours.texts_to_sequences(review_corpus[1500:]) == theirs.texts_to_sequences(review_corpus[1500:])


@pytest.mark.parametrize("settings", [{}, {"lower": False}, {"filters": "!.", "split": "a"}], ids=str)
def test_text_to_word_sequence_matches_keras(review_corpus, settings, keras_text):
    for text in review_corpus[:1000]:
        assert text_to_word_sequence(text, **settings) == keras_text.text_to_word_sequence(text, **settings)


@pytest.mark.parametrize("compact", [False, True])
def test_tokenizer_json_round_trip_encodes_identically(review_corpus, compact):
    tokenizer = Tokenizer(num_words=800, oov_token="<OOV>").fit_on_texts(review_corpus[:2000])
    loaded = Tokenizer.from_json(tokenizer.to_json(encoding_only=compact))
    assert loaded.get_config() == tokenizer.get_config()
    assert loaded.texts_to_sequences(review_corpus) == tokenizer.texts_to_sequences(review_corpus)
    if not compact:
        assert loaded.word_index == tokenizer.word_index
        assert loaded.word_counts == tokenizer.word_counts
    else:
        assert len(json.loads(tokenizer.to_json(encoding_only=True))["vocabulary"]) == 800 - 2


def test_tokenizer_rejects_bad_input():
    with pytest.raises(TypeError, match="texts"):
        Tokenizer().fit_on_texts("one string")
    with pytest.raises(TypeError, match="str"):
        Tokenizer().fit_on_texts(["fine", None])
    with pytest.raises(ValueError, match="num_words"):
        Tokenizer(num_words=0)


PAD_SETTINGS = [
    {},
    {"maxlen": 20},
    {"maxlen": 20, "padding": "post"},
    {"maxlen": 20, "truncating": "post"},
    {"maxlen": 20, "padding": "post", "truncating": "post", "value": 7},
    {"maxlen": 200, "dtype": "int64"},
    {"maxlen": 5, "dtype": "float32", "value": -1.5},
]


@pytest.mark.parametrize("settings", PAD_SETTINGS, ids=str)
def test_pad_sequences_matches_keras(review_corpus, settings, keras):
    sequences = Tokenizer(num_words=3000).fit_on_texts(review_corpus).texts_to_sequences(review_corpus)
    sequences += [[], [5]]  # an empty text and a one-word one
    ours = pad_sequences(sequences, **settings)
    theirs = keras.utils.pad_sequences(sequences, **settings)
    assert ours.dtype == theirs.dtype
    np.testing.assert_array_equal(ours, theirs)


def test_pad_sequences_rejects_bad_input():
    with pytest.raises(ValueError, match="padding"):
        pad_sequences([[1]], padding="middle")
    with pytest.raises(ValueError, match="truncating"):
        pad_sequences([[1]], truncating="both")
    with pytest.raises(ValueError, match=r"sequences\[1\]"):
        pad_sequences([[1], [[1, 2]]], maxlen=3)
    with pytest.raises(TypeError, match="sequences"):
        pad_sequences(5)


def test_text_encoder_round_trip(review_corpus, keras):
    tokenizer = Tokenizer(num_words=1000, oov_token="<OOV>").fit_on_texts(review_corpus)
    encoder = TextEncoder(tokenizer, maxlen=30, padding="post", truncating="post")
    loaded = TextEncoder.from_dict(json.loads(json.dumps(encoder.to_dict())))
    ids = loaded.encode(review_corpus)
    assert ids.dtype == np.int32 and ids.shape == (len(review_corpus), 30)
    np.testing.assert_array_equal(ids, encoder.encode(review_corpus))
    np.testing.assert_array_equal(ids, keras.utils.pad_sequences(
        tokenizer.texts_to_sequences(review_corpus), maxlen=30, padding="post", truncating="post"))
    with pytest.raises(ValueError, match="maxlen"):
        TextEncoder(tokenizer, maxlen=0)


# A slice of imdb_word_index.json's format: word -> frequency rank, from 1.
KERAS_WORD_INDEX = {"the": 1, "and": 2, "a": 3, "of": 4, "to": 5, "is": 6, "br": 7, "movie": 17, "great": 84}


def test_keras_imdb_tokenizer_applies_the_keras_offsets(tmp_path):
    from kerasseq.data import load_keras_imdb_word_index
    from kerasseq.text import KerasImdbTokenizer

    path = tmp_path / "imdb_word_index.json"
    path.write_text(json.dumps(KERAS_WORD_INDEX))
    index = load_keras_imdb_word_index(path)
    text = "The movie is GREAT, a zebra!"
    # keras.datasets.imdb.load_data(start_char=1, oov_char=2, index_from=3): rank r -> id r + 3
    assert KerasImdbTokenizer(index).texts_to_sequences([text]) == [[1, 4, 20, 9, 87, 6, 2]]
    # num_words=50: ids >= 50 ("great" = 87) become oov_char 2
    tokenizer = KerasImdbTokenizer(index, num_words=50)
    assert tokenizer.texts_to_sequences([text]) == [[1, 4, 20, 9, 2, 6, 2]]
    assert tokenizer.sequences_to_texts([[0, 0, 1, 4, 20, 9, 2]]) == ["? the movie is ?"]
    # the mistake of the seed's `preprocess`: ranks used as ids read back as other words
    assert KerasImdbTokenizer(index).sequences_to_texts([[KERAS_WORD_INDEX["movie"]]]) != ["movie"]


def test_keras_imdb_encoder_round_trips_through_a_bundle_dict():
    from kerasseq.text import KerasImdbTokenizer, TextEncoder

    encoder = TextEncoder(KerasImdbTokenizer(KERAS_WORD_INDEX, num_words=50), maxlen=6)
    restored = TextEncoder.from_dict(json.loads(json.dumps(encoder.to_dict())))
    texts = ["the movie is great", "", "a of to and the br the movie"]
    np.testing.assert_array_equal(restored.encode(texts), encoder.encode(texts))
    assert restored.encode(texts)[1].tolist() == [0, 0, 0, 0, 0, 1]
    assert "great" not in restored.tokenizer.word_index  # id 87 >= num_words: not stored
    with pytest.raises(ValueError, match="num_words must be an int above index_from"):
        KerasImdbTokenizer(KERAS_WORD_INDEX, num_words=2)


@pytest.mark.parametrize("padding, truncating", [("pre", "pre"), ("post", "post"), ("pre", "post")])
@pytest.mark.parametrize("oov_token", ["<OOV>", None])
def test_encoder_tokens_line_up_with_the_ids(review_corpus, padding, truncating, oov_token):
    from kerasseq.text import KerasImdbTokenizer

    tokenizer = Tokenizer(num_words=300, oov_token=oov_token).fit_on_texts(review_corpus)
    encoders = [TextEncoder(tokenizer, 25, padding, truncating),
                TextEncoder(KerasImdbTokenizer(KERAS_WORD_INDEX, num_words=50), 25, padding, truncating)]
    texts = review_corpus[:300] + ["", "!!!", " ".join(review_corpus[:5])]
    for encoder in encoders:
        ids, tokens = encoder.encode(texts), encoder.tokens(texts)
        assert len(tokens) == len(texts) and all(len(row) == 25 for row in tokens)
        for id_row, token_row in zip(ids, tokens):
            assert [t is None for t in token_row] == (id_row == 0).tolist()
            for i, token in zip(id_row, token_row):  # each known word sits where its id is
                if token is not None and i not in (1, 2):
                    assert i == (encoder.tokenizer.word_index[token] + getattr(encoder.tokenizer, "index_from", 0))


@pytest.mark.parametrize("settings", TOKENIZER_SETTINGS + [{"num_words": 0}], ids=str)
def test_keras_tokenizer_json_gives_identical_ids(review_corpus, settings, keras_text):
    fit, held_out = review_corpus[: len(review_corpus) // 2], review_corpus[len(review_corpus) // 2:]
    theirs = keras_text.Tokenizer(**settings)
    theirs.fit_on_texts(fit)
    ours = tokenizer_from_json(theirs.to_json())
    assert ours.word_index == theirs.word_index
    assert ours.texts_to_sequences(held_out) == theirs.texts_to_sequences(held_out)
    assert ours.texts_to_sequences(fit[:300]) == theirs.texts_to_sequences(fit[:300])


def test_tokenizer_from_json_refuses_what_it_cannot_read(keras_text):
    with pytest.raises(ValueError, match="not the JSON of a Keras Tokenizer"):
        tokenizer_from_json('{"class_name": "Something", "config": {}}')
    with pytest.raises(ValueError, match="not the JSON of a Keras Tokenizer"):
        tokenizer_from_json("not json")
    char_level = keras_text.Tokenizer(char_level=True)
    char_level.fit_on_texts(["abc"])
    with pytest.raises(ValueError, match="char_level=True is not supported"):
        tokenizer_from_json(char_level.to_json())


@pytest.mark.parametrize("settings", TOKENIZER_SETTINGS, ids=str)
def test_index_word_and_sequences_to_texts_match_keras(review_corpus, settings, keras_text):
    theirs = keras_text.Tokenizer(**settings)
    theirs.fit_on_texts(review_corpus[:1500])
    ours = Tokenizer(**settings).fit_on_texts(review_corpus[:1500])
    assert ours.index_word == theirs.index_word
    sequences = theirs.texts_to_sequences(review_corpus[1500:1800]) + [[0, 1, 2, 10**6], []]
    assert ours.sequences_to_texts(sequences) == theirs.sequences_to_texts(sequences)
    assert tokenizer_from_json(theirs.to_json()).sequences_to_texts(sequences) == theirs.sequences_to_texts(sequences)
