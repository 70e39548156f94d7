"""Export Keras models to ONNX with tf2onnx and native recurrent nodes, validated against Keras every time."""

from kerasseq.export.keras_model import ExportResult, sample_inputs, to_onnx, validate
from kerasseq.export.onnx_export import ExportValidationError, export_bundle

__all__ = ["ExportResult", "ExportValidationError", "export_bundle", "sample_inputs", "to_onnx", "validate"]
