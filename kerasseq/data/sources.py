"""Named data sets found in a data directory: IMDb, the Amazon reviews, the embedded UCI sentences.

A data directory comes from the `data_dir` argument (`--data-dir`), the `KERASSEQ_DATA`
environment variable, or `~/.kerasseq/data`, searched in that order. Nothing is downloaded:
a missing file raises FileNotFoundError naming the file and every place searched.
"""

import json
import os
import zipfile
from pathlib import Path

import numpy as np

from kerasseq.data.files import BINARY_LABEL_NAMES, TextDataset, load_csv, load_uci, stratified_split

DATA_ENV = "KERASSEQ_DATA"
HOME_DATA = Path("~/.kerasseq/data")

# Relative paths tried in each data directory, first match wins.
IMDB_CSV = ("imdb/imdb_{split}.csv.gz", "imdb_{split}.csv.gz", "imdb/imdb_{split}.csv", "imdb_{split}.csv")
IMDB_DIR = ("aclImdb", "imdb/aclImdb")
AMAZON_SPLIT = ("Amazon_reviews_{split}.csv", "amazon/Amazon_reviews_{split}.csv",
                "amazon_polarity/Amazon_reviews_{split}.csv")
AMAZON_SAMPLE = ("amazon_polarity/amazon_reviews_5000.csv", "amazon_reviews_5000.csv")
KERAS_IMDB_INDEX = ("imdb_word_index.json", "imdb/imdb_word_index.json")
NAMED = ("uci", "imdb", "amazon")


def data_dirs(data_dir=None):
    """The (directory, where-it-came-from) pairs searched for data files, in order."""
    places = []
    if data_dir is not None:
        places.append((Path(data_dir).expanduser(), "--data-dir"))
    if os.environ.get(DATA_ENV):
        places.append((Path(os.environ[DATA_ENV]).expanduser(), f"${DATA_ENV}"))
    places.append((HOME_DATA.expanduser(), "default"))
    return places


def find_data(candidates, data_dir=None, what="data file", directory=False):
    """The first existing `dir/candidate` over `data_dirs(data_dir)`; FileNotFoundError naming all."""
    places = data_dirs(data_dir)
    for folder, _ in places:
        for name in candidates:
            path = folder / name
            if path.is_dir() if directory else path.is_file():
                return path
    searched = "; ".join(f"{folder} ({origin})" for folder, origin in places)
    unset = "" if os.environ.get(DATA_ENV) else f" (${DATA_ENV} is not set)"
    raise FileNotFoundError(f"{what} not found: looked for {' or '.join(candidates)} in {searched}{unset}. "
                            f"kerasseq downloads nothing: put the file in one of these places or pass --data-dir")


def load_imdb(data_dir=None):
    """The IMDb review data set (Maas et al., 2011) as (train, test), 25,000 reviews each.

    Read from `imdb_{train,test}.csv.gz` (columns id, rating, label, text) or, when those are
    absent, from the original `aclImdb/{train,test}/{pos,neg}/*.txt` tree.
    """
    try:
        return tuple(load_csv(find_data([c.format(split=s) for c in IMDB_CSV], data_dir, f"IMDb {s} split"))
                     for s in ("train", "test"))
    except FileNotFoundError as csv_missing:
        try:
            folder = find_data(IMDB_DIR, data_dir, "IMDb aclImdb directory", directory=True)
        except FileNotFoundError:
            raise csv_missing from None
        return load_aclimdb(folder)


def load_aclimdb(folder):
    """(train, test) from an `aclImdb` directory: `{split}/pos/*.txt` are label 1, `{split}/neg/*.txt` label 0."""
    folder = Path(folder)
    splits = []
    for split in ("train", "test"):
        texts, labels = [], []
        for label, polarity in ((0, "neg"), (1, "pos")):
            sub = folder / split / polarity
            if not sub.is_dir():
                raise FileNotFoundError(f"{sub} not found: an aclImdb directory holds {{train,test}}/{{pos,neg}}/*.txt")
            files = sorted(sub.glob("*.txt"), key=_review_file_order)
            for path in files:
                try:
                    texts.append(path.read_text(encoding="utf-8"))
                except UnicodeDecodeError as e:
                    raise ValueError(f"{path} is not UTF-8 text: {e}") from None
            labels += [label] * len(files)
        if not texts:
            raise ValueError(f"{folder / split} holds no reviews")
        splits.append(TextDataset(f"imdb-{split}", texts, np.array(labels, dtype=np.int64), list(BINARY_LABEL_NAMES)))
    return tuple(splits)


