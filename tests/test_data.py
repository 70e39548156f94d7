import gzip

import numpy as np
import pytest

from kerasseq.data import load_csv, load_source, stratified_split


def test_uci_default_data(uci):
    assert len(uci) == 3000
    assert np.bincount(uci.labels).tolist() == [1500, 1500]
    assert uci.label_names == ["negative", "positive"]
    assert all(isinstance(t, str) and t for t in uci.texts)
    assert load_source("uci").texts == uci.texts


def test_stratified_split_is_deterministic_and_stratified(uci):
    train, test = stratified_split(uci.labels, 0.2, seed=3)
    again_train, again_test = stratified_split(uci.labels, 0.2, seed=3)
    np.testing.assert_array_equal(train, again_train)
    np.testing.assert_array_equal(test, again_test)
    assert len(test) == 600 and set(train).isdisjoint(test) and len(set(train) | set(test)) == 3000
    assert np.bincount(uci.labels[test]).tolist() == [300, 300]
    with pytest.raises(ValueError, match="test_fraction"):
        stratified_split(uci.labels, 1.0)


def test_csv_with_string_labels_and_gzip(tmp_path, uci):
    path = tmp_path / "reviews.tsv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("label\tsentence\n")
        for i, text in enumerate(uci.texts[:30]):
            f.write(f"{['bad', 'good', 'meh'][i % 3]}\t{text}\n")
    data = load_csv(path)
    assert data.label_names == ["bad", "good", "meh"]
    assert data.texts == uci.texts[:30]
    assert data.labels[:3].tolist() == [0, 1, 2]


@pytest.mark.parametrize("content, message", [
    ("body,score\nfine,1\n", "no text column"),
    ("text,score\nfine,1\n", "no 'label' column"),
    ("text,label\nfine,1\nbad,\n", "row 3: empty value in column 'label'"),
    ("text,label\nfine,1\nbad\n", "row 3: expected 2 columns"),
    ("text,label\nfine,1\nok,1\n", "at least two classes"),
    ("", "empty"),
])
def test_csv_errors_name_the_column_and_row(tmp_path, content, message):
    path = tmp_path / "data.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        load_csv(path)


def test_missing_csv_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.csv"):
        load_source(tmp_path / "nothere.csv")
