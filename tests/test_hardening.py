"""Regressions for the defects found by using kerasseq as a new user would (issue #15): data loss,
unbounded memory, crashes on odd input, bundles not checked against their model, CLI details."""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from conftest import ARTIFACT, ROOT
from kerasseq import bundle
from kerasseq.cli import main
from kerasseq.serve import BundleError, Forecaster, Generator, Predictor

ARTIFACTS = ROOT / "artifacts"
ALICE = ARTIFACTS / "alice-char-lstm"
ATTENTION = ARTIFACTS / "imdb-attention"
DJIA_300 = ROOT / "tests" / "data" / "djia_last_300_days.csv"
SALES = ROOT / "tests" / "data" / "sales_20_products.csv"


def kerasseq(*args, cwd=ROOT, **kwargs):
    """Run the real `kerasseq` command in a fresh process: (exit status, stdout, stderr)."""
    done = subprocess.run([sys.executable, "-m", "kerasseq.cli", *args], cwd=cwd, capture_output=True,
                          timeout=600, **kwargs)
    return done.returncode, done.stdout.decode("utf-8", "replace"), done.stderr.decode("utf-8", "replace")


def user_project(root):
    """A folder a user cares about."""
    (root / "src").mkdir(parents=True)
    (root / "notes.txt").write_text("my notes")
    (root / "src" / "main.py").write_text("print('hello')")
    return root


# 1. Data loss: a bundle writer replaces only a kerasseq bundle or an empty folder.

@pytest.mark.parametrize("kind", ["project folder", "plain file"])
def test_train_refuses_to_replace_what_kerasseq_did_not_write(tmp_path, kind):
    target = user_project(tmp_path / "project") if kind == "project folder" else tmp_path / "notes.txt"
    if kind == "plain file":
        target.write_text("keep me")
    status, out, err = kerasseq("train", "--epochs", "1", "--out", str(target))
    assert status == 1 and err.count("\n") == 1 and str(target) in err and "--overwrite" in err
    assert "Epoch" not in out  # refused before training
    if kind == "project folder":
        assert (target / "notes.txt").read_text() == "my notes" and (target / "src" / "main.py").is_file()
    else:
        assert target.read_text() == "keep me"


@pytest.mark.parametrize("out", [".", ".."])
def test_train_refuses_the_current_directory_before_training(tmp_path, out):
    work = tmp_path / "work"
    work.mkdir()
    status, stdout, err = kerasseq("train", "--epochs", "1", "--out", out, cwd=work)
    assert status == 1 and "current directory" in err and "Epoch" not in stdout and "busy" not in err


