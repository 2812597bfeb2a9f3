"""Running models on real runtimes. Runners for .tflite and .onnx import neither TensorFlow
nor tf2onnx, so they work on a board that has only LiteRT or onnxruntime."""
