"""A float ONNX file (from torch.onnx, tf2onnx, paddle2onnx...) as the source of an export:
its inputs and outputs read from the graph, dimensions the file leaves open (other than
the batch) fixed by ``--input-shape``, and the file itself as the float original that
every artefact is compared with, in onnxruntime. The artefacts are made by onnxruntime's
quantization (:func:`edgekit.export.converters.quantize_onnx`).

An output is a classification (top-1 agreement is a figure of it) when a Softmax or
LogSoftmax makes it (through reshapes and casts), or when it is the file's only output and
has the shape (N, C) with C >= 2: a classifier's logits.
"""

from __future__ import annotations

import re
from pathlib import Path

from edgekit.core.errors import EdgekitError, ModelFileError, UsageError, first_line
from edgekit.export.multi_io import ModelIO

QUANTIZED_OPS = {"QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul",
                 "ConvInteger", "MatMulInteger", "DynamicQuantizeLinear"}
PASS = {"Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Cast"}
SOFTMAX = {"Softmax", "LogSoftmax"}
FLOAT = 1   # onnx.TensorProto.FLOAT


def _dims(value) -> list:
    """A value's dimensions: an int where the file fixes it, else its name (or None)."""
    out = []
    for d in value.type.tensor_type.shape.dim:
        out.append(d.dim_value if d.HasField("dim_value") else (d.dim_param or None))
    return out


def _bind(name: str, dims: list, spec, label: str) -> list:
    """The input's dimensions with those the file leaves open (after the batch) taken
    from ``spec`` (--input-shape, batch first); one line when one stays open."""
    if spec is not None:
        given = list(spec.dims)
        if len(given) != len(dims):
            raise UsageError(f"--input-shape {spec}: input {name!r} of {label} has "
                             f"{len(dims)} dimensions {_show(dims)}")
        for pos, (d, g) in enumerate(zip(dims, given, strict=True)):
            if pos and isinstance(d, int) and d > 0 and d != g:
                raise UsageError(f"--input-shape {spec}: input {name!r} of {label} fixes "
                                 f"size {d} at position {pos}")
        return [dims[0], *given[1:]]
    open_dims = [pos for pos, d in enumerate(dims) if pos and not (isinstance(d, int) and d > 0)]
    if open_dims:
        example = "x".join("1" if pos == 0 else str(d) if isinstance(d, int) and d > 0
                           else "N" for pos, d in enumerate(dims))
        raise UsageError(f"input {name!r} of {label} has open dimensions {_show(dims)}: give "
                         f"its shape, e.g. --input-shape {name}:{example} (N: the sizes your "
                         "data has)")
    return dims


def _show(dims: list) -> str:
    return "(" + ", ".join(str(d) if isinstance(d, int) and d > 0 else "?" for d in dims) \
        + ")"


def _classification(model, out_name: str, only: bool, dims: list) -> bool:
    made_by = {o: n for n in model.graph.node for o in n.output}
    t, seen = out_name, 0
    while t in made_by and seen < 8:
        node = made_by[t]
        if node.op_type in SOFTMAX:
            return True
        if node.op_type not in PASS or not node.input:
            break
        t, seen = node.input[0], seen + 1
    return only and len(dims) == 2 and isinstance(dims[1], int) and dims[1] >= 2


