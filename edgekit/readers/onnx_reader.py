"""ONNX model -> list of LayerRecord, with ONNX shape inference (onnxruntime's symbolic
inference as a fallback). Imports onnx (and onnxruntime's tools), never TensorFlow.

* Dynamic dimensions: ``--input-shape [NAME:]DxD...`` (full shape, batch first) fills
  them; a batch left dynamic is 1 (the report is per item and scales by --batch). When
  any dimension is still unknown after ONNX shape inference, onnxruntime's symbolic
  inference runs. A size that stays unknown is never guessed: the layers it reaches are
  flagged (``attrs['unknown_size']``), uncounted, and the file info names the inputs and
  positions that need a shape.
* Quantized models: QuantizeLinear/DequantizeLinear pairs are folded away, so a QDQ model
  reports the int8 layer it represents (its weights are the int8 initializers behind the
  DequantizeLinear); QLinearConv/QLinearMatMul are counted like Conv/MatMul.
* Params are the initializers that an op consumes as weights or bias (not shape, padding or
  quantization-scale constants). Batch-norm mean and variance count as non-trainable, as
  in Keras.
"""

from __future__ import annotations

from pathlib import Path

from edgekit.core import counting as C
from edgekit.core import shapes
from edgekit.core.errors import ModelFileError, first_line
from edgekit.core.ops import Geometry, Kind, count
from edgekit.core.quiet import quiet_stderr, quiet_stdout
from edgekit.core.records import LayerRecord
from edgekit.core.shapes import ShapeSpec

# op -> (positions of weight inputs, positions of non-trainable inputs)
WEIGHTS = {"Conv": ((1, 2), ()), "ConvTranspose": ((1, 2), ()), "Gemm": ((1, 2), ()),
           "MatMul": ((0, 1), ()), "BatchNormalization": ((1, 2), (3, 4)),
           "PRelu": ((1,), ()), "QLinearConv": ((3, 8), ()), "QLinearMatMul": ((3,), ()),
           "ConvInteger": ((1,), ()), "MatMulInteger": ((1,), ()),
           "InstanceNormalization": ((1, 2), ()), "LayerNormalization": ((1, 2), ())}
AFFINE_OPS = {"Add", "Sub", "Mul", "Div"}
PASS_THROUGH = {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"}


def _kinds() -> dict[str, Kind]:
    table = {op: Kind.SHAPE for op in (
        "Transpose", "Concat", "Pad", "Slice", "Split", "Gather", "Shape", "Resize",
        "Upsample", "Tile", "Expand", "ConstantOfShape", "Range", "DepthToSpace",
        "SpaceToDepth", "Constant", "QLinearConcat")}
    table.update({op: Kind.VIEW for op in (
        "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout")})
    table.update({op: Kind.ACTIVATION for op in (
        "Relu", "Clip", "Sigmoid", "Tanh", "LeakyRelu", "HardSigmoid", "HardSwish", "Elu",
        "Selu", "Softmax", "LogSoftmax", "Gelu", "Softplus", "Erf", "Sqrt", "Exp", "Log",
        "Neg", "Abs", "Cast", "PRelu")})
    table.update({op: Kind.ELEMENTWISE for op in (
        "Add", "Sub", "Mul", "Div", "Max", "Min", "Sum", "Mean", "Pow", "QLinearAdd",
        "QLinearMul")})
    table.update({op: Kind.NORM for op in (
        "BatchNormalization", "InstanceNormalization", "LayerNormalization")})
    table.update({op: Kind.POOL for op in ("MaxPool", "AveragePool", "LpPool")})
    table.update({op: Kind.GLOBAL_POOL for op in (
        "GlobalAveragePool", "GlobalMaxPool", "ReduceMean", "ReduceMax", "ReduceSum",
        "QLinearGlobalAveragePool")})
    table.update({op: Kind.CONV for op in ("Conv", "QLinearConv", "ConvInteger")})
    table.update({op: Kind.DENSE for op in (
        "Gemm", "MatMul", "QLinearMatMul", "MatMulInteger")})
    table["ConvTranspose"] = Kind.TRANSPOSED_CONV
    return table


KINDS = _kinds()


def _dims(value_info) -> tuple | None:
    t = value_info.type.tensor_type
    if not t.HasField("shape"):
        return None
    return tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
                 for d in t.shape.dim)


def _elem_dtype(value_info) -> str:
    import onnx

    return onnx.helper.tensor_dtype_to_np_dtype(value_info.type.tensor_type.elem_type).name


