"""Text to ids, in pure Python and numpy (never TensorFlow or Keras)."""

from kerasseq.text.chars import CharTokenizer
from kerasseq.text.keras_imdb import KerasImdbTokenizer
from kerasseq.text.preprocessing import TextEncoder
from kerasseq.text.sequence import pad_sequences
from kerasseq.text.tokenizer import Tokenizer, text_to_word_sequence, tokenizer_from_json

__all__ = ["CharTokenizer", "KerasImdbTokenizer", "TextEncoder", "Tokenizer", "pad_sequences", "text_to_word_sequence",
           "tokenizer_from_json"]
