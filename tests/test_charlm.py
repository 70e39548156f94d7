"""Character-level language models: tokenizer, training rows, sampling, training with resume,
the ONNX step model's parity with Keras, and generation without TensorFlow."""

import json
import subprocess
import sys

import numpy as np
import pytest

from kerasseq import bundle
from kerasseq.data import DATA_ENV, load_text, stream_rows, window_rows
from kerasseq.models import get_preset
from kerasseq.serve.sampling import check_sampling, generate_ids, next_id
from kerasseq.text import CharTokenizer
from tests.conftest import ROOT
from tests.test_serve import run_python

ALICE_ARTIFACT = ROOT / "artifacts" / "alice-char-lstm"
# Small enough for a few seconds an epoch on 2 cores, with the preset's scheme and layer count.
TINY_ALICE = dict(units=(32, 32), batch_size=20, steps=25, epochs=2)


# --- tokenizer ------------------------------------------------------------------------------


def test_char_tokenizer_round_trips_and_saves_as_json():
    tok = CharTokenizer.fit("hello, world\n")
    assert tok.chars == sorted(set("hello, world\n"))
    ids = tok.encode("world, hello")
    assert ids.dtype == np.int32 and tok.decode(ids) == "world, hello"
    again = CharTokenizer.from_dict(json.loads(json.dumps(tok.to_dict())))
    assert again.chars == tok.chars and np.array_equal(again.encode("hello"), tok.encode("hello"))


def test_char_tokenizer_unknown_policies():
    tok = CharTokenizer.fit("abc ")
    with pytest.raises(ValueError, match=r"'é' \(U\+00E9\)"):
        tok.encode("abé")
    assert tok.decode(tok.encode("abé", unknown="replace")) == "ab "
    assert tok.decode(tok.encode("abé", unknown="drop")) == "ab"
    lower = CharTokenizer.fit("The Emperor", lower=True)
    assert "T" not in lower.chars and lower.decode(lower.encode("THE")) == "the"
    with pytest.raises(ValueError, match="ids must lie in"):
        tok.decode([0, 9])
    with pytest.raises(ValueError, match="unknown must be one of"):
        CharTokenizer(["a"], unknown="ignore")
    with pytest.raises(ValueError, match="non-empty"):
        CharTokenizer.fit("")


# --- data -----------------------------------------------------------------------------------


def test_stream_rows_carry_each_stream_into_the_next_batch():
    ids = np.arange(1003)
    x, y = stream_rows(ids, streams=4, steps=5)
    n_batches = 1002 // 20
    assert x.shape == y.shape == (n_batches * 4, 5)
    assert np.array_equal(y, x + 1)  # targets one character ahead
    for b in range(n_batches - 1):
        for s in range(4):  # stream s resumes in row s of the next batch where it stopped
            assert x[(b + 1) * 4 + s, 0] == x[b * 4 + s, -1] + 1
    with pytest.raises(ValueError, match="fills no batch"):
        stream_rows(np.arange(20), streams=4, steps=5)


def test_window_rows_are_shifted_windows():
    x, y = window_rows(np.arange(100), steps=40)
    assert x.shape == (2, 40) and np.array_equal(x[:, 1:], y[:, :-1]) and x[1, 0] == 40
    x, _ = window_rows(np.arange(100), steps=10, stride=3)
    assert x[1, 0] == 3 and len(x) == 30
    with pytest.raises(ValueError, match="no window"):
        window_rows(np.arange(5), steps=10)


def test_texts_load_and_missing_ones_name_where_they_were_looked_for(tmp_path, monkeypatch):
    alice = load_text("alice")
    assert len(alice) == 145178 and alice.startswith("ALICE was beginning") and "\r" not in alice
    monkeypatch.delenv(DATA_ENV, raising=False)
    with pytest.raises(FileNotFoundError, match=r"warpeace/warpeace_input.txt.*--data-dir"):
        load_text("warpeace", data_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="text file not found"):
        load_text(tmp_path / "nope.txt")
    (tmp_path / "latin.txt").write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(ValueError, match="is not utf-8 text"):
        load_text(tmp_path / "latin.txt")


def test_char_presets_have_the_seeds_sizes():
    pytest.importorskip("keras")
    from kerasseq.models.charlm import build_char_lm, build_step_model

    alice, warpeace = get_preset("alice-char-lstm"), get_preset("warpeace-char-lstm")
    assert (alice.units, alice.embedding_dim, alice.batch_size, alice.steps) == ((256, 256), 0, 100, 50)
    assert (warpeace.units, warpeace.embedding_dim, warpeace.batch_size, warpeace.steps) == ((512,), 256, 64, 40)
    # one-hot 70 → LSTM(256) → LSTM(256) → Dense(70); Embedding(57, 256) → LSTM(512) → Dense(57)
    assert build_char_lm(alice, 70, stateful=True).count_params() == 334848 + 525312 + 17990
    assert build_step_model(warpeace, 57).count_params() == 14592 + 1574912 + 29241


# --- sampling -------------------------------------------------------------------------------


