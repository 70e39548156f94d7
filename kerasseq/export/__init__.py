"""Export a bundle's Keras model to ONNX with tf2onnx, validated against Keras every time."""

from kerasseq.export.onnx_export import ExportValidationError, export_bundle

__all__ = ["ExportValidationError", "export_bundle"]
