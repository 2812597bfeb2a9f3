"""Keras -> .tflite (TFLiteConverter) and Keras -> .onnx (tf2onnx + onnxruntime's quantizer).

Each converter returns the bytes of the artefact and a dict of quantization details for the
manifest; writing files is the pipeline's job (atomically).
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Callable
from contextlib import contextmanager, nullcontext

import numpy as np

from edgekit.core import interrupts
from edgekit.core.errors import EdgekitError, first_line
from edgekit.core.files import temp_folder
from edgekit.core.quiet import quiet_stderr, quiet_stdout
from edgekit.export.multi_io import as_list, rows

ONNX_OPSET = 17          # pinned: tf2onnx 1.17 is tested up to 18; 17 runs everywhere


class ConversionError(EdgekitError):
    pass


def conversion_failed(fmt: str, quant: str, e: Exception):
    """The error for a failed conversion; or the interrupt, when a signal arrived during it
    (TensorFlow and tf2onnx turn a KeyboardInterrupt into errors of their own)."""
    interrupts.checkpoint()
    return ConversionError(f"{fmt} {quant} conversion failed: {first_line(e)[:300]}")


# ---- TFLite -------------------------------------------------------------------------------

def to_tflite(model, quant: str, calib: np.ndarray | None = None,
              io: str = "int8") -> tuple[bytes, dict]:
    from edgekit._tf import tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    representative = representative_dataset(model, calib) if quant == "int8" else None
    return tflite_convert(converter, quant, representative,
                          rows(calib) if calib is not None else 0, io)


def tflite_convert(converter, quant: str, representative, samples: int,
                   io: str = "int8") -> tuple[bytes, dict]:
    """Run a TFLite converter (of a Keras model or a SavedModel) at ``quant``; int8
    calibrates on ``representative`` (``samples`` of them)."""
    from edgekit._tf import tf

    details: dict = {"scheme": quant}
    if quant == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
        details["weights"] = "float16"
    elif quant == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        details["weights"] = "int8 (dynamic-range: activations quantized at run time)"
    elif quant == "int8":
        assert representative is not None
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if io == "int8":
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
        details.update(weights="int8 per-channel", activations="int8 per-tensor",
                       io=io, calibration_samples=samples)
    try:
        with quiet_stdout(), quiet_stderr(), warnings.catch_warnings():
            # "Statistics for quantized inputs were expected": harmless for int8 I/O
            warnings.simplefilter("ignore", UserWarning)
            content = converter.convert()
    except Exception as e:  # TF raises a zoo of types (an interrupt wrapped among them)
        raise conversion_failed("tflite", quant, e) from e
    interrupts.checkpoint()        # an interrupt TensorFlow swallowed
    return content, details


def representative_dataset(model, calib):
    """The TFLite converter's calibration samples, one row at a time: a list of one array,
    or (several inputs) a dict by Keras input name, which the converter keeps as the
    signature's input names."""
    names = [t.name for t in model.inputs]

    def representative():
        for i in range(rows(calib)):
            if isinstance(calib, np.ndarray):
                yield [calib[i:i + 1].astype(np.float32)]
            else:
                yield {n: a[i:i + 1].astype(np.float32)
                       for n, a in zip(names, calib, strict=True)}

    return representative


# ---- ONNX ---------------------------------------------------------------------------------

# Keras' TensorFlow convolution, which the ONNX export of grouped convolutions replaces
PATCHED_CONV = ("keras.src.backend.tensorflow.nn", "conv")


def has_grouped_conv(model) -> bool:
    """Does the model (or a model nested in it) have a convolution with groups > 1?"""
    for layer in model.layers:
        if getattr(layer, "groups", 1) > 1 or (
                hasattr(layer, "layers") and layer.layers and has_grouped_conv(layer)):
            return True
    return False


