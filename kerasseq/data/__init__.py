"""Labelled text data: the embedded UCI sentences, CSV/TSV files, IMDb and Amazon reviews. numpy only."""

from kerasseq.data.chars import load_text, stream_rows, window_rows
from kerasseq.data.files import TextDataset, load_csv, load_uci, stratified_split
from kerasseq.data.sources import (DATA_ENV, data_dirs, find_data, load_aclimdb, load_amazon, load_imdb,
                                   load_keras_imdb_npz, load_keras_imdb_word_index, load_splits)

__all__ = ["DATA_ENV", "TextDataset", "data_dirs", "find_data", "load_aclimdb", "load_amazon", "load_csv",
           "load_imdb", "load_keras_imdb_npz", "load_keras_imdb_word_index", "load_splits", "load_text", "load_uci",
           "stratified_split", "stream_rows", "window_rows"]