def test_sampling_draws_from_the_top_k_and_is_reproducible():
    logits = np.log(np.array([0.05, 0.4, 0.3, 0.2, 0.05]))
    assert next_id(logits, None, greedy=True) == 1
    assert next_id(logits, np.random.default_rng(0), top_k=1) == 1
    draws = [next_id(logits, np.random.default_rng(s), top_k=3) for s in range(300)]
    assert set(draws) == {1, 2, 3}
    cold = [next_id(logits, np.random.default_rng(s), temperature=0.05) for s in range(100)]
    assert cold.count(1) > 95

    def step(ids, states):  # a fixed "model": always the same logits
        return np.tile(logits, (1, ids.shape[1], 1)), states

    first = generate_ids(step, [0], [], 50, seed=7)
    assert first == generate_ids(step, [0], [], 50, seed=7) and len(first) == 50
    assert generate_ids(step, [0], [], 50, greedy=True, stop_id=1) == [1]


@pytest.mark.parametrize("args, message", [
    ((0, 1.0, None), "max_chars must be a positive int"),
    ((-5, 1.0, None), "max_chars must be a positive int"),
    ((10, 0.0, None), "temperature must be a number > 0"),
    ((10, -1.0, None), "temperature must be a number > 0"),
    ((10, float("nan"), None), "temperature must be a number > 0"),
    ((10, 1.0, 0), "top_k must be None or a positive int"),
])
def test_bad_sampling_arguments_are_named(args, message):
    with pytest.raises(ValueError, match=message):
        check_sampling(*args, vocab_size=70)


def test_top_k_above_the_vocabulary_means_all_of_it():
    assert check_sampling(10, 1.0, 1000, vocab_size=70) == 70


# --- training, export, generation -----------------------------------------------------------


class _Interrupt(Exception):
    pass


@pytest.fixture(scope="module")
def alice_bundle(tmp_path_factory):
    """A tiny Alice model trained for 3 epochs, interrupted after the 2nd and resumed, then exported."""
    keras = pytest.importorskip("keras")
    pytest.importorskip("tf2onnx")
    from kerasseq.export import export_bundle
    from kerasseq.train_charlm import train_char_lm

    class InterruptAfterSecondEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise _Interrupt()

    out = tmp_path_factory.mktemp("charlm") / "alice"
    spec = get_preset("alice-char-lstm").replace(**dict(TINY_ALICE, epochs=3))
    with pytest.raises(_Interrupt):
        train_char_lm("alice-char-lstm", out=out, spec=spec, verbose=0, extra_callbacks=[InterruptAfterSecondEpoch()])
    interrupted = {"bundle_exists": out.exists(), "checkpoint": sorted(p.name for p in
                                                                        (out.parent / "alice.checkpoint").iterdir())}
    with pytest.raises(ValueError, match="holds the checkpoint of another run"):
        train_char_lm("alice-char-lstm", out=out, spec=spec.replace(learning_rate=0.01), verbose=0)
    train_char_lm("alice-char-lstm", out=out, spec=spec, verbose=0)
    report = export_bundle(out)
    return out, report, interrupted


def test_training_resumes_after_an_interruption(alice_bundle):
    out, _, interrupted = alice_bundle
    assert not interrupted["bundle_exists"] and "backup" in interrupted["checkpoint"]
    metrics = bundle.read_json(out / bundle.METRICS)
    assert metrics["history"]["epoch"] == [1, 2, 3] and metrics["epochs_run"] == 3
    losses, val_losses = metrics["history"]["loss"], metrics["history"]["val_loss"]
    assert losses[2] < losses[0] and metrics["best_epoch"] == int(np.argmin(val_losses)) + 1
    assert metrics["val_loss"] == min(val_losses)
    assert not (out.parent / "alice.checkpoint").exists()  # removed once training completed
    for name in ("model.keras", "model.onnx", "loss.png", "MODEL_CARD.md", "preprocessing.json"):
        assert (out / name).is_file()


def test_step_model_exports_native_and_matches_keras(alice_bundle, capsys):
    from kerasseq.cli import main

    out, report, _ = alice_bundle
    assert main(["export", str(out)]) == 0  # again, from the command line
    assert "greedy 300 characters equal: True" in capsys.readouterr().out
    assert report["passed"] and report["recurrent_nodes"] == {"LSTM": 2} and report["loop_nodes"] == 0
    assert report["per_step_max_abs_diff"] <= 1e-4 and report["max_abs_diff"] <= 1e-4
    assert report["greedy_equal"] and len(report["greedy_sample"]) == 300