def load_float_onnx(model, path: Path, shapes) -> tuple[bytes, ModelIO]:
    """(the float model's bytes, with its open dimensions fixed; its inputs and outputs)
    of ``model``, the user's file ``path`` as the one ONNX loader read it
    (``readers.onnx_file.load_onnx(path, whole=True)``, called by the service: the file
    and all its external data read through the one reader, registered as inputs of the
    command, bounded, checked, a cycle refused naming ``path``). One line for a file that
    is not a float model, or whose sizes are not known."""
    import onnx

    label = str(path)
    quantized = sorted({n.op_type for n in model.graph.node} & QUANTIZED_OPS)
    if quantized:
        raise UsageError(f"{path} is already quantized ({', '.join(quantized)}): export "
                         "takes a float ONNX model")
    stored = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in stored]
    by_name = {s.name: s for s in shapes or [] if s.name is not None}
    unnamed = [s for s in shapes or [] if s.name is None]
    if unnamed and len(inputs) == 1:
        by_name[inputs[0].name] = unnamed[0]
    unknown = [n for n in by_name if n not in {i.name for i in inputs}]
    if unknown:
        raise UsageError(f"--input-shape {unknown[0]}: {label} has no such input (inputs: "
                         f"{', '.join(i.name for i in inputs)})")
    names, sizes = [], []
    for i in inputs:
        if i.type.tensor_type.elem_type != FLOAT:
            raise UsageError(f"input {i.name!r} of {label} is not float32 "
                             f"({onnx.TensorProto.DataType.Name(i.type.tensor_type.elem_type)}"
                             "): export quantizes float models")
        dims = _bind(i.name, _dims(i), by_name.get(i.name), label)
        batch = i.type.tensor_type.shape.dim[0] if dims else None
        if batch is not None and not batch.dim_param and batch.dim_value <= 0:
            batch.dim_param = "batch"   # stored as -1 (paddle2onnx): the quantizer wants a name
        for d, v in zip(i.type.tensor_type.shape.dim[1:], dims[1:], strict=True):
            d.dim_value = int(v)
        names.append(i.name)
        sizes.append(tuple(int(v) for v in dims[1:]))
    outs = list(model.graph.output)
    classes = [_classification(model, o.name, len(outs) == 1, _dims(o)) for o in outs]
    return model.SerializeToString(), ModelIO(names, sizes, [o.name for o in outs], classes)


# a copy of the model the quantizer made in its temporary folder, as its errors name it
_COPY = re.compile(r"[^\s'\"]*edgekit-onnx-[^/\s'\"]*/[\w.-]+\.onnx")


def quantize_source(content: bytes, path: Path, quant: str, calib, method: str,
                    keep: list[str] | None = None):
    """:func:`edgekit.export.converters.quantize_onnx` of the user's model ``content``
    read from ``path`` (``keep``: the nodes of the pre-processed graph left float); its
    error names ``path``, not the temporary copy quantized."""
    from edgekit.export.converters import ConversionError, quantize_onnx

    try:
        if keep:
            return quantize_onnx(content, quant, calib, method,
                                 keep_float=lambda _: list(keep))
        return quantize_onnx(content, quant, calib, method)
    except ConversionError as e:
        said = _COPY.sub(lambda _: str(path), str(e))
        raise ConversionError(f"{path}: {said}") from e


def parameter_count(content: bytes) -> int:
    """Float weights of an ONNX model: the elements of its float initializers and float
    Constant tensors of more than one element (shapes and scalars are not weights)."""
    import numpy as np
    import onnx

    model = onnx.load_from_string(content)
    floats = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE,
              onnx.TensorProto.BFLOAT16}
    tensors = list(model.graph.initializer)
    tensors += [a.t for n in model.graph.node if n.op_type == "Constant"
                for a in n.attribute if a.name == "value"]
    return int(sum(int(np.prod(t.dims)) for t in tensors
                   if t.data_type in floats and int(np.prod(t.dims)) > 1))


def onnx_reference(content: bytes, x, io: ModelIO, path: Path | None = None) -> list:
    """The float model's outputs on ``x`` in onnxruntime, in ``io``'s order; an error
    names ``path``, the user's file that ``content`` was read from."""
    from edgekit.export.multi_io import run_runner
    from edgekit.runtimes.onnxrt import OnnxRunner

    label = None if path is None else str(path)
    runner = OnnxRunner(content=content, label=label)
    try:
        return run_runner(runner, x, io)
    except (EdgekitError, KeyboardInterrupt, MemoryError):
        raise
    except Exception as e:   # onnxruntime's own classes: a node the file cannot run
        raise ModelFileError(f"onnxruntime cannot run {runner.label}: {first_line(e)}") \
            from e