def test_train_overwrite_replaces_a_folder_and_is_quiet(tmp_path):
    """--overwrite replaces a non-bundle folder; a second run replaces its own bundle; and TensorFlow's
    C++ log lines (oneDNN, absl, NodeDef) stay off stderr (item 10)."""
    target = user_project(tmp_path / "project")
    status, out, err = kerasseq("train", "--epochs", "1", "--out", str(target), "--overwrite",
                                env={k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"})
    assert status == 0, err
    assert bundle.is_bundle(target) and not (target / "notes.txt").exists()
    for noise in ("I0000", "E0000", "oneDNN", "absl::InitializeLog", "NodeDef"):
        assert noise not in err, err
    status, out, err = kerasseq("train", "--epochs", "1", "--out", str(target))  # its own bundle: replaced
    assert status == 0 and "bundle written to" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project"]  # no temporary folders left


def test_every_python_writer_checks_its_destination(tmp_path):
    from kerasseq.train import train
    from kerasseq.train_charlm import train_char_lm
    from kerasseq.train_forecast import train_forecaster

    project = user_project(tmp_path / "project")
    with pytest.raises(FileExistsError, match="not a kerasseq bundle"):
        train(out=project, epochs=1)
    with pytest.raises(FileExistsError, match="not a kerasseq bundle"):
        train_char_lm("alice-char-lstm", out=project, epochs=1)
    with pytest.raises(FileExistsError, match="exists and is a file"):
        train_forecaster("sales-simplernn", out=project / "notes.txt", epochs=1, data=str(SALES))
    checkpoint = user_project(tmp_path / "mine.checkpoint")  # a user's folder where a checkpoint would go
    with pytest.raises(FileExistsError, match="not a kerasseq training checkpoint"):
        train_char_lm("alice-char-lstm", out=tmp_path / "mine", epochs=1)
    assert (project / "notes.txt").is_file() and (checkpoint / "notes.txt").is_file()
    with bundle.atomic_directory(project, overwrite=True) as tmp:  # told to: replaced
        bundle.write_json(tmp / bundle.PREPROCESSING, {"format": bundle.PREPROCESSING_FORMAT})
    assert bundle.is_bundle(project) and not (project / "notes.txt").exists()


def test_stats_writes_only_where_it_may(tmp_path):
    project = user_project(tmp_path / "project")
    status, _, err = kerasseq("stats", "--out", str(project))
    assert status == 1 and "--overwrite" in err and sorted(p.name for p in project.iterdir()) == ["notes.txt", "src"]
    status, _, err = kerasseq("stats", "--out", str(project), "--overwrite")
    assert status == 0, err
    assert sorted(p.name for p in project.iterdir()) == ["lengths.json", "lengths.png", "notes.txt", "src"]
    assert kerasseq("stats", "--out", str(project))[0] == 0  # its own output now: written again


# 9. Leftovers of a killed write are removed by the next write to the same destination.

def test_a_killed_bundle_write_leaves_nothing_after_the_next_write(tmp_path):
    out = tmp_path / "bundle"
    code = textwrap.dedent(f"""
        import os, signal
        from kerasseq import bundle
        with bundle.atomic_directory({str(out)!r}) as tmp:
            (tmp / "model.onnx").write_bytes(b"half")
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == -signal.SIGKILL
    (tmp_path / ".bundle.tmp-abcd1234").mkdir()  # what kerasseq 0.1.0 left behind
    (tmp_path / f".bundle.tmp-{os.getpid()}-live0000").mkdir()  # a write still running: kept
    left = sorted(p.name for p in tmp_path.iterdir())
    assert len(left) == 3 and not out.exists()
    with bundle.atomic_directory(out) as tmp:
        bundle.write_json(tmp / bundle.PREPROCESSING, {"format": bundle.PREPROCESSING_FORMAT})
    assert sorted(p.name for p in tmp_path.iterdir()) == [f".bundle.tmp-{os.getpid()}-live0000", "bundle"]


def test_a_write_killed_between_its_renames_gets_the_old_bundle_back(tmp_path):
    parked = tmp_path / ".bundle.old-999999999-abcdefgh" / "bundle"  # PID 999999999 cannot be running
    parked.mkdir(parents=True)
    bundle.write_json(parked / bundle.PREPROCESSING, {"format": bundle.PREPROCESSING_FORMAT, "old": True})
    bundle.remove_stale_temps(tmp_path, "bundle")
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"]
    assert bundle.read_json(tmp_path / "bundle" / bundle.PREPROCESSING)["old"] is True


# 2. Bounded memory: predict runs and prints in chunks.

def test_predict_in_chunks_equals_predict_at_once(uci):
    texts = list(uci.texts[:700])
    whole = Predictor(ARTIFACT, batch_size=1000).predict_proba(texts)
    chunked = Predictor(ARTIFACT, batch_size=64)
    assert np.array_equal(chunked.predict_proba(texts), whole)
    assert np.array_equal(chunked.predict_ids(chunked.encode(texts)), whole)
    with pytest.raises(ValueError, match="batch_size"):
        Predictor(ARTIFACT, batch_size=0)


def test_explain_in_chunks_equals_explain_at_once(uci):
    texts = list(uci.texts[:30])
    assert Predictor(ATTENTION, batch_size=7).explain(texts) == Predictor(ATTENTION).explain(texts)


def test_predict_file_streams_results_as_it_reads(uci):
    """Results for the first chunk come out before the rest of the input exists (read from a pipe)."""
    process = subprocess.Popen([sys.executable, "-m", "kerasseq.cli", "predict", str(ARTIFACT), "--file",
                                "/dev/stdin", "--batch-size", "2"], cwd=ROOT, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        process.stdin.write("Great phone\r\nAwful battery\n".encode())  # CR LF as written on Windows
        process.stdin.flush()
        first = [json.loads(process.stdout.readline()) for _ in range(2)]
        process.stdin.write(b"\xef\xbb\xbfworks fine\n")
        process.stdin.close()
        rest = [json.loads(line) for line in process.stdout]
        assert process.wait(timeout=60) == 0
    finally:
        process.kill()
    assert [r["text"] for r in first + rest] == ["Great phone", "Awful battery", "\ufeffworks fine"]
    want = Predictor(ARTIFACT).predict(["Great phone", "Awful battery", "\ufeffworks fine"])
    assert [{k: r[k] for k in ("label", "score")} for r in first + rest] == want


def test_predict_file_errors_name_the_line(tmp_path):
    path = tmp_path / "texts.txt"
    path.write_bytes(b"fine\nalso fine\nbad \xff byte\n")
    status, out, err = kerasseq("predict", str(ARTIFACT), "--file", str(path))
    assert status == 1 and f"--file {path} line 3 is not UTF-8" in err and err.count("\n") == 1
    assert len(out.splitlines()) == 2  # the lines before it were answered
    (tmp_path / "empty.txt").write_text("")
    assert "give at least one text" in kerasseq("predict", str(ARTIFACT), "--file", str(tmp_path / "empty.txt"))[2]


# 3. Lone surrogates and invalid UTF-8 never crash.

def test_explain_with_invalid_utf8_arguments_and_heatmap_name(tmp_path):
    status, out, err = kerasseq("predict", str(ATTENTION), "--explain", "--heatmap", "hm", b"bad \xff movie",
                                cwd=tmp_path)
    assert status == 0, err
    result = json.loads(out)
    assert result["heatmap"] == "hm.png" and (tmp_path / "hm.png").is_file()  # printed = written
    assert result["text"] == "bad \udcff movie" and "\udcff" in [t for t, _ in result["top_tokens"]]
    status, out, err = kerasseq("predict", str(ARTIFACT), "a \ud800 b".encode("utf-8", "surrogatepass"))
    assert status == 0 and json.loads(out)["label"] in ("negative", "positive")


# 5. Bundles are checked against their model on load.

def _copy(src, dst):
    shutil.copytree(src, dst)
    return dst


def _edit(path, change):
    data = json.loads((path / bundle.PREPROCESSING).read_text())
    change(data)
    (path / bundle.PREPROCESSING).write_text(json.dumps(data))


def test_a_model_swapped_in_from_another_bundle_is_refused(tmp_path):
    uci = _copy(ARTIFACT, tmp_path / "uci")
    shutil.copy(ARTIFACTS / "amazon-stacked-lstm" / bundle.ONNX_MODEL, uci / bundle.ONNX_MODEL)
    with pytest.raises(BundleError, match="exported with preset 'amazon-stacked-lstm'.*different bundles"):
        Predictor(uci)
    forecast = _copy(ARTIFACTS / "stock-lstm", tmp_path / "stock")
    shutil.copy(ARTIFACTS / "sales-simplernn" / bundle.ONNX_MODEL, forecast / bundle.ONNX_MODEL)
    with pytest.raises(BundleError, match="series"):
        Forecaster(forecast)


@pytest.mark.parametrize("field, change, message", [
    ("maxlen", lambda d: d["encoder"].update(maxlen=10**9), "field 'encoder.maxlen': expected an int in"),
    ("labels", lambda d: d.update(labels="posneg"), "field 'labels': expected a list"),
    ("label count", lambda d: d.update(labels=["a", "b", "c"]), "axis 1 is 2, but one column per label"),
    ("vocab_size", lambda d: d.update(vocab_size=10**12), "field 'vocab_size': expected an int in"),
    ("lower", lambda d: d["encoder"]["tokenizer"]["config"].update(lower="no"), "tokenizer.config.lower"),
    ("oov_token", lambda d: d["encoder"]["tokenizer"]["config"].update(oov_token=7), "tokenizer.config.oov_token"),
    ("encoder", lambda d: d.update(encoder=None), "field 'encoder': expected an object, got null"),
    ("padding", lambda d: d["encoder"].update(padding="middle"), "field 'encoder.padding'"),
    ("vocabulary", lambda d: d["encoder"]["tokenizer"].update(vocabulary=[["a", "x"]]), "tokenizer.vocabulary"),
    ("vocab vs model", lambda d: d.update(vocab_size=5000), "exported with vocab_size 4000"),
])
def test_bad_classifier_preprocessing_is_a_bundle_error_naming_the_field(tmp_path, field, change, message):
    path = _copy(ARTIFACT, tmp_path / "b")
    _edit(path, change)
    with pytest.raises(BundleError, match=message) as error:
        Predictor(path)
    assert "preprocessing.json" in str(error.value) or "model.onnx" in str(error.value)
    status, _, err = kerasseq("predict", str(path), "text")
    assert status == 1 and err.count("\n") == 1


@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(lstm_units=[256, 128]), "axis 1 is 256, but preprocessing.json lstm_units gives 128"),
    (lambda d: d.update(lstm_units=[256]), "must have inputs"),
    (lambda d: d["tokenizer"].update(chars=d["tokenizer"]["chars"][:-1]), "axis 2 is 70"),
    (lambda d: d["tokenizer"].update(chars=d["tokenizer"]["chars"][::-1]), "exported with vocabulary"),
    (lambda d: d["sampling"].update(temperature="hot"), "sampling.temperature"),
    (lambda d: d.update(lstm_units="256"), "field 'lstm_units'"),
])
def test_a_generation_bundle_that_does_not_match_its_model_fails_on_load(tmp_path, change, message):
    path = _copy(ALICE, tmp_path / "alice")
    _edit(path, change)
    with pytest.raises(BundleError, match=message):
        Generator(path)


def test_int8_model_is_checked_too(tmp_path):
    path = _copy(ARTIFACT, tmp_path / "b")
    shutil.copy(ARTIFACTS / "amazon-stacked-lstm" / bundle.ONNX_MODEL, path / bundle.INT8_MODEL)
    Predictor(path)  # the float model is fine
    with pytest.raises(BundleError, match="model.int8.onnx was exported with preset"):
        Predictor(path, int8=True)


# 7. CLI details.

def test_cli_rejects_bad_numbers_naming_the_option():
    for args, option in ((["train", "--epochs", "0"], "--epochs"), (["train", "--seed", "-1"], "--seed"),
                         (["serve", str(ARTIFACT), "--port", "70000"], "--port"),
                         (["serve", str(ARTIFACT), "--port", "0"], "--port"),
                         (["generate", str(ALICE), "--max-chars", "0"], "--max-chars")):
        status, _, err = kerasseq(*args)
        assert status == 2 and f"argument {option}: expected an integer" in err, (args, err)


def test_tiny_and_huge_temperatures_sample_without_nan():
    generator = Generator(ALICE)
    greedy = generator.generate("Alice ", max_chars=60, greedy=True)
    assert generator.generate("Alice ", max_chars=60, temperature=1e-310, seed=0) == greedy
    assert len(generator.generate("Alice ", max_chars=60, temperature=1e308, seed=0)) == 60
    status, out, err = kerasseq("generate", str(ALICE), "--prime", "Alice ", "--temperature", "1e-310",
                                "--max-chars", "60", "--seed", "0")
    assert status == 0 and out == "Alice " + greedy + "\n", err


def test_generate_streams_and_echoes_the_prime_the_model_read():
    process = subprocess.Popen([sys.executable, "-m", "kerasseq.cli", "generate", str(ALICE), "--max-chars",
                                "1000000000", "--seed", "0"], cwd=ROOT, stdout=subprocess.PIPE)
    try:
        head = process.stdout.read(400)  # arrives long before a billion characters exist
    finally:
        process.kill()
        process.wait()
    prime = Generator(ALICE).sampling["prime"].encode()
    assert head.startswith(prime) and len(head) == 400
    status, out, _ = kerasseq("generate", str(ALICE), "--prime", "Alice ☃ said", "--unknown", "replace",
                              "--max-chars", "5", "--seed", "0")
    assert status == 0 and out.startswith("Alice   said")  # the snowman became a space
    assert Generator(ALICE).prime_text("Alice ☃", unknown="drop") == "Alice "


def test_a_closed_pipe_ends_quietly():
    process = subprocess.Popen([sys.executable, "-m", "kerasseq.cli", "generate", str(ALICE), "--max-chars",
                                "100000"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.read(10)
    process.stdout.close()  # as `| head -c 10` does
    assert process.wait(timeout=120) == 141 and process.stderr.read() == b""


def test_errors_are_one_line_and_debug_shows_the_traceback(tmp_path):
    corrupt = _copy(ARTIFACT, tmp_path / "b")
    (corrupt / bundle.ONNX_MODEL).write_bytes((ARTIFACT / bundle.ONNX_MODEL).read_bytes()[:5000])
    status, _, err = kerasseq("predict", str(corrupt), "text")
    assert status == 1 and err.count("\n") == 1 and err.startswith("kerasseq predict: error: ")
    status, _, err = kerasseq("predict", str(corrupt), "text", "--debug")
    assert status == 1 and "Traceback (most recent call last)" in err and "BundleError" in err


def test_reexport_without_quantize_removes_the_stale_int8_model(tmp_path):
    path = _copy(ARTIFACT, tmp_path / "b")
    assert (path / bundle.INT8_MODEL).is_file()
    assert main(["export", str(path)]) == 0
    assert not (path / bundle.INT8_MODEL).exists()
    assert json.loads((path / bundle.EXPORT_REPORT).read_text())["removed_stale"] == [bundle.INT8_MODEL]
    with pytest.raises(FileNotFoundError, match="model.int8.onnx"):
        Predictor(path, int8=True)
    assert json.loads(Predictor(path).session.get_modelmeta().custom_metadata_map["labels"]) == \
        ["negative", "positive"] and Predictor(path).session.get_modelmeta().custom_metadata_map["vocab_size"] == "4000"


# 8. Forecast inputs outside their domain are rejected with the row and column named.

def _djia_with(row, column, value):
    lines = DJIA_300.read_text().splitlines()
    header = lines[0].split(",")
    cells = lines[row - 1].split(",")
    cells[header.index(column)] = value
    lines[row - 1] = ",".join(cells)
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("column, value, message", [
    ("Close", "-5", "is not a positive price"), ("Open", "0", "is not a positive price"),
    ("Volume", "-1", "is not a non-negative number"), ("High", "1e39", r"is above 1e\+15"),
])
def test_meaningless_prices_are_rejected(column, value, message):
    with pytest.raises(ValueError, match=f"row 7, column '{column}': .*{message}"):
        Forecaster(ARTIFACTS / "stock-lstm").forecast(_djia_with(7, column, value))


def test_negative_sales_are_rejected_and_a_bom_is_not_data(tmp_path):
    lines = SALES.read_text().splitlines()
    cells = lines[3].split(",")
    cells[1] = "-3"  # W0 of row 4
    lines[3] = ",".join(cells)
    with pytest.raises(ValueError, match="row 4, column 'W0': .*non-negative"):
        Forecaster(ARTIFACTS / "sales-simplernn").forecast("\n".join(lines) + "\n")
    forecaster = Forecaster(ARTIFACTS / "sales-simplernn")
    assert forecaster.forecast("\ufeff" + SALES.read_text()) == forecaster.forecast(SALES.read_text())
    path = tmp_path / "bad.csv"
    path.write_text(_djia_with(9, "Close", "1e39"))
    status, _, err = kerasseq("forecast", str(ARTIFACTS / "stock-lstm"), "--csv", str(path))
    assert status == 1 and err.count("\n") == 1 and "row 9, column 'Close'" in err  # no numpy warnings