def load_onnx(path: Path):
    import onnx

    try:
        model = onnx.load(str(path))
    except Exception as e:  # protobuf DecodeError and friends
        raise ModelFileError(f"cannot read ONNX model {path}: "
                             f"{first_line(e)}") from e
    if not model.graph.node:
        raise ModelFileError(f"cannot read ONNX model {path}: the graph has no nodes")
    _check_order(model, path)
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


def declared_inputs(model) -> dict[str, tuple]:
    """{input name: dims} of the graph inputs that are not initializers; None where a
    dimension is symbolic or unknown (PaddlePaddle writes -1)."""
    inits = {i.name for i in model.graph.initializer}
    return {inp.name: tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0
                            else None for d in inp.type.tensor_type.shape.dim)
            for inp in model.graph.input if inp.name not in inits}


def bind_inputs(model, specs: list[ShapeSpec] | None = None) -> dict[str, tuple]:
    """Write the given shapes into the graph inputs (a dynamic batch becomes 1); returns
    {input name: full dims, None where still unknown}."""
    bound = shapes.bind(declared_inputs(model), specs or [])
    for inp in model.graph.input:
        if inp.name not in bound:
            continue
        dims = bound[inp.name]
        if dims and dims[0] is None:
            dims = bound[inp.name] = (1, *dims[1:])
        for d, value in zip(inp.type.tensor_type.shape.dim, dims, strict=False):
            if value is not None:
                d.Clear()
                d.dim_value = value
    return bound


def _unknown_dims(model) -> bool:
    """Is any tensor shape missing, or any dimension unknown, after inference?"""
    known = {v.name: v for v in list(model.graph.value_info) + list(model.graph.output)}
    for n in model.graph.node:
        for o in n.output:
            if not o:
                continue
            dims = _dims(known[o]) if o in known else None
            if dims is None or any(not isinstance(d, int) or d <= 0 for d in dims):
                return True
    return False


def infer_shapes(model, runnable: bool = False) -> tuple:
    """(model with shapes, how they were found). ONNX shape inference with data
    propagation; onnxruntime's symbolic inference when a shape or dimension is still
    unknown; and when even that leaves one unknown and every input size is known
    (``runnable``), one run in onnxruntime with every intermediate tensor exposed."""
    import onnx

    try:
        inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception:
        inferred = model
    if not _unknown_dims(inferred):
        return inferred, "onnx shape inference"
    try:
        from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

        with quiet_stderr(), quiet_stdout():
            symbolic = SymbolicShapeInference.infer_shapes(inferred, auto_merge=True)
        if not _unknown_dims(symbolic):
            return symbolic, "symbolic shape inference (onnxruntime)"
        inferred = symbolic
    except Exception:  # the symbolic inference asserts on graphs it does not handle
        pass
    if runnable:
        ran = _shapes_by_running(inferred)
        if ran is not None:
            return ran, "one run in onnxruntime (shape inference could not resolve them)"
    return inferred, "onnx shape inference (some sizes unknown)"


def _shapes_by_running(model):
    """The model with the real shape of every top-level tensor, from one onnxruntime run on
    inputs of ones; None if it does not run."""
    import numpy as np
    import onnx
    import onnxruntime as ort

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    have = {o.name for o in probe.graph.output}
    names = [o for n in probe.graph.node for o in n.output if o and o not in have]
    probe.graph.output.extend([onnx.ValueInfoProto(name=o) for o in names])
    feeds = {}
    inits = {i.name for i in model.graph.initializer}
    for inp in model.graph.input:
        if inp.name in inits:
            continue
        dims = [d.dim_value for d in inp.type.tensor_type.shape.dim]
        dtype = onnx.helper.tensor_dtype_to_np_dtype(inp.type.tensor_type.elem_type)
        feeds[inp.name] = np.ones(dims, dtype=dtype)
    try:
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        session = ort.InferenceSession(probe.SerializeToString(), opts,
                                       providers=["CPUExecutionProvider"])
        outs = session.run(None, feeds)
    except Exception:
        return None
    result = onnx.ModelProto()
    result.CopyFrom(model)
    known = {v.name for v in result.graph.output}
    del result.graph.value_info[:]
    for meta, value in zip(session.get_outputs(), outs, strict=True):
        if meta.name in known:
            continue
        value = np.asarray(value)
        elem = onnx.helper.np_dtype_to_tensor_dtype(value.dtype)
        result.graph.value_info.append(
            onnx.helper.make_tensor_value_info(meta.name, elem, list(value.shape)))
    return result


