"""`Predictor`: raw text in, label and score out, with onnxruntime over a bundle directory."""

import numpy as np

from kerasseq import bundle
from kerasseq.serve.providers import default_providers


class Predictor:
    """Serve a bundle's `model.onnx` with the exact preprocessing it was trained with.

    `providers` defaults to CUDA (only when it really loads) then CPU; `int8=True` serves the
    quantized `model.int8.onnx` written by `kerasseq export --quantize int8`. Never imports TensorFlow.
    An empty string is a valid text: it encodes to an all-padding row and gets the model's
    answer for "no words" (a defined, deterministic result).
    """

    def __init__(self, bundle_dir, providers=None, int8=False):
        import onnxruntime as ort

        self.bundle_dir = bundle_dir
        self.encoder, self.labels, self.preprocessing = bundle.read_preprocessing(bundle_dir)
        self.vocab_size = self.preprocessing["vocab_size"]
        model_path = bundle.bundle_file(bundle_dir, bundle.INT8_MODEL if int8 else bundle.ONNX_MODEL)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(model_path), options,
                                                providers=providers or default_providers())
        except Exception as e:  # onnxruntime raises its own exception types for corrupt files
            raise bundle.BundleError(f"{model_path} could not be loaded by onnxruntime: {e}") from None
        inputs = [i.name for i in self.session.get_inputs()]
        outputs = [o.name for o in self.session.get_outputs()]
        if bundle.ONNX_INPUT not in inputs or bundle.ONNX_OUTPUT not in outputs:
            raise bundle.BundleError(f"{model_path} must have input '{bundle.ONNX_INPUT}' and output "
                                     f"'{bundle.ONNX_OUTPUT}', has inputs {inputs} and outputs {outputs}")

    @property
    def providers(self):
        return self.session.get_providers()

    def encode(self, texts):
        """The int32 id matrix for `texts` (a str or a list of str), as in training."""
        return self.encoder.encode(_text_list(texts))

    def predict_ids(self, ids):
        """Probabilities [n, classes] for an int matrix of token ids [n, sequence]."""
        ids = np.asarray(ids)
        if ids.dtype.kind not in "iu":
            raise ValueError(f"ids must hold integers, got dtype {ids.dtype}")
        if ids.ndim != 2 or ids.shape[1] < 1:
            raise ValueError(f"ids must have shape [batch, sequence] with sequence >= 1, got {ids.shape}")
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise ValueError(f"ids must lie in [0, {self.vocab_size}), got values from "
                             f"{ids.min()} to {ids.max()}")
        if not len(ids):
            return np.zeros((0, len(self.labels)), np.float32)
        return self.session.run([bundle.ONNX_OUTPUT], {bundle.ONNX_INPUT: ids.astype(np.int32)})[0]

    def predict_proba(self, texts):
        """Probabilities [n, classes] for raw texts (a str counts as one text)."""
        return self.predict_ids(self.encode(texts))

    def predict(self, texts):
        """One {"label", "score"} per text; `score` is the probability of `label`."""
        probabilities = self.predict_proba(texts)
        best = probabilities.argmax(axis=1)
        return [{"label": self.labels[i], "score": float(p[i])} for i, p in zip(best, probabilities)]


def _text_list(texts):
    if isinstance(texts, str):
        return [texts]
    if isinstance(texts, (list, tuple)):
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"texts[{i}] must be a str, got {type(text).__name__}")
        return list(texts)
    raise TypeError(f"texts must be a str or a list of str, got {type(texts).__name__}")
