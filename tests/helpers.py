"""Build small real bundles for tests (an untrained model with spread-out weights)."""

import numpy as np

from kerasseq import bundle
from kerasseq.models import build_model
from kerasseq.text import TextEncoder, Tokenizer


def make_bundle(path, spec, texts, labels=("negative", "positive"), preset="test", seed=0, model=None):
    """Write model.keras, preprocessing.json and samples.json for `spec` (or a given `model` that
    takes `spec`'s text settings) into `path`."""
    import keras

    keras.utils.set_random_seed(seed)
    model = model or build_model(spec)
    # Spread the embeddings (Keras initialises them in ±0.05) so that outputs move away from 0.5
    # and parity checks mean something; recurrent kernels keep their orthogonal initialisation.
    weights = model.get_weights()
    weights[0] = np.random.default_rng(seed).normal(0, 0.5, weights[0].shape).astype(weights[0].dtype)
    model.set_weights(weights)
    tokenizer = Tokenizer(num_words=spec.vocab_size, oov_token=spec.oov_token).fit_on_texts(texts)
    encoder = TextEncoder(tokenizer, spec.maxlen, spec.padding, spec.truncating)
    path.mkdir(parents=True, exist_ok=True)
    model.save(path / bundle.KERAS_MODEL)
    bundle.write_json(path / bundle.PREPROCESSING, bundle.preprocessing_dict(encoder, labels, preset, spec.vocab_size))
    bundle.write_json(path / bundle.SAMPLES, {"texts": list(texts[:256]), "labels": [0] * min(len(texts), 256)})
    return model, encoder
