"""An ONNX file and the inputs of one call: loading it (a broken file is one line),
the sizes a call binds (:func:`edgekit.core.shapes.bind_call`, written into the graph
inputs) and the values a user gives (``--inputs``)."""

from __future__ import annotations

from pathlib import Path

from edgekit.core import shapes
from edgekit.core.errors import ModelFileError, UsageError, first_line
from edgekit.core.feeds import declared as declared_values
from edgekit.core.reading import MODEL_LIMIT, read_input
from edgekit.core.shapes import ShapeSpec
from edgekit.readers.onnx_stored import check_functions, load_stored_data


def load_onnx(path: Path, whole: bool = False):
    """The model, its external data read (each file inside the model's folder, opened by
    the one reader: registered as an input of the command, and read no further than the
    sizes its tensors declare; a tensor past 256 MiB only when ``whole``: a model run from
    bytes), every stored tensor holding the data its dims declare, the graph in order, its
    local functions not recursive."""
    import onnx

    data = read_input(path, "ONNX model", MODEL_LIMIT)
    try:
        model = onnx.load_model_from_string(data)
    except Exception as e:  # protobuf DecodeError and friends
        raise ModelFileError(f"cannot read ONNX model {path}: {first_line(e)}") from e
    del data
    if not model.graph.node:
        raise ModelFileError(f"cannot read ONNX model {path}: the graph has no nodes")
    load_stored_data(model, path, whole)
    _check_order(model, path)
    _check_sizes(model, path)
    check_functions(model, path)
    return model


def _check_order(model, path: Path) -> None:
    """ONNX graphs list nodes in topological order; a node reading a tensor that no earlier
    node, input or initializer provides is a cycle (or a broken file)."""
    g = model.graph
    known = {i.name for i in g.input} | {i.name for i in g.initializer} | {""}
    for k, n in enumerate(g.node):
        missing = [i for i in n.input if i not in known]
        if missing:
            later = {o for m in g.node[k:] for o in m.output}
            what = "a cycle" if missing[0] in later else "an input nothing produces"
            raise ModelFileError(f"cannot read ONNX model {path}: node {n.name or n.op_type!r} "
                                 f"reads {missing[0]!r}: {what}")
        known.update(n.output)


def _check_sizes(model, path: Path) -> None:
    """Dimensions beyond what runtimes index (2^31 - 1) are a broken file, not a model."""
    g = model.graph
    for v in list(g.input) + list(g.value_info) + list(g.output):
        for d in v.type.tensor_type.shape.dim:
            if d.HasField("dim_value") and d.dim_value > shapes.MAX_DIM:
                raise ModelFileError(f"cannot read ONNX model {path}: tensor {v.name!r} has "
                                     f"a dimension of {d.dim_value:,}, beyond the "
                                     f"{shapes.MAX_DIM:,} that runtimes support")


def graph_inputs(model, tensors_only: bool = False) -> list:
    inits = {i.name for i in model.graph.initializer}
    return [inp for inp in model.graph.input if inp.name not in inits
            and (not tensors_only or inp.type.WhichOneof("value") == "tensor_type")]


def declared_inputs(model) -> dict[str, tuple]:
    """{input name: dims} of the graph inputs that are not initializers; None where a
    dimension is symbolic or unknown (PaddlePaddle writes -1)."""
    return {inp.name: tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0
                            else None for d in inp.type.tensor_type.shape.dim)
            for inp in graph_inputs(model, tensors_only=True)}


def _symbols(model) -> dict[str, tuple]:
    """{input: the symbol of each dynamic dimension (None where fixed or unnamed)}."""
    return {inp.name: tuple(d.dim_param or None for d in inp.type.tensor_type.shape.dim)
            for inp in graph_inputs(model, tensors_only=True)}


def bind_inputs(model, specs: list[ShapeSpec] | None = None, batch: int | None = None,
                values: dict | None = None) -> tuple[dict[str, tuple], int | None]:
    """Write the sizes of one call (core.shapes.bind_call: given values, given shapes, the
    batch on the batch axis the file declares) into the graph inputs. Returns ({input:
    dims, None where still unknown}, the batch or None when no batch axis is known)."""
    declared = declared_inputs(model)   # the values' declared shapes: nothing inflated
    given = list(specs or []) + shapes.given_values(declared_values(values), declared)
    bound, known_batch = shapes.bind_call(declared, given, batch, _symbols(model))
    for inp in graph_inputs(model, tensors_only=True):
        for d, value in zip(inp.type.tensor_type.shape.dim, bound[inp.name], strict=False):
            if value is not None:
                d.Clear()
                d.dim_value = value
    return bound, known_batch


def check_values(model, values: dict) -> None:
    """Given input values (--inputs) must name inputs and match their element types (what
    the file declares: compared before any array is inflated)."""
    import onnx

    inputs = {inp.name: inp for inp in graph_inputs(model)}
    for name, value in declared_values(values).items():
        if name not in inputs:
            raise UsageError(f"--inputs: the model has no input {name!r}; its inputs: "
                             f"{', '.join(inputs)}")
        if inputs[name].type.WhichOneof("value") != "tensor_type":
            continue
        elem = inputs[name].type.tensor_type.elem_type
        want = onnx.helper.tensor_dtype_to_np_dtype(elem) if elem else None
        if want is not None and value.dtype != want:
            raise UsageError(f"--inputs: input {name!r} is {want.name}, the file gives "
                             f"{value.dtype.name}")