def test_generator_matches_keras_step_by_step_and_greedily(alice_bundle):
    from kerasseq.export.step_export import keras_step_fn
    from kerasseq.serve.generator import zero_states
    from kerasseq.models import load_model
    from kerasseq.serve import Generator

    out, _, _ = alice_bundle
    generator = Generator(out)
    model = load_model(out / bundle.KERAS_MODEL)
    text = generator.tokenizer.encode(load_text("alice")[5000:5150])[None, :]
    want, _ = keras_step_fn(model)(text, zero_states(generator.units))
    states, worst = generator.initial_states(), 0.0
    for t in range(text.shape[1]):  # one onnxruntime call per character, states fed back
        logits, states = generator.step(text[:, t:t + 1], states)
        worst = max(worst, float(np.abs(logits[0, 0] - want[0, t]).max()))
    assert worst <= 1e-4
    prime = "So she was considering in her own mind "
    keras_ids = generate_ids(keras_step_fn(model), generator.tokenizer.encode(prime), zero_states(generator.units),
                             300, greedy=True)
    assert generator.generate(prime, max_chars=300, greedy=True) == generator.tokenizer.decode(keras_ids)


def test_generation_options_and_bad_input(alice_bundle):
    from kerasseq.serve import Generator

    generator = Generator(alice_bundle[0])
    a = generator.generate("Alice ", max_chars=40, seed=3)
    assert a == generator.generate("Alice ", max_chars=40, seed=3) and len(a) == 40
    assert generator.generate("Alice ", max_chars=40, top_k=1000, seed=3)  # top_k above the vocabulary: all
    stopped = generator.generate("Alice ", max_chars=500, stop_at=" ", seed=1)
    assert stopped.endswith(" ") and " " not in stopped[:-1]
    with pytest.raises(ValueError, match="prime must be a non-empty string"):
        generator.generate("", max_chars=5)
    with pytest.raises(ValueError, match="not in the 70-character vocabulary"):
        generator.generate("Alice ☃", max_chars=5)
    assert len(generator.generate("Alice ☃", max_chars=5, unknown="replace")) == 5
    with pytest.raises(ValueError, match="no character of the vocabulary"):
        generator.generate("☃☃", max_chars=5, unknown="drop")
    with pytest.raises(ValueError, match="max_chars"):
        generator.generate("Alice", max_chars=0)
    with pytest.raises(ValueError, match="temperature"):
        generator.generate("Alice", temperature=0)
    with pytest.raises(ValueError, match="stop_at must be one character"):
        generator.generate("Alice", stop_at="..")


def test_window_scheme_trains_a_lower_cased_model(tmp_path):
    pytest.importorskip("keras")
    from kerasseq.train_charlm import train_char_lm

    source = tmp_path / "book.txt"
    source.write_text(load_text("alice")[:20000], encoding="utf-8")
    spec = get_preset("warpeace-char-lstm").replace(units=(16,), embedding_dim=8, steps=20, batch_size=32, epochs=1)
    out = train_char_lm("warpeace-char-lstm", text=str(source), out=tmp_path / "wp", spec=spec, verbose=0)
    tokenizer, config = bundle.read_generation(out)
    assert tokenizer.lower and "A" not in tokenizer.chars and config["sampling"]["prime"] == "the emperor"
    metrics = bundle.read_json(out / bundle.METRICS)
    assert metrics["rows"]["train_characters"] == (19000 - 1) // 20 * 20 and metrics["text"] == "book.txt"


def test_generate_cli_runs_without_tensorflow(alice_bundle):
    out = alice_bundle[0]
    result = run_python(f"""
        from kerasseq.cli import main
        code = main(["generate", {str(out)!r}, "--prime", "Alice was ", "--max-chars", "60", "--seed", "1"])
        assert code == 0
        code = main(["generate", {str(out)!r}, "--temperature", "0"])
        assert code == 1
        assert not any(m.split(".")[0] in ("tensorflow", "keras") for m in sys.modules)
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Alice was ") and len(result.stdout.rstrip("\n")) == len("Alice was ") + 60
    assert "error: temperature must be a number > 0" in result.stderr
    wrong = subprocess.run([sys.executable, "-m", "kerasseq.cli", "predict", str(out), "hello"],
                           capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert wrong.returncode == 1 and "char-generation bundle" in wrong.stderr and "kerasseq generate" in wrong.stderr


@pytest.mark.parametrize("artifact", [ALICE_ARTIFACT, ROOT / "artifacts" / "warpeace-char-lstm"], ids=lambda p: p.name)
def test_committed_generation_bundles_generate_without_tensorflow(artifact):
    result = run_python(f"""
        from kerasseq.serve import Generator
        g = Generator({str(artifact)!r})
        print(g.generate(max_chars=200, seed=0))
        assert not any(m.split(".")[0] in ("tensorflow", "keras") for m in sys.modules)
    """)
    assert result.returncode == 0, result.stderr
    words = result.stdout.split()
    report = bundle.read_json(artifact / bundle.EXPORT_REPORT)
    assert report["passed"] and report["greedy_equal"] and len(words) > 20


def test_train_cli_names_a_missing_text_and_stats_refuses_char_presets(tmp_path, capsys):
    from kerasseq.cli import main

    assert main(["train", "--preset", "alice-char-lstm", "--data", str(tmp_path / "nope.txt"),
                 "--out", str(tmp_path / "out")]) == 1
    assert f"text file not found: {tmp_path / 'nope.txt'}" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    assert main(["stats", "--preset", "alice-char-lstm"]) == 1
    assert "is a character language model" in capsys.readouterr().err
