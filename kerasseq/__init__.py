"""kerasseq: recurrent sequence models on Keras 3, exported with tf2onnx, served with onnxruntime.

Importing the package is cheap: TensorFlow and Keras load only when a training or export
function is called. `kerasseq.text` and `kerasseq.serve` never import them.
"""

__version__ = "0.1.0"
