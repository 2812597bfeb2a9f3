"""What one value of an ONNX graph is (its size, element type and kind) and where a
graph's subgraphs are: the vocabulary the evaluator (:mod:`edgekit.readers.onnx_graph`),
its control flow (:mod:`edgekit.readers.onnx_control`) and its bounded evaluation
(:mod:`edgekit.readers.onnx_bounded`) share."""

from __future__ import annotations

from dataclasses import dataclass

RANDOM_OPS = frozenset({"RandomNormal", "RandomUniform", "RandomNormalLike",
                        "RandomUniformLike", "Multinomial", "Bernoulli"})


@dataclass
class Tensor:
    """One value of the graph: full dims (-1 where unknown; None when the rank is not
    known or the value is not a tensor), its element type name, and what kind of value
    it is ('tensor', 'sequence', 'optional', 'map')."""

    shape: tuple | None = None
    dtype: str = "float32"
    kind: str = "tensor"

    @property
    def static(self) -> bool:
        return self.kind == "tensor" and self.shape is not None and -1 not in self.shape


def elem_name(elem_type: int) -> str:
    """numpy/ml_dtypes name of an ONNX element type ('float32', 'int4', 'string')."""
    from onnx import TensorProto, helper

    if elem_type == TensorProto.STRING:
        return "string"
    try:
        return helper.tensor_dtype_to_np_dtype(elem_type).name
    except (KeyError, ValueError, TypeError):
        return "undefined"


def from_type(tp) -> Tensor:
    which = tp.WhichOneof("value")
    if which == "tensor_type":
        t = tp.tensor_type
        shape = None
        if t.HasField("shape"):
            shape = tuple(d.dim_value if d.HasField("dim_value") and d.dim_value >= 0 else -1
                          for d in t.shape.dim)
        return Tensor(shape, elem_name(t.elem_type))
    if which == "sequence_type":
        inner = from_type(tp.sequence_type.elem_type)
        return Tensor(None, inner.dtype, "sequence")
    if which == "optional_type":
        inner = from_type(tp.optional_type.elem_type)
        return Tensor(None, inner.dtype, "optional")
    if which == "map_type":
        return Tensor(None, "undefined", "map")
    return Tensor(None, "undefined", "unknown")


def subgraphs(node) -> list[tuple[str, object]]:
    """(attribute name, graph) of every subgraph a node holds (If, Loop, Scan, ...)."""
    from onnx import AttributeProto

    out = []
    for a in node.attribute:
        if a.type == AttributeProto.GRAPH:
            out.append((a.name, a.g))
        elif a.type == AttributeProto.GRAPHS:
            out.extend((f"{a.name}{i}", g) for i, g in enumerate(a.graphs))
    return out


def all_graphs(graph):
    yield graph
    for n in graph.node:
        for _, g in subgraphs(n):
            yield from all_graphs(g)


def node_attrs(node, strings: bool = False) -> dict:
    """Numeric attributes (float, int, ints) of a node, decoded by onnx itself (and the
    string ones, as text, when asked)."""
    from onnx import AttributeProto, helper

    kept = {AttributeProto.FLOAT, AttributeProto.INT, AttributeProto.INTS}
    if strings:
        kept.add(AttributeProto.STRING)
    out = {}
    for a in node.attribute:
        if a.type in kept:
            value = helper.get_attribute_value(a)
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            out[a.name] = list(value) if a.type == AttributeProto.INTS else value
    return out


def unloaded(tensor) -> bool:
    """A stored tensor whose data stays in its external file (too large to read: its
    dims are checked, its numbers never needed to count it)."""
    from onnx import TensorProto

    return tensor.data_location == TensorProto.EXTERNAL