class _Graph:
    """Lookups over one shape-inferred graph: constant shapes, tensor shapes and dtypes,
    and the tensor behind a chain of (De)QuantizeLinear."""

    def __init__(self, model):
        g = model.graph
        self.inits = {i.name: tuple(i.dims) for i in g.initializer}
        for n in g.node:  # Constant nodes are initializers too
            if n.op_type == "Constant":
                for a in n.attribute:
                    if a.name == "value":
                        self.inits[n.output[0]] = tuple(a.t.dims)
        self.info = {v.name: v for v in list(g.value_info) + list(g.output) + list(g.input)}
        # fold Q/DQ: a tensor behind (De)QuantizeLinear is the same tensor
        self.source = {n.output[0]: n.input[0] for n in g.node
                       if n.op_type in PASS_THROUGH and n.input}
        # an activation that a QuantizeLinear consumes is stored as int8 between QDQ layers
        self.quantized = {n.input[0] for n in g.node
                          if n.op_type == "QuantizeLinear" and n.input}

    def shape(self, name: str) -> tuple | None:
        """Per-item shape (batch dropped), -1 where unknown; None when there is none."""
        vi = self.info.get(name)
        dims = _dims(vi) if vi is not None else None
        if dims is None:
            return None
        return tuple(int(d) if isinstance(d, int) and d > 0 else -1 for d in dims[1:])

    def dtype(self, name: str) -> str:
        vi = self.info.get(name)
        return _elem_dtype(vi) if vi is not None else "float32"

    def origin(self, name: str) -> str:
        seen = 0
        while name in self.source and seen < 8:
            name, seen = self.source[name], seen + 1
        return name


def _attrs(node) -> dict:
    """Numeric attributes (float, int, ints) of a node, decoded by onnx itself."""
    from onnx import AttributeProto, helper

    kept = (AttributeProto.FLOAT, AttributeProto.INT, AttributeProto.INTS)
    out = {}
    for a in node.attribute:
        if a.type in kept:
            value = helper.get_attribute_value(a)
            out[a.name] = list(value) if a.type == AttributeProto.INTS else value
    return out


def _conv_geometry(n, ins, gr: _Graph, out_shape, attrs) -> tuple[Kind, Geometry, str] | None:
    w = gr.inits.get(ins[3 if n.op_type == "QLinearConv" else 1])
    if w is None or len(w) < 3:
        return None
    groups = int(attrs.get("group", 1))
    cin = w[1] * groups
    bias = len(n.input) > (8 if n.op_type == "QLinearConv" else 2)
    if groups > 1 and groups == cin:
        label = "DepthwiseConv" if n.op_type == "Conv" else f"{n.op_type}(depthwise)"
        return Kind.DEPTHWISE, Geometry(kernel=w[2:], cin=cin, multiplier=w[0] // cin,
                                        out_spatial=out_shape[1:], bias=bias), label
    return Kind.CONV, Geometry(kernel=w[2:], cin=cin, cout=w[0], groups=groups,
                               out_spatial=out_shape[1:], bias=bias), n.op_type


def _geometry(n, kind: Kind, ins, gr: _Graph, in_shapes, out_shape, attrs
              ) -> tuple[Kind, Geometry, str]:
    """The kind (refined: a Conv with one group per channel is depthwise; a MAC op whose
    weights are not constant is unknown), the geometry, and the op label."""
    op = n.op_type
    if kind is Kind.CONV:
        return _conv_geometry(n, ins, gr, out_shape, attrs) or (Kind.UNKNOWN, Geometry(), op)
    if kind is Kind.TRANSPOSED_CONV:
        w = gr.inits.get(ins[1])
        if w is None or not in_shapes:
            return Kind.UNKNOWN, Geometry(), op
        groups = int(attrs.get("group", 1))
        return kind, Geometry(kernel=w[2:], cin=w[0], cout=w[1] * groups, groups=groups,
                              in_spatial=in_shapes[0][1:]), op
    if op == "Gemm":
        b = gr.inits.get(ins[1])
        if b is None:
            return Kind.UNKNOWN, Geometry(), op
        k_dim, n_dim = (b[1], b[0]) if int(attrs.get("transB", 0)) else (b[0], b[1])
        return kind, Geometry(cin=k_dim, cout=n_dim, bias=len(ins) > 2 and bool(ins[2])), op
    if kind is Kind.DENSE:  # MatMul and its quantized forms
        bi = 3 if op == "QLinearMatMul" else 1
        b = gr.inits.get(ins[bi]) if bi < len(ins) else None
        b_shape = b if b is not None else (gr.shape(ins[bi]) or () if bi < len(ins) else ())
        if not b_shape or not out_shape:
            return Kind.UNKNOWN, Geometry(), op
        k_dim = b_shape[-2] if len(b_shape) >= 2 else b_shape[-1]
        return kind, Geometry(cin=k_dim, cout=out_shape[-1],
                              positions=C.numel(out_shape[:-1])), op
    g = Geometry()
    if kind is Kind.POOL:
        g.window = tuple(attrs.get("kernel_shape", [1]))
    elif kind is Kind.GLOBAL_POOL:
        g.in_elements = C.numel(in_shapes[0]) if in_shapes else 0
    elif kind is Kind.ELEMENTWISE:
        g.n_inputs = max(len([i for i in ins if i]), 2)
    return kind, g, op