@contextmanager
def plain_grouped_convs():
    """Keras 3 runs a grouped Conv2D on the CPU through an XLA-compiled tf.function, which
    tf2onnx 1.17 leaves as an unconvertible StatefulPartitionedCall. TensorFlow itself
    handles grouped convolutions in a plain graph, so while tf2onnx traces, 2-D grouped
    convolutions are emitted as plain ``tf.nn.convolution`` (ONNX Conv with ``group``);
    everything else goes to Keras' own implementation. Applied only to models that have a
    grouped convolution; if Keras moved the function, the export fails with one line."""
    import importlib

    import keras

    from edgekit._tf import tf

    module, name = PATCHED_CONV
    try:
        tf_nn = importlib.import_module(module)
        original = getattr(tf_nn, name)
    except (ImportError, AttributeError) as e:
        raise ConversionError(
            f"onnx export of grouped convolutions needs {module}.{name}, which Keras "
            f"{keras.__version__} does not have ({first_line(e)}); edgekit supports Keras "
            "3.10 to 3.x: install a Keras in that range") from e

    def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
        grouped = len(inputs.shape) == 4 and inputs.shape[-1] != kernel.shape[-2]
        if not grouped or data_format == "channels_first":
            return original(inputs, kernel, strides, padding, data_format, dilation_rate)
        return tf.nn.convolution(inputs, kernel, strides, padding.upper(), data_format="NHWC",
                                 dilations=dilation_rate)

    setattr(tf_nn, name, conv)
    try:
        yield
    finally:
        setattr(tf_nn, name, original)


def to_onnx_float(model) -> bytes:
    import tf2onnx

    from edgekit._tf import tf

    spec = tuple(tf.TensorSpec((None, *t.shape[1:]), tf.float32, name=f"input_{i}")
                 for i, t in enumerate(model.inputs))
    try:
        patch = plain_grouped_convs() if has_grouped_conv(model) else nullcontext()
        with quiet_stdout(), quiet_stderr(), patch:
            if _is_sequential(model):
                proto = _from_call(model, spec)
            else:
                proto, _ = tf2onnx.convert.from_keras(model, input_signature=spec,
                                                      opset=ONNX_OPSET)
    except ConversionError:
        raise
    except Exception as e:
        raise conversion_failed("onnx", "none", e) from e
    # Ctrl-C during the conversion can land in a finalizer or a broad except of tf2onnx's
    # and be dropped: it was remembered, and stops the export here
    interrupts.checkpoint()
    return proto.SerializeToString()


def _is_sequential(model) -> bool:
    import keras

    return isinstance(model, keras.Sequential)


def _from_call(model, spec):
    """A Sequential model through a traced call: tf2onnx 1.17's from_keras looks up the
    Keras 3 output tensor ('keras_tensor_5') among the traced function's outputs, which a
    Sequential model names otherwise, and fails with a KeyError. The graph is the same;
    the outputs get the names from_keras gives a functional model's: their layers'."""
    import tf2onnx

    from edgekit._tf import tf

    def call(*x):
        return model(x[0] if len(x) == 1 else list(x), training=False)

    proto, _ = tf2onnx.convert.from_function(tf.function(call), input_signature=spec,
                                             opset=ONNX_OPSET)
    for out, name in zip(proto.graph.output, [model.layers[-1].name], strict=False):
        old, out.name = out.name, name
        for node in proto.graph.node:
            node.output[:] = [name if o == old else o for o in node.output]
            node.input[:] = [name if i == old else i for i in node.input]
    return proto


class _Reader:
    """onnxruntime CalibrationDataReader over numpy arrays (one per input, in the graph's
    order), one sample at a time."""

    def __init__(self, names: list[str], x):
        self.names, self.x, self.i = names, [a.astype(np.float32) for a in as_list(x)], 0

    def get_next(self):
        if self.i >= len(self.x[0]):
            return None
        self.i += 1
        return {n: a[self.i - 1:self.i] for n, a in zip(self.names, self.x, strict=True)}

    def rewind(self):
        self.i = 0


def _loads(path) -> bool:
    """Does onnxruntime accept the model file?"""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    try:
        with quiet_stderr():
            ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    except Exception:   # onnxruntime's own exception classes
        return False
    return True


