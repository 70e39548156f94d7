import gzip

import numpy as np
import pytest

from kerasseq.data import load_csv, load_splits, stratified_split


def test_uci_default_data(uci):
    assert len(uci) == 3000
    assert np.bincount(uci.labels).tolist() == [1500, 1500]
    assert uci.label_names == ["negative", "positive"]
    assert all(isinstance(t, str) and t for t in uci.texts)
    train, test = load_splits("uci")
    assert sorted(train.texts + test.texts) == sorted(uci.texts) and len(test) == 600


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
        load_splits(tmp_path / "nothere.csv")


def test_numeric_labels_must_be_0_or_1(tmp_path):
    path = tmp_path / "amazon.csv"
    path.write_text("review_text,label\ngood,1\nbad,0\nmeh,2\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"row 4: column 'label' holds '2'; numeric labels must be 0"):
        load_csv(path)


def test_invalid_utf8_file_is_named(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("text,label\ncaf\xe9 ok,1\nbad,0\n".encode("latin-1"))
    with pytest.raises(ValueError, match="latin1.csv is not UTF-8"):
        load_csv(path)


def _write_aclimdb(root, reviews):
    for split in ("train", "test"):
        for polarity in ("pos", "neg"):
            folder = root / "aclImdb" / split / polarity
            folder.mkdir(parents=True)
            for i, text in enumerate(reviews[(split, polarity)]):
                (folder / f"{i * 5}_{8 if polarity == 'pos' else 2}.txt").write_text(text, encoding="utf-8")


def test_imdb_from_an_aclimdb_tree_and_the_search_order(tmp_path, monkeypatch):
    from kerasseq.data import load_imdb

    reviews = {(s, p): [f"{s} {p} review {i}<br />line" for i in range(12)] for s in ("train", "test")
               for p in ("pos", "neg")}
    _write_aclimdb(tmp_path / "mine", reviews)
    monkeypatch.setenv("KERASSEQ_DATA", str(tmp_path / "elsewhere"))
    train, test = load_imdb(data_dir=tmp_path / "mine")
    assert len(train) == len(test) == 24
    # numeric id order: 0, 5, 10, ... not the string order 0, 10, 15, 20, 25, 30, 35, 40, 45, 5, ...
    assert train.texts[:12] == reviews[("train", "neg")] and train.texts[12:] == reviews[("train", "pos")]
    assert train.labels.tolist() == [0] * 12 + [1] * 12 and train.label_names == ["negative", "positive"]
    assert load_splits(tmp_path / "mine" / "aclImdb")[1].texts == test.texts
    monkeypatch.setenv("KERASSEQ_DATA", str(tmp_path / "mine"))
    assert load_splits("imdb")[0].texts == train.texts


def test_missing_data_names_the_file_and_every_place_searched(tmp_path, monkeypatch):
    monkeypatch.setenv("KERASSEQ_DATA", str(tmp_path / "env"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    with pytest.raises(FileNotFoundError) as error:
        load_splits("imdb", data_dir=tmp_path / "arg")
    message = str(error.value)
    for place in ("imdb/imdb_train.csv.gz", f"{tmp_path / 'arg'} (--data-dir)", f"{tmp_path / 'env'} ($KERASSEQ_DATA)",
                  f"{tmp_path / 'home' / '.kerasseq' / 'data'} (default)", "downloads nothing"):
        assert place in message
    with pytest.raises(ValueError, match="unknown data source 'imbd'"):
        load_splits("imbd")


def test_amazon_uses_the_activity_split_files_when_present(tmp_path):
    for split, n in (("train", 6), ("test", 4)):
        rows = "".join(f'"{split} review {i}, ok",{i % 2}\n' for i in range(n))
        (tmp_path / f"Amazon_reviews_{split}.csv").write_text("review_text,label\n" + rows, encoding="utf-8")
    train, test = load_splits("amazon", data_dir=tmp_path)
    assert (len(train), len(test)) == (6, 4) and test.texts[0] == "test review 0, ok"


def test_shared_imdb_and_amazon_load():
    from conftest import SHARED_DATA

    if not (SHARED_DATA / "imdb" / "imdb_test.csv.gz").is_file():
        pytest.skip(f"no IMDb data in {SHARED_DATA}")
    train, test = load_splits("imdb", data_dir=SHARED_DATA)
    assert len(train) == len(test) == 25000
    assert np.bincount(train.labels).tolist() == np.bincount(test.labels).tolist() == [12500, 12500]
    train, test = load_splits("amazon", data_dir=SHARED_DATA)
    assert (len(train), len(test)) == (4000, 1000) and set(train.texts).isdisjoint(test.texts)


def test_keras_imdb_npz_with_pickled_arrays_is_refused_without_unpickling(tmp_path):
    import zipfile

    from kerasseq.data import load_keras_imdb_npz

    path = tmp_path / "imdb.npz"
    with zipfile.ZipFile(path, "w") as archive:
        with archive.open("x_train.npy", "w") as f:  # the header Keras's file has; the body is never read
            np.lib.format.write_array_header_1_0(f, {"descr": "|O", "fortran_order": False, "shape": (2,)})
            f.write(b"not a pickle")
    with pytest.raises(ValueError, match=r"imdb.npz: arrays \['x_train'\] are pickled Python objects"):
        load_keras_imdb_npz(path)
    plain = tmp_path / "padded.npz"
    np.savez(plain, x_train=np.arange(6, dtype=np.int32).reshape(2, 3), y_train=np.array([0, 1]))
    assert load_keras_imdb_npz(plain)["x_train"].shape == (2, 3)
    with pytest.raises(ValueError, match="raw texts"):
        load_splits(str(path))