def _node_record(n, gr: _Graph, producer: dict, index: int) -> LayerRecord:
    ins = [gr.origin(i) if i else "" for i in n.input]
    wpos, ntpos = WEIGHTS.get(n.op_type, ((), ()))
    weights = {p: ins[p] for p in wpos if p < len(ins) and ins[p] in gr.inits}
    if n.op_type in AFFINE_OPS:  # a per-channel Mul/Add (folded batch norm) carries weights
        weights = {p: i for p, i in enumerate(ins) if i in gr.inits and C.numel(gr.inits[i]) > 1}
    nontrain = {p: ins[p] for p in ntpos if p < len(ins) and ins[p] in gr.inits}
    acts = [i for i in ins if i and i not in gr.inits and i in producer]
    out = n.output[0]
    shapes_ = [gr.shape(out)] + [gr.shape(i) for i in acts]
    unknown = any(sh is None or -1 in sh for sh in shapes_)
    out_shape, in_shapes = shapes_[0] or (), [sh or () for sh in shapes_[1:]]
    attrs = _attrs(n)
    kind, g, op = _geometry(n, KINDS.get(n.op_type, Kind.UNKNOWN), ins, gr, in_shapes,
                            out_shape, attrs)
    macs, other = (0, 0) if unknown else count(kind, g, C.numel(out_shape))
    if unknown:
        attrs["unknown_size"] = True
    name = n.name or out
    for i in n.output:
        producer[i] = name
    return LayerRecord(
        index=index, name=name, op=op,
        inputs=list(dict.fromkeys(producer[i] for i in acts)),
        input_shapes=in_shapes, output_shape=out_shape,
        params_trainable=sum(C.numel(gr.inits[w]) for w in weights.values()),
        params_non_trainable=sum(C.numel(gr.inits[w]) for w in nontrain.values()),
        macs=macs, other_ops=other, attrs=attrs,
        act_dtype="int8" if out in gr.quantized else gr.dtype(out),
        weight_dtype="int8" if any(w != n.input[p] for p, w in weights.items())
        else "float32",
        alias=kind is Kind.VIEW and bool(acts),
        counted=kind is not Kind.UNKNOWN and not unknown, unknown_size=unknown)


def read_onnx(path: Path, input_shapes: list[ShapeSpec] | None = None
              ) -> tuple[list[LayerRecord], list[str], dict]:
    """Records, output names and file info ('input_shape' per item of the first input,
    'input_shapes' as bound, 'unbound_inputs': {input: unknown positions})."""
    model = load_onnx(path)
    _check_sizes(model, path)
    bound = bind_inputs(model, input_shapes)
    model, shapes_from = infer_shapes(model, runnable=not shapes.unbound(bound))
    _check_sizes(model, path)
    gr = _Graph(model)
    producer: dict[str, str] = {}
    records: list[LayerRecord] = []
    for inp in model.graph.input:
        if inp.name in gr.inits:
            continue
        producer[inp.name] = inp.name
        dims = bound[inp.name][1:]
        records.append(LayerRecord(len(records), inp.name, "Input",
                                   output_shape=tuple(-1 if d is None else d for d in dims),
                                   act_dtype=gr.dtype(inp.name),
                                   unknown_size=None in dims))
    for n in model.graph.node:
        if n.op_type != "Constant" and n.op_type not in PASS_THROUGH:
            records.append(_node_record(n, gr, producer, len(records)))
    outputs = [producer[gr.origin(o.name)] for o in model.graph.output
               if gr.origin(o.name) in producer]
    first = records[0] if records else None
    info = {"input_shape": list(first.output_shape) if first else [],
            "input_shapes": {k: shapes.format_dims(v) for k, v in bound.items()},
            "unbound_inputs": shapes.unbound(bound), "shapes_from": shapes_from,
            "opset": max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
                         default=None),
            "producer": model.producer_name}
    return records, outputs, info
