"""TFLite flatbuffer -> list of LayerRecord, read with the schema (LiteRT's generated
flatbuffer classes), not the interpreter: files that a runtime refuses are still analyzed.
Imports no TensorFlow.

Each operator becomes one record named after its (first) output tensor. Weights are the
constant tensors an op consumes as filter/weights/bias; their quantization (per-tensor or
per-channel) is reported in ``attrs``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit.core import counting as C
from edgekit.core.errors import ModelFileError, UsageError
from edgekit.core.records import LayerRecord

# op -> positions of its weight inputs
WEIGHT_INPUTS = {"CONV_2D": (1, 2), "DEPTHWISE_CONV_2D": (1, 2), "FULLY_CONNECTED": (1, 2),
                 "TRANSPOSE_CONV": (1, 3), "CONV_3D": (1, 2)}
ALIAS_OPS = {"RESHAPE", "SQUEEZE", "EXPAND_DIMS"}
ACTIVATION_OPS = {"RELU", "RELU6", "RELU_N1_TO_1", "LOGISTIC", "TANH", "HARD_SWISH",
                  "LEAKY_RELU", "PRELU", "ELU", "SOFTMAX", "LOG_SOFTMAX", "GELU",
                  "QUANTIZE", "DEQUANTIZE"}
ELEMENTWISE_OPS = {"ADD", "SUB", "MUL", "DIV", "MAXIMUM", "MINIMUM", "SQUARED_DIFFERENCE",
                   "POW", "ADD_N"}
SHAPE_OPS = {"PAD", "PADV2", "CONCATENATION", "TRANSPOSE", "STRIDED_SLICE", "SLICE",
             "SPLIT", "SPLIT_V", "PACK", "UNPACK", "GATHER", "SHAPE", "RESIZE_BILINEAR",
             "RESIZE_NEAREST_NEIGHBOR", "TILE", "CAST", "SPACE_TO_DEPTH", "DEPTH_TO_SPACE"}
REDUCE_OPS = {"MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PROD"}
POOL_OPS = {"AVERAGE_POOL_2D", "MAX_POOL_2D", "L2_POOL_2D"}
FUSED_ACTIVATIONS = {0: None, 1: "relu", 2: "relu_n1_to_1", 3: "relu6", 4: "tanh",
                     5: "sign_bit", 6: "sigmoid"}


def _schema():
    from ai_edge_litert import schema_py_generated as S

    return S


def load_flatbuffer(path: Path):
    S = _schema()
    data = Path(path).read_bytes()
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ModelFileError(f"cannot read TFLite model {path}: not a TFLite flatbuffer "
                             "(no TFL3 identifier)")
    try:
        return S.ModelT.InitFromPackedBuf(data, 0)
    except Exception as e:  # flatbuffers raises struct/index errors on truncated files
        raise ModelFileError(f"cannot read TFLite model {path}: corrupt or truncated "
                             f"flatbuffer ({type(e).__name__})") from e


def _names(cls) -> dict[int, str]:
    return {v: k for k, v in vars(cls).items() if not k.startswith("_")}


def _quant(t) -> dict | None:
    q = t.quantization
    if q is None or q.scale is None or len(q.scale) == 0:
        return None
    scale = np.asarray(q.scale)
    return {"granularity": "per-channel" if scale.size > 1 else "per-tensor",
            "channels": int(scale.size), "axis": int(q.quantizedDimension),
            "scale": float(scale[0]) if scale.size == 1 else None,
            "zero_point": int(np.asarray(q.zeroPoint)[0]) if q.zeroPoint is not None
            and len(q.zeroPoint) else 0}


def read_tflite(path: Path) -> tuple[list[LayerRecord], list[str], dict]:
    """Records for the main subgraph of a .tflite file, its output names, and file info."""
    S = _schema()
    model = load_flatbuffer(path)
    if not model.subgraphs:
        raise ModelFileError(f"cannot read TFLite model {path}: no subgraph")
    ops_names = _names(S.BuiltinOperator)
    types = _names(S.TensorType)
    sg = model.subgraphs[0]
    tensors = sg.tensors
    try:
        def is_const(i: int) -> bool:
            b = model.buffers[tensors[i].buffer] if tensors[i].buffer < len(model.buffers) \
                else None
            return b is not None and ((b.data is not None and len(b.data) > 0) or
                                      (b.size or 0) > 0)

        def shape(i: int) -> tuple[int, ...]:
            s = tensors[i].shape
            dims = tuple(int(d) for d in (s if s is not None else ()))
            return dims[1:] if dims else dims  # per item: no batch dimension

        def tname(i: int) -> str:
            n = tensors[i].name
            return n.decode() if isinstance(n, bytes) else str(n)

        def dtype(i: int) -> str:
            return types.get(tensors[i].type, "?").lower()

        producer: dict[int, str] = {}
        records: list[LayerRecord] = []
        for i in sg.inputs:
            name = tname(i)
            producer[i] = name
            records.append(LayerRecord(len(records), name, "INPUT", output_shape=shape(i),
                                       act_dtype=dtype(i), weight_dtype=dtype(i),
                                       attrs={"quantization": _quant(tensors[i])}))
        for op in sg.operators:
            oc = model.operatorCodes[op.opcodeIndex]
            code = max(oc.builtinCode, oc.deprecatedBuiltinCode)
            opname = ops_names.get(code, f"op{code}")
            if opname == "CUSTOM":
                cc = oc.customCode
                opname = "CUSTOM:" + (cc.decode() if isinstance(cc, bytes) else str(cc))
            ins = [int(i) for i in (op.inputs if op.inputs is not None else []) if i >= 0]
            outs = [int(i) for i in (op.outputs if op.outputs is not None else [])]
            acts = [i for i in ins if not is_const(i)]
            wpos = WEIGHT_INPUTS.get(opname, ())
            weights = [int(op.inputs[p]) for p in wpos
                       if p < len(op.inputs) and op.inputs[p] >= 0 and is_const(int(op.inputs[p]))]
            params = sum(C.numel(tensors[w].shape) for w in weights)
            out_shape = shape(outs[0]) if outs else ()
            in_shapes = [shape(i) for i in acts]
            out_el = C.numel(out_shape)
            macs = other = 0
            known = True
            attrs: dict = {}
            opts = op.builtinOptions
            if opname in ("CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV", "CONV_3D") \
                    and weights:
                f = tuple(int(d) for d in tensors[weights[0]].shape)
                if opname == "CONV_2D":        # filter O, kh, kw, I/groups
                    cin = in_shapes[0][-1] if in_shapes else f[3]
                    groups = max(1, cin // f[3])
                    macs = C.conv_macs(f[1:3], cin, f[0], out_shape[:-1], groups)
                    attrs["groups"] = groups
                elif opname == "DEPTHWISE_CONV_2D":  # filter 1, kh, kw, Cin*mult
                    cin = in_shapes[0][-1] if in_shapes else f[3]
                    mult = f[3] // cin
                    macs = C.depthwise_macs(f[1:3], cin, mult, out_shape[:-1])
                    attrs["depth_multiplier"] = mult
                elif opname == "TRANSPOSE_CONV":   # filter O, kh, kw, I; input is the 3rd
                    data_in = shape(int(op.inputs[2]))
                    macs = C.transposed_conv_macs(f[1:3], f[3], f[0], data_in[:-1])
                else:                               # CONV_3D filter kd, kh, kw, I, O
                    macs = C.conv_macs(f[:3], f[3], f[4], out_shape[:-1])
                attrs["kernel"] = list(f)
                attrs["strides"] = [getattr(opts, "strideH", 1), getattr(opts, "strideW", 1)]
                if len(weights) > 1:
                    other += C.bias_ops(out_el)
            elif opname == "FULLY_CONNECTED" and weights:
                units, n_in = (int(d) for d in tensors[weights[0]].shape[:2])
                positions = out_el // units if units else 0
                macs = C.dense_macs(n_in, units, positions)
                attrs["units"] = units
                if len(weights) > 1:
                    other += C.bias_ops(out_el)
            elif opname == "BATCH_MATMUL":
                a, b = (shape(int(i)) for i in ins[:2])
                macs = C.dense_macs(a[-1], b[-1] if len(b) else 1, C.numel(out_shape[:-1]))
            elif opname in POOL_OPS:
                window = (getattr(opts, "filterHeight", 1), getattr(opts, "filterWidth", 1))
                other = C.pool_ops(window, out_el)
                attrs["pool"] = list(window)
            elif opname in REDUCE_OPS:
                other = C.numel(in_shapes[0]) if in_shapes else 0
            elif opname in ACTIVATION_OPS:
                other = C.activation_ops(out_el)
            elif opname in ELEMENTWISE_OPS:
                other = C.elementwise_ops(max(len(ins), 2), out_el)
            elif opname in ALIAS_OPS or opname in SHAPE_OPS:
                pass
            else:
                known = False
            fused = FUSED_ACTIVATIONS.get(getattr(opts, "fusedActivationFunction", 0) or 0)
            if fused:
                other += C.activation_ops(out_el)
                attrs["activation"] = fused
            if weights:
                attrs["weight_quantization"] = _quant(tensors[weights[0]])
                attrs["weight_dtype"] = dtype(weights[0])
            if outs and _quant(tensors[outs[0]]):
                attrs["output_quantization"] = _quant(tensors[outs[0]])
            name = tname(outs[0]) if outs else f"op{len(records)}"
            rec = LayerRecord(
                index=len(records), name=name, op=opname,
                inputs=[producer[i] for i in acts if i in producer],
                input_shapes=in_shapes, output_shape=out_shape,
                params_trainable=params, macs=macs, other_ops=other, attrs=attrs,
                act_dtype=dtype(outs[0]) if outs else "float32",
                weight_dtype=dtype(weights[0]) if weights else dtype(outs[0]) if outs
                else "float32",
                alias=opname in ALIAS_OPS and bool(acts), counted=known)
            records.append(rec)
            for o in outs:
                producer[o] = name
        outputs = [producer[o] for o in sg.outputs if o in producer]
    except (IndexError, TypeError, AttributeError, KeyError) as e:
        raise ModelFileError(f"cannot read TFLite model {path}: inconsistent graph "
                             f"({type(e).__name__}: {e})") from e
    if not records:
        raise UsageError(f"{path}: the model has no operators")
    info = {"input_shape": list(records[0].output_shape),
            "input_dtype": records[0].act_dtype, "subgraphs": len(model.subgraphs),
            "version": int(model.version)}
    return records, outputs, info
