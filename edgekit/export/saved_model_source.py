"""A TensorFlow SavedModel folder as the source of an export: its ``serving_default``
signature converted by the TFLite converter (``from_saved_model``) and by tf2onnx (the
signature traced as a function, opset pinned), each artefact compared with the signature
run in TensorFlow.

Inputs are the signature's input names in sorted order, outputs its output keys in sorted
order (a signature's outputs are a dict). An output is a classification when it is the
only one, shaped (N, C) with C >= 2, or when labels are given for it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit.core import interrupts
from edgekit.core.errors import ModelFileError, UsageError, first_line
from edgekit.export.multi_io import ModelIO, as_list, rows

SIGNATURE = "serving_default"
BATCH = 32


def is_saved_model(path: Path) -> bool:
    return Path(path).is_dir() and ((Path(path) / "saved_model.pb").is_file()
                                    or (Path(path) / "saved_model.pbtxt").is_file())


def load_saved_model(path: Path):
    """(the serving signature's function, its ModelIO, its weight count). One line for a
    folder without a serving signature or with open sizes. The function holds the loaded
    object (its variables live as long as it)."""
    from edgekit._tf import tf

    try:
        loaded = tf.saved_model.load(str(path))
    except Exception as e:   # TensorFlow's many error types
        raise ModelFileError(f"cannot load SavedModel {path}: {first_line(e)}") from e
    sigs = dict(loaded.signatures)
    if SIGNATURE not in sigs:
        raise UsageError(f"SavedModel {path} has no serving signature ({SIGNATURE!r}; it "
                         f"has {', '.join(sigs) or 'none'}): save it with one (model.export, "
                         "or tf.saved_model.save(..., signatures=...))")
    fn = sigs[SIGNATURE]
    specs = fn.structured_input_signature[1]
    if fn.structured_input_signature[0]:
        raise UsageError(f"SavedModel {path}: its serving signature takes positional "
                         "inputs; export needs named ones")
    names = sorted(specs)
    shapes = []
    for n in names:
        dims = specs[n].shape.as_list()
        if specs[n].dtype != tf.float32:
            raise UsageError(f"input {n!r} of {path} is {specs[n].dtype.name}: export "
                             "quantizes float models")
        if any(d is None for d in dims[1:]):
            raise UsageError(f"input {n!r} of SavedModel {path} has open dimensions "
                             f"{tuple(dims)}: a SavedModel source needs fixed sizes")
        shapes.append(tuple(int(d) for d in dims[1:]))
    outs = sorted(fn.structured_outputs)
    out_shapes = {k: fn.structured_outputs[k].shape.as_list() for k in outs}
    only = len(outs) == 1 and len(out_shapes[outs[0]]) == 2 and \
        (out_shapes[outs[0]][1] or 0) >= 2
    params = sum(int(np.prod(v.shape)) for v in loaded.variables)
    fn.edgekit_loaded = loaded      # the signature's variables die with the loaded object
    return fn, ModelIO(names, shapes, outs, [only] * len(outs)), int(params)


def saved_model_reference(fn, x, io: ModelIO) -> list[np.ndarray]:
    """The signature run in TensorFlow on ``x``, outputs in ``io``'s order."""
    from edgekit._tf import tf

    xs = as_list(x)
    parts: list[list] = [[] for _ in io.outputs]
    for i in range(0, rows(x), BATCH):
        got = fn(**{n: tf.constant(a[i:i + BATCH]) for n, a in zip(io.inputs, xs,
                                                                    strict=True)})
        for k, name in enumerate(io.outputs):
            parts[k].append(np.asarray(got[name], dtype=np.float32))
    return [np.concatenate(p) for p in parts]


def to_tflite(path: Path, quant: str, calib, io: ModelIO, io_type: str,
              keep: list[list[str]] | None = None) -> tuple[bytes, dict]:
    """The TFLite converter from the SavedModel's serving signature. ``keep`` (int8): ops
    left float, each by its output tensor names in the float file."""
    from edgekit._tf import tf
    from edgekit.export.converters import tflite_convert

    converter = tf.lite.TFLiteConverter.from_saved_model(str(path),
                                                         signature_keys=[SIGNATURE])

    def representative():
        xs = as_list(calib)
        for i in range(rows(calib)):
            yield {n: a[i:i + 1].astype(np.float32) for n, a in zip(io.inputs, xs,
                                                                    strict=True)}

    if quant == "int8" and keep:
        return _kept_float(converter, representative, rows(calib), io_type, keep)
    return tflite_convert(converter, quant, representative if calib is not None else None,
                          rows(calib) if calib is not None else 0, io_type)


def _kept_float(converter, representative, samples: int, io_type: str,
                keep: list[list[str]]) -> tuple[bytes, dict]:
    """Full int8 with the ``keep`` ops float: the converter calibrates only
    (``_experimental_calibrate_only``), then its MLIR quantizer quantizes with those ops'
    output tensors on its deny list (``denylisted_nodes``, the mechanism of
    ``tf.lite.experimental.QuantizationDebugOptions``)."""
    import warnings

    from tensorflow.lite.python import convert

    from edgekit._tf import tf
    from edgekit.core.quiet import quiet_stderr, quiet_stdout
    from edgekit.export.converters import conversion_failed

    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter._experimental_calibrate_only = True
    io = tf.int8 if io_type == "int8" else tf.float32
    try:
        with quiet_stdout(), quiet_stderr(), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            calibrated = converter.convert()
            content = convert.mlir_quantize(
                calibrated, disable_per_channel=False, fully_quantize=True,
                input_data_type=io, output_data_type=io,
                denylisted_nodes=sorted({n for names in keep for n in names}))
    except Exception as e:  # TF raises a zoo of types
        raise conversion_failed("tflite", "int8", e) from e
    interrupts.checkpoint()
    return content, {"scheme": "int8", "weights": "int8 per-channel",
                     "activations": "int8 per-tensor", "io": io_type,
                     "calibration_samples": samples}


def to_onnx(fn, io: ModelIO) -> bytes:
    """tf2onnx of the serving signature traced as a function (inputs and outputs keep the
    signature's names), at the pinned opset."""
    import tf2onnx

    from edgekit._tf import tf
    from edgekit.core.quiet import quiet_stderr, quiet_stdout
    from edgekit.export.converters import ONNX_OPSET, conversion_failed

    spec = [tf.TensorSpec((None, *s), tf.float32, name=n)
            for n, s in zip(io.inputs, io.shapes, strict=True)]

    def call(*xs):
        got = fn(**dict(zip(io.inputs, xs, strict=True)))
        return [tf.identity(got[k], name=k) for k in io.outputs]

    try:
        with quiet_stdout(), quiet_stderr():
            proto, _ = tf2onnx.convert.from_function(tf.function(call), input_signature=spec,
                                                     opset=ONNX_OPSET)
    except Exception as e:
        raise conversion_failed("onnx", "none", e) from e
    interrupts.checkpoint()
    for out, name in zip(proto.graph.output, io.outputs, strict=True):
        old, out.name = out.name, name
        for node in proto.graph.node:
            node.output[:] = [name if o == old else o for o in node.output]
            node.input[:] = [name if i == old else i for i in node.input]
    return proto.SerializeToString()
