"""Conversion to TFLite and ONNX, quantization, and the fidelity check of every artefact."""
