"""`Predictor`: raw text in, label and score out, with onnxruntime over a bundle directory."""

import numpy as np

from kerasseq import bundle
from kerasseq.serve.providers import default_providers, load_session
from kerasseq.serve.signature import check_classifier

BATCH_SIZE = 256  # texts encoded and run per onnxruntime call: memory stays bounded for any number of texts


class Predictor:
    """Serve a bundle's `model.onnx` with the exact preprocessing it was trained with.

    `providers` defaults to CUDA (only when it really loads) then CPU; `int8=True` serves the
    quantized `model.int8.onnx` written by `kerasseq export --quantize int8`. Never imports TensorFlow.
    A model with attention pooling also answers `explain` (which tokens the prediction weighed).
    An empty string is a valid text: it encodes to an all-padding row and gets the model's
    answer for "no words" (a defined, deterministic result). Texts are encoded and run `batch_size`
    at a time, so memory stays bounded however many are given.
    """

    def __init__(self, bundle_dir, providers=None, int8=False, threads=None, batch_size=BATCH_SIZE):
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self.bundle_dir = bundle_dir
        self.batch_size = batch_size
        self.encoder, self.labels, self.preprocessing = bundle.read_preprocessing(bundle_dir)
        self.vocab_size = self.preprocessing["vocab_size"]
        model_path = bundle.bundle_file(bundle_dir, bundle.INT8_MODEL if int8 else bundle.ONNX_MODEL)
        self.session = load_session(model_path, providers or default_providers(), threads)
        check_classifier(model_path, self.session, self.preprocessing, self.encoder.maxlen)
        self.has_attention = bundle.ATTENTION_OUTPUT in [o.name for o in self.session.get_outputs()]

    @property
    def providers(self):
        return self.session.get_providers()

    def encode(self, texts):
        """The int32 id matrix for `texts` (a str or a list of str), as in training."""
        return self.encoder.encode(_text_list(texts))

    def predict_ids(self, ids, return_weights=False):
        """Probabilities [n, classes] for an int matrix of token ids [n, sequence]; with
        `return_weights=True` also the attention weights [n, sequence] (attention models only)."""
        ids = np.asarray(ids)
        if ids.dtype.kind not in "iu":
            raise ValueError(f"ids must hold integers, got dtype {ids.dtype}")
        if ids.ndim != 2 or ids.shape[1] < 1:
            raise ValueError(f"ids must have shape [batch, sequence] with sequence >= 1, got {ids.shape}")
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise ValueError(f"ids must lie in [0, {self.vocab_size}), got values from "
                             f"{ids.min()} to {ids.max()}")
        names = [bundle.ONNX_OUTPUT]
        if return_weights:
            if not self.has_attention:
                raise bundle.BundleError(f"{self.bundle_dir} has no '{bundle.ATTENTION_OUTPUT}' output: its model "
                                         "has no attention layer (use a preset with pooling='attention')")
            names.append(bundle.ATTENTION_OUTPUT)
        if not len(ids):
            empty = [np.zeros((0, len(self.labels)), np.float32), np.zeros((0, ids.shape[1]), np.float32)]
            return tuple(empty) if return_weights else empty[0]
        ids = ids.astype(np.int32, copy=False)
        chunks = [self.session.run(names, {bundle.ONNX_INPUT: ids[i:i + self.batch_size]})
                  for i in range(0, len(ids), self.batch_size)]
        outputs = [np.concatenate([c[k] for c in chunks]) if len(chunks) > 1 else chunks[0][k]
                   for k in range(len(names))]
        return tuple(outputs) if return_weights else outputs[0]

    def predict_proba(self, texts):
        """Probabilities [n, classes] for raw texts (a str counts as one text)."""
        texts = _text_list(texts)
        if len(texts) <= self.batch_size:
            return self.predict_ids(self.encode(texts))
        return np.concatenate([self.predict_ids(self.encode(texts[i:i + self.batch_size]))
                               for i in range(0, len(texts), self.batch_size)])

    def predict(self, texts):
        """One {"label", "score"} per text; `score` is the probability of `label`."""
        probabilities = self.predict_proba(texts)
        best = probabilities.argmax(axis=1)
        return [{"label": self.labels[i], "score": float(p[i])} for i, p in zip(best, probabilities)]

    def explain(self, texts, top=10):
        """Label, score and attention weights per text, on the tokens the model saw.

        Each result holds "tokens" (the normalized words in the model's window, padding left out),
        their "weights" (summing to 1; a text with no tokens, such as "", has none) and "top",
        the `top` heaviest (token, weight) pairs, heaviest first.
        """
        texts = _text_list(texts)
        if not isinstance(top, int) or isinstance(top, bool) or top < 1:
            raise ValueError(f"top must be a positive int, got {top!r}")
        if len(texts) > self.batch_size:
            return [r for i in range(0, len(texts), self.batch_size)
                    for r in self.explain(texts[i:i + self.batch_size], top)]
        normalized = self.encoder.normalize(texts)  # once for both the ids and the tokens
        ids = self.encoder.encode(normalized, normalized=True)
        probabilities, weights = self.predict_ids(ids, return_weights=True)
        results = []
        for p, w, row in zip(probabilities, weights, self.encoder.tokens(normalized, normalized=True)):
            seen = [i for i, token in enumerate(row) if token is not None]
            tokens, token_weights = [row[i] for i in seen], [float(w[i]) for i in seen]
            order = sorted(range(len(tokens)), key=lambda k: -token_weights[k])[:top]
            best = int(p.argmax())
            results.append({"label": self.labels[best], "score": float(p[best]), "tokens": tokens,
                            "weights": token_weights, "top": [(tokens[k], token_weights[k]) for k in order]})
        return results


def _text_list(texts):
    if isinstance(texts, str):
        return [texts]
    if isinstance(texts, (list, tuple)):
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"texts[{i}] must be a str, got {type(text).__name__}")
        return list(texts)
    raise TypeError(f"texts must be a str or a list of str, got {type(texts).__name__}")
