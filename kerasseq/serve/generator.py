"""`Generator`: text from a char-generation bundle's ONNX step model, one character per call."""

import numpy as np

from kerasseq import bundle
from kerasseq.serve.providers import load_session
from kerasseq.serve.sampling import check_sampling, iter_ids
from kerasseq.serve.signature import check_generator


def state_names(units):
    """Names of the step model's state inputs for LSTM sizes `units`: h_0, c_0, h_1, c_1, ...
    (each output is the same name with the `next_` prefix)."""
    return [f"{kind}_{i}" for i in range(len(units)) for kind in ("h", "c")]


def state_sizes(units):
    """The size of each state in `state_names` order."""
    return [u for u in units for _ in "hc"]


def zero_states(units, batch=1):
    """Zero LSTM states, h and c per layer, each float32 [batch, units]."""
    return [np.zeros((batch, u), np.float32) for u in state_sizes(units)]


def session_step(session, units):
    """`step(ids, states) -> (logits, next states)` over an onnxruntime session of a step model."""
    names = state_names(units)
    outputs = [bundle.LOGITS_OUTPUT] + [bundle.NEXT_STATE_PREFIX + n for n in names]

    def step(ids, states):
        result = session.run(outputs, {bundle.CHAR_INPUT: np.asarray(ids, np.int32), **dict(zip(names, states))})
        return result[0], result[1:]

    return step


class Generator:
    """Generate text with onnxruntime over a char-generation bundle. Never imports TensorFlow.

    The prime runs through the model in one call; every new character is one call of one step
    that feeds the LSTM states back, so the prefix is never recomputed. It runs on the CPU by
    default: one character at a time is latency-bound, and a GPU launch per step would not pay.
    """

    def __init__(self, bundle_dir, providers=None, threads=None):
        self.bundle_dir = bundle_dir
        self.tokenizer, self.config = bundle.read_generation(bundle_dir)
        self.units = self.config["lstm_units"]
        self.sampling = self.config["sampling"]
        model_path = bundle.bundle_file(bundle_dir, bundle.ONNX_MODEL)
        self.session = load_session(model_path, providers or ["CPUExecutionProvider"], threads)
        check_generator(model_path, self.session, self.tokenizer, self.units, self.config.get("preset"))
        self._step = session_step(self.session, self.units)

    def initial_states(self, batch=1):
        """Zero LSTM states, h and c per layer, each float32 [batch, units]."""
        return zero_states(self.units, batch)

    def step(self, ids, states):
        """(logits [batch, steps, vocab], next states) for int32 ids [batch, steps] from `states`."""
        return self._step(ids, states)

    def prime_text(self, prime=None, unknown=None):
        """The prime as the model reads it: lower-cased for a lower-casing vocabulary, unknown
        characters replaced or dropped (`unknown`), default: the preset's prime."""
        return self.tokenizer.decode(self.tokenizer.encode(self._prime(prime), unknown=unknown))

    def _prime(self, prime):
        """`prime`, or the preset's when None; ValueError unless a non-empty string."""
        prime = self.sampling["prime"] if prime is None else prime
        if not isinstance(prime, str) or not prime:
            raise ValueError("prime must be a non-empty string: the model needs a character to start from")
        return prime

    def generate(self, prime=None, max_chars=300, temperature=None, top_k=None, greedy=False, stop_at=None,
                 seed=None, unknown=None):
        """The text generated after `prime` (the prime itself not included).

        Defaults (prime, temperature, top_k) come from the bundle's preset. `greedy=True` takes
        the most likely character each step; otherwise characters are drawn from
        softmax(logits / temperature) over the `top_k` most likely (a top_k above the vocabulary
        means all of it). Generation ends after `max_chars` characters, or right after `stop_at`
        is generated. `seed` makes a draw reproducible. Prime characters outside the vocabulary
        follow `unknown` ("error", "replace" by a space, "drop"; default: the bundle's, "error").
        """
        return "".join(self.stream(prime, max_chars, temperature, top_k, greedy, stop_at, seed, unknown))

    def stream(self, prime=None, max_chars=300, temperature=None, top_k=None, greedy=False, stop_at=None,
               seed=None, unknown=None):
        """`generate`, one character at a time as each is drawn (the arguments are checked first)."""
        temperature = self.sampling["temperature"] if temperature is None else temperature
        top_k = self.sampling["top_k"] if top_k is None else top_k
        top_k = check_sampling(max_chars, temperature, top_k, self.tokenizer.vocab_size)
        prime = self._prime(prime)
        prime_ids = self.tokenizer.encode(prime, unknown=unknown)
        if len(prime_ids) == 0:
            raise ValueError(f"prime {prime!r} has no character of the vocabulary left after dropping unknown ones")
        stop_id = None
        if stop_at is not None:
            if not isinstance(stop_at, str) or len(stop_at) != 1:
                raise ValueError(f"stop_at must be one character, got {stop_at!r}")
            stop_id = self.tokenizer.encode(stop_at)[0]
        ids = iter_ids(self.step, prime_ids, self.initial_states(), max_chars, temperature, top_k, greedy,
                       stop_id, seed)
        return (self.tokenizer.chars[i] for i in ids)
