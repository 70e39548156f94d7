"""Labelled text files: the embedded UCI sentences and CSV/TSV files. numpy only."""

import csv
import gzip
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

UCI_FILES = ("amazon_cells_labelled.txt", "imdb_labelled.txt", "yelp_labelled.txt")
TEXT_COLUMNS = ("text", "review_text", "sentence", "review")
LABEL_COLUMN = "label"
BINARY_LABEL_NAMES = ["negative", "positive"]


@dataclass
class TextDataset:
    """Texts with integer labels 0..n-1; `label_names[i]` names label i."""

    name: str
    texts: list
    labels: np.ndarray
    label_names: list

    def __len__(self):
        return len(self.texts)

    def subset(self, index):
        return TextDataset(self.name, [self.texts[i] for i in index], self.labels[index], self.label_names)


def load_uci():
    """The 3,000 UCI Sentiment Labelled Sentences shipped with kerasseq (CC BY 4.0, Kotzias et al. 2015)."""
    texts, labels = [], []
    folder = resources.files("kerasseq.data") / "uci"
    for name in UCI_FILES:
        content = (folder / name).read_text(encoding="utf-8")
        # Split on "\n" only: imdb_labelled.txt holds U+0085 characters inside sentences.
        for line_no, line in enumerate(content.split("\n"), start=1):
            if not line.strip():
                continue
            text, _, label = line.rpartition("\t")
            if label.strip() not in ("0", "1"):
                raise ValueError(f"{name} line {line_no}: expected 'sentence<TAB>0|1'")
            texts.append(text.strip())
            labels.append(int(label))
    return TextDataset("uci", texts, np.array(labels, dtype=np.int64), list(BINARY_LABEL_NAMES))


def load_csv(path):
    """A CSV (or .tsv, optionally .gz) with a header naming a text column and a `label` column.

    The text column is the first of `text`, `review_text`, `sentence`, `review`. Labels 0/1 are
    named negative/positive; other labels are sorted and numbered in that order.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data file not found: {path}")
    delimiter = "\t" if ".tsv" in path.suffixes or ".tab" in path.suffixes else ","
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f, delimiter=delimiter))
    except UnicodeDecodeError as e:
        raise ValueError(f"{path} is not UTF-8 text: {e}") from None
    if not rows:
        raise ValueError(f"{path} is empty; expected a header row with a text column and '{LABEL_COLUMN}'")
    header = [h.strip().lower() for h in rows[0]]
    text_col = next((header.index(c) for c in TEXT_COLUMNS if c in header), None)
    if text_col is None:
        raise ValueError(f"{path}: no text column; expected one of {list(TEXT_COLUMNS)} in header {rows[0]}")
    if LABEL_COLUMN not in header:
        raise ValueError(f"{path}: no '{LABEL_COLUMN}' column in header {rows[0]}")
    label_col = header.index(LABEL_COLUMN)
    texts, raw_labels = [], []
    for row_no, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) <= max(text_col, label_col):
            raise ValueError(f"{path} row {row_no}: expected {len(header)} columns, got {len(row)}")
        label = row[label_col].strip()
        if not label:
            raise ValueError(f"{path} row {row_no}: empty value in column '{LABEL_COLUMN}'")
        texts.append(row[text_col])
        raw_labels.append((row_no, label))
    if not texts:
        raise ValueError(f"{path} has a header but no data rows")
    return TextDataset(path.name, texts, *_label_ids(path, raw_labels))


def _label_ids(path, raw_labels):
    """Numeric labels must be 0/1 (negative/positive); names (e.g. "pos", "neg") are classes sorted by name."""
    if any(_is_number(label) for _, label in raw_labels):
        for row_no, label in raw_labels:
            if label not in ("0", "1"):
                raise ValueError(f"{path} row {row_no}: column '{LABEL_COLUMN}' holds {label!r}; numeric labels "
                                 f"must be 0 (negative) or 1 (positive)")
    classes = sorted({label for _, label in raw_labels})
    if len(classes) < 2:
        raise ValueError(f"{path}: column '{LABEL_COLUMN}' must hold at least two classes, got {classes}")
    names = BINARY_LABEL_NAMES if classes == ["0", "1"] else classes
    lookup = {c: i for i, c in enumerate(classes)}
    return np.array([lookup[label] for _, label in raw_labels], dtype=np.int64), list(names)


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def stratified_split(labels, test_fraction=0.2, seed=0):
    """Deterministic stratified split: (train_index, test_index), each sorted by a seeded shuffle."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction!r}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    train, test = [], []
    for label in np.unique(labels):
        index = rng.permutation(np.flatnonzero(labels == label))
        n_test = int(round(len(index) * test_fraction))
        test.append(index[:n_test])
        train.append(index[n_test:])
    train, test = np.concatenate(train), np.concatenate(test)
    return rng.permutation(train), rng.permutation(test)