def pre_process(src, dst, optimize: bool = True) -> None:
    """onnxruntime's quant_pre_process (shape inference, graph optimisation), with its
    symbolic shape inference where it completes: it stops ("Incomplete symbolic shape
    inference", an AssertionError on a Concat of shapes) on graphs (a Concat of a flattened
    tensor with a second input; paddle2onnx's shape arithmetic) where onnx's own shape
    inference is enough for the quantizer."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    # Where its symbolic inference stops, onnxruntime saves the half-inferred model as
    # sym_shape_infer_temp.onnx plus a <uuid>.data file into the working folder: it runs
    # in a temporary folder of its own, gone afterwards (the paths are made absolute first).
    src, dst = os.path.abspath(src), os.path.abspath(dst)
    with temp_folder("edgekit-preprocess-") as scratch, contextlib.chdir(scratch):
        try:
            with quiet_stderr(), quiet_stdout():
                quant_pre_process(src, dst, skip_symbolic_shape=False,
                                  skip_optimization=not optimize)
        except Exception:   # its symbolic inference stops on graphs onnx's inference reads
            interrupts.checkpoint()
            with quiet_stderr(), quiet_stdout():
                quant_pre_process(src, dst, skip_symbolic_shape=True,
                                  skip_optimization=not optimize)


def _quantize_static(model, src, pre, dst, calib, method: str, keep_float) -> None:
    """onnxruntime's static QDQ quantization of ``src`` into ``dst`` (``pre``: the
    pre-processed model), per-channel symmetric int8 weights, int8 activations."""
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    stored = {t.name for t in model.graph.initializer}
    input_names = [i.name for i in model.graph.input if i.name not in stored]
    cm = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
          "percentile": CalibrationMethod.Percentile}[method]
    # onnxruntime's graph optimisation in the pre-processing can fuse a Conv and an Add
    # into a reshaped bias that the quantizer then makes into a model onnxruntime refuses
    # (paddle2onnx's Constant-node weights): then without it
    for optimize in (True, False):
        pre_process(src, pre, optimize)
        exclude = keep_float(onnx_load(pre)) if keep_float is not None else []
        with quiet_stderr(), quiet_stdout():
            quantize_static(pre, dst, _Reader(input_names, calib), nodes_to_exclude=exclude,
                            quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                            calibrate_method=cm,
                            extra_options={"ActivationSymmetric": False,
                                           "WeightSymmetric": True})
        if not optimize or _loads(dst):
            return


def preprocessed_onnx(float_model: bytes) -> bytes:
    """The float model as the static quantizer sees it (after :func:`pre_process`): the
    graph whose ops a QDQ file keeps, between its (de)quantize ops."""
    import onnx

    with temp_folder(prefix="edgekit-onnx-") as tmp:
        onnx.save(onnx.load_from_string(float_model), tmp / "f.onnx")
        pre_process(tmp / "f.onnx", tmp / "pre.onnx")
        return (tmp / "pre.onnx").read_bytes()   # not a user file: in temp_folder


def onnx_load(path):
    import onnx

    return onnx.load(str(path))


def quantize_onnx(float_model: bytes, quant: str, calib: np.ndarray | None = None,
                  method: str = "minmax", keep_float: Callable | None = None
                  ) -> tuple[bytes, dict]:
    """fp16 / dynamic int8 / static QDQ int8 from a float ONNX model. ``keep_float``: given
    the pre-processed model, the names of the nodes that stay float (static int8 only)."""
    import onnx

    model = onnx.load_from_string(float_model)
    details: dict = {"scheme": quant, "opset": ONNX_OPSET}
    try:
        if quant == "none":
            return float_model, details
        if quant == "fp16":
            from onnxruntime.transformers.float16 import convert_float_to_float16

            with quiet_stderr():
                half = convert_float_to_float16(model, keep_io_types=True)
            details.update(weights="float16", io="float32")
            return half.SerializeToString(), details
        with temp_folder(prefix="edgekit-onnx-") as tmp:
            src, pre, dst = (tmp / n for n in ("f.onnx", "pre.onnx", "q.onnx"))
            onnx.save(model, src)
            if quant == "dynamic":
                from onnxruntime.quantization import QuantType, quantize_dynamic

                with quiet_stderr():
                    quantize_dynamic(src, dst, weight_type=QuantType.QInt8, per_channel=False)
                details.update(weights="int8 per-tensor (dynamic: activations at run time)")
                return dst.read_bytes(), details   # not a user file: in temp_folder
            assert calib is not None
            _quantize_static(model, src, pre, dst, calib, method, keep_float)
            details.update(format="QDQ", weights="int8 per-channel (symmetric)",
                           activations="int8 per-tensor", calibration_method=method,
                           calibration_samples=rows(calib), io="float32")
            return dst.read_bytes(), details   # not a user file: in temp_folder
    except ConversionError:
        raise
    except Exception as e:
        raise conversion_failed("onnx", quant, e) from e


def convert(model, fmt: str, quant: str, calib: np.ndarray | None, io: str, method: str,
            onnx_float: Callable[[], bytes]) -> tuple[bytes, dict]:
    """One artefact. ``onnx_float`` gives the (cached) float ONNX model."""
    if fmt == "tflite":
        return to_tflite(model, quant, calib, io)
    return quantize_onnx(onnx_float(), quant, calib, method)
