"""ONNX model -> list of LayerRecord, with ONNX shape inference (onnxruntime's symbolic
inference as a fallback). Imports onnx (and onnxruntime's tools), never TensorFlow.

* Dynamic dimensions: the first dimension of an input is the batch and is bound to 1 (the
  report scales by --batch); any other symbolic dimension must be given with
  --input-shape, and the error names it.
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
from edgekit.core.errors import ModelFileError, UsageError, first_line
from edgekit.core.records import LayerRecord

# op -> (positions of weight inputs, positions of non-trainable inputs)
WEIGHTS = {"Conv": ((1, 2), ()), "ConvTranspose": ((1, 2), ()), "Gemm": ((1, 2), ()),
           "MatMul": ((0, 1), ()), "BatchNormalization": ((1, 2), (3, 4)),
           "PRelu": ((1,), ()), "QLinearConv": ((3, 8), ()), "QLinearMatMul": ((3,), ()),
           "ConvInteger": ((1,), ()), "MatMulInteger": ((1,), ()),
           "InstanceNormalization": ((1, 2), ()), "LayerNormalization": ((1, 2), ())}
AFFINE_OPS = {"Add", "Sub", "Mul", "Div"}
PASS_THROUGH = {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"}
ALIAS_OPS = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout"}
ACTIVATION_OPS = {"Relu", "Clip", "Sigmoid", "Tanh", "LeakyRelu", "HardSigmoid",
                  "HardSwish", "Elu", "Selu", "Softmax", "LogSoftmax", "Gelu", "Softplus",
                  "Erf", "Sqrt", "Exp", "Log", "Neg", "Abs", "Cast", "PRelu"}
ELEMENTWISE_OPS = {"Add", "Sub", "Mul", "Div", "Max", "Min", "Sum", "Mean", "Pow",
                   "QLinearAdd", "QLinearMul"}
NORM_OPS = {"BatchNormalization", "InstanceNormalization", "LayerNormalization"}
POOL_OPS = {"MaxPool", "AveragePool", "LpPool"}
GLOBAL_POOL_OPS = {"GlobalAveragePool", "GlobalMaxPool", "ReduceMean", "ReduceMax",
                   "ReduceSum", "QLinearGlobalAveragePool"}
SHAPE_OPS = {"Transpose", "Concat", "Pad", "Slice", "Split", "Gather", "Shape", "Resize",
             "Upsample", "Tile", "Expand", "ConstantOfShape", "Range", "DepthToSpace",
             "SpaceToDepth", "Constant", "QLinearConcat"}


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
    return model


def bind_inputs(model, input_shape: tuple[int, ...] | None = None) -> dict:
    """Fix every dynamic input dimension in place: batch -> 1, others from ``input_shape``
    (per item, without batch). Returns {input name: per-item shape}."""
    inits = {i.name for i in model.graph.initializer}
    bound = {}
    for k, inp in enumerate(i for i in model.graph.input if i.name not in inits):
        dims = inp.type.tensor_type.shape.dim
        for j, d in enumerate(dims):
            if d.HasField("dim_value") and d.dim_value > 0:
                if k == 0 and input_shape is not None and j > 0:
                    if j - 1 >= len(input_shape):
                        raise UsageError(f"--input-shape {','.join(map(str, input_shape))}"
                                         f" has {len(input_shape)} dims; input {inp.name!r} "
                                         f"has {len(dims) - 1} (without batch)")
                    d.dim_value = int(input_shape[j - 1])
                continue
            if j == 0:
                d.dim_value = 1
            elif k == 0 and input_shape is not None and j - 1 < len(input_shape):
                d.dim_value = int(input_shape[j - 1])
            else:
                raise UsageError(
                    f"input {inp.name!r} has an unbound dimension {d.dim_param or '?'!r} "
                    f"(position {j}); give the shape without batch, e.g. --input-shape "
                    "224,224,3")
        bound[inp.name] = tuple(int(d.dim_value) for d in dims[1:])
    return bound


def infer_shapes(model):
    import onnx

    try:
        inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception:
        inferred = model
    if _missing_shapes(inferred):
        try:
            from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

            inferred = SymbolicShapeInference.infer_shapes(inferred, auto_merge=True)
        except Exception:
            pass
    return inferred


def _missing_shapes(model) -> bool:
    known = {v.name for v in list(model.graph.value_info) + list(model.graph.output)}
    return any(o and o not in known for n in model.graph.node for o in n.output)


def read_onnx(path: Path, input_shape: tuple[int, ...] | None = None
              ) -> tuple[list[LayerRecord], list[str], dict]:
    model = load_onnx(path)
    bound = bind_inputs(model, input_shape)
    model = infer_shapes(model)
    g = model.graph
    inits = {i.name: tuple(i.dims) for i in g.initializer}
    for n in g.node:  # Constant nodes are initializers too
        if n.op_type == "Constant":
            for a in n.attribute:
                if a.name == "value":
                    inits[n.output[0]] = tuple(a.t.dims)
    info_by_name = {v.name: v for v in list(g.value_info) + list(g.output) + list(g.input)}

    def shape(name: str) -> tuple:
        vi = info_by_name.get(name)
        dims = _dims(vi) if vi is not None else None
        if dims is None:
            return ()
        return tuple(int(d) if isinstance(d, int) else -1 for d in dims[1:])

    def dtype(name: str) -> str:
        vi = info_by_name.get(name)
        return _elem_dtype(vi) if vi is not None else "float32"

    # fold Q/DQ: a tensor behind (De)QuantizeLinear is the same tensor, possibly constant
    source: dict[str, str] = {}
    for n in g.node:
        if n.op_type in PASS_THROUGH and n.input:
            source[n.output[0]] = n.input[0]

    def origin(name: str) -> str:
        seen = 0
        while name in source and seen < 8:
            name, seen = source[name], seen + 1
        return name

    producer: dict[str, str] = {}
    records: list[LayerRecord] = []
    for inp in g.input:
        if inp.name in inits:
            continue
        producer[inp.name] = inp.name
        records.append(LayerRecord(len(records), inp.name, "Input",
                                   output_shape=bound.get(inp.name, shape(inp.name)),
                                   act_dtype=dtype(inp.name)))
    # an activation that a QuantizeLinear consumes is stored as int8 between QDQ layers
    quantized = {n.input[0] for n in g.node if n.op_type == "QuantizeLinear" and n.input}
    for n in g.node:
        if n.op_type == "Constant" or n.op_type in PASS_THROUGH:
            continue
        ins = [origin(i) if i else "" for i in n.input]
        wpos, ntpos = WEIGHTS.get(n.op_type, ((), ()))
        weights = {p: ins[p] for p in wpos if p < len(ins) and ins[p] in inits}
        if n.op_type in AFFINE_OPS:  # a batch norm written as Mul/Add: per-channel constants
            weights = {p: i for p, i in enumerate(ins) if i in inits and C.numel(inits[i]) > 1}
        nontrain = {p: ins[p] for p in ntpos if p < len(ins) and ins[p] in inits}
        params_t = sum(C.numel(inits[w]) for w in weights.values())
        params_nt = sum(C.numel(inits[w]) for w in nontrain.values())
        acts = [i for i in ins if i and i not in inits and i in producer]
        out = n.output[0]
        out_shape = shape(out)
        in_shapes = [shape(i) for i in acts]
        out_el = C.numel(d for d in out_shape if d > 0) if out_shape else 0
        macs = other = 0
        known = True
        op = n.op_type
        attrs = {a.name: list(a.ints) if a.ints else (a.i if a.type == 2 else a.f)
                 for a in n.attribute if a.type in (1, 2, 7)}
        if op in ("Conv", "QLinearConv", "ConvInteger"):
            w = inits.get(ins[3 if op == "QLinearConv" else 1])
            if w is not None and len(w) >= 3:
                groups = int(attrs.get("group", 1))
                cin = w[1] * groups
                if groups > 1 and groups == cin:
                    op_label = "DepthwiseConv"
                    macs = C.depthwise_macs(w[2:], cin, w[0] // cin, out_shape[1:])
                else:
                    op_label = op
                    macs = C.conv_macs(w[2:], cin, w[0], out_shape[1:], groups)
                op = op_label if op == "Conv" else op
                if (op_label == "DepthwiseConv") and n.op_type != "Conv":
                    op = f"{n.op_type}(depthwise)"
                if len(n.input) > (8 if n.op_type == "QLinearConv" else 2):
                    other += C.bias_ops(out_el)
            else:
                known = False
        elif op == "ConvTranspose":
            w = inits.get(ins[1])
            if w is not None and in_shapes:
                groups = int(attrs.get("group", 1))
                macs = C.transposed_conv_macs(w[2:], w[0], w[1] * groups, in_shapes[0][1:],
                                              groups)
            else:
                known = False
        elif op == "Gemm":
            b = inits.get(ins[1])
            if b is not None:
                trans_b = int(attrs.get("transB", 0))
                k_dim, n_dim = (b[1], b[0]) if trans_b else (b[0], b[1])
                macs = C.dense_macs(k_dim, n_dim)
                if len(ins) > 2 and ins[2]:
                    other += C.bias_ops(out_el)
            else:
                known = False
        elif op in ("MatMul", "QLinearMatMul", "MatMulInteger"):
            bi = 3 if op == "QLinearMatMul" else 1
            b = inits.get(ins[bi]) if bi < len(ins) else None
            b_shape = b if b is not None else (shape(ins[bi]) if bi < len(ins) else ())
            if b_shape and out_shape:
                k_dim = b_shape[-2] if len(b_shape) >= 2 else b_shape[-1]
                macs = C.dense_macs(k_dim, out_shape[-1], C.numel(out_shape[:-1]))
            else:
                known = False
        elif op in NORM_OPS:
            other = C.batchnorm_ops(out_el)
        elif op in ACTIVATION_OPS:
            other = C.activation_ops(out_el)
        elif op in POOL_OPS:
            other = C.pool_ops(attrs.get("kernel_shape", [1]), out_el)
        elif op in GLOBAL_POOL_OPS:
            other = C.numel(d for d in in_shapes[0] if d > 0) if in_shapes else 0
        elif op in ELEMENTWISE_OPS:
            other = C.elementwise_ops(max(len([i for i in ins if i]), 2), out_el)
        elif op in ALIAS_OPS or op in SHAPE_OPS:
            pass
        else:
            known = False
        name = n.name or out
        act_dtype = "int8" if out in quantized else dtype(out)
        for i in n.output:
            producer[i] = name
        records.append(LayerRecord(
            index=len(records), name=name, op=op, inputs=list(dict.fromkeys(
                producer[i] for i in acts)),
            input_shapes=in_shapes, output_shape=out_shape, params_trainable=params_t,
            params_non_trainable=params_nt, macs=macs, other_ops=other, attrs=attrs,
            act_dtype=act_dtype,
            weight_dtype="int8" if any(w != n.input[p] for p, w in weights.items())
            else "float32",
            alias=op in ALIAS_OPS and bool(acts), counted=known))
    outputs = [producer[origin(o.name)] for o in g.output if origin(o.name) in producer]
    first = records[0] if records else None
    info = {"input_shape": list(first.output_shape) if first else [],
            "opset": max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
                         default=None),
            "producer": model.producer_name}
    return records, outputs, info
