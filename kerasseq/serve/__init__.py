"""Serving with onnxruntime. Never imports TensorFlow or Keras."""

from kerasseq.bundle import BundleError
from kerasseq.serve.forecaster import Forecaster
from kerasseq.serve.generator import Generator
from kerasseq.serve.predictor import Predictor
from kerasseq.serve.providers import cuda_usable, default_providers

__all__ = ["BundleError", "Forecaster", "Generator", "Predictor", "cuda_usable", "default_providers"]