def _review_file_order(path):
    """aclImdb names files `{id}_{rating}.txt`: numeric id order, then the name."""
    head = path.stem.split("_")[0]
    return (int(head), path.name) if head.isdigit() else (float("inf"), path.name)


def load_amazon(data_dir=None):
    """Amazon review polarity: the activity's `Amazon_reviews_{train,test}.csv` as (train, test)
    when present, else the 5,000-review sample as one data set (None for test: split it)."""
    split_names = [c.format(split="train") for c in AMAZON_SPLIT]
    try:
        train = find_data(split_names, data_dir, "Amazon train split")
    except FileNotFoundError:
        return load_csv(find_data(AMAZON_SAMPLE + tuple(split_names), data_dir, "Amazon reviews")), None
    test = train.with_name(train.name.replace("_train", "_test"))
    if not test.is_file():
        raise FileNotFoundError(f"{test} not found next to {train}")
    return load_csv(train), load_csv(test)


def load_splits(source="uci", data_dir=None, test_fraction=0.2, seed=0):
    """(train, test) TextDatasets for a named source ("uci", "imdb", "amazon"), a CSV/TSV file
    or an aclImdb directory. Sources without their own test split get a stratified split."""
    source = "uci" if source is None else source
    if source == "imdb":
        return load_imdb(data_dir)
    if source == "amazon":
        data, test = load_amazon(data_dir)
    elif source == "uci":
        data, test = load_uci(), None
    elif Path(source).is_dir():
        return load_aclimdb(source)
    elif Path(source).suffix in (".npz", ".json"):
        raise ValueError(f"{source}: training reads raw texts (a CSV/TSV, an aclImdb directory, or one of "
                         f"{', '.join(NAMED)}), not token ids or a word index")
    elif not Path(source).exists() and os.sep not in str(source) and "." not in str(source):
        raise ValueError(f"unknown data source {source!r}: give one of {', '.join(NAMED)} or a CSV/TSV path")
    else:
        data, test = load_csv(source), None
    if test is not None:
        return data, test
    train_idx, test_idx = stratified_split(data.labels, test_fraction, seed)
    return data.subset(train_idx), data.subset(test_idx)


def load_keras_imdb_word_index(path=None, data_dir=None):
    """The `imdb_word_index.json` of `keras.datasets.imdb` (word → frequency rank, from 1)."""
    path = Path(path) if path else find_data(KERAS_IMDB_INDEX, data_dir, "Keras IMDb word index")
    try:
        with open(path, encoding="utf-8") as f:
            index = json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"Keras IMDb word index not found: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is not a JSON word index: {e}") from None
    if not isinstance(index, dict) or not all(isinstance(v, int) and v >= 1 for v in index.values()):
        raise ValueError(f"{path}: expected a JSON object mapping words to ranks >= 1")
    return index


def load_keras_imdb_npz(path):
    """The arrays of a Keras-style `imdb.npz`, read without pickle.

    The file `keras.datasets.imdb` caches stores its ragged id lists as pickled object arrays:
    kerasseq never unpickles (a pickle can run code), so such a file raises ValueError naming
    it and the pickle-free routes. An archive of plain numeric arrays (e.g. padded ids) loads.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"npz file not found: {path}")
    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    try:
        with zipfile.ZipFile(path) as archive:
            pickled = []
            for name in archive.namelist():
                with archive.open(name) as f:
                    version = np.lib.format.read_magic(f)
                    if version not in readers:
                        raise ValueError(f"{path}: member {name} has unsupported .npy version {version}")
                    if readers[version](f)[2].hasobject:
                        pickled.append(name.removesuffix(".npy"))
    except zipfile.BadZipFile as e:
        raise ValueError(f"{path} is not a NumPy .npz archive: {e}") from None
    if pickled:
        raise ValueError(f"{path}: arrays {sorted(pickled)} are pickled Python objects, which kerasseq does not "
                         f"load (pickle can run code). Train on the raw reviews instead (imdb_train.csv.gz or "
                         f"aclImdb/, --data imdb); to serve a model trained on Keras's ids, encode raw text with "
                         f"kerasseq.text.KerasImdbTokenizer and imdb_word_index.json")
    with np.load(path, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}
