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
from edgekit.core.ops import TFLITE_WEIGHT_DECODERS, Geometry, Kind, count
from edgekit.core.reading import MODEL_LIMIT, read_input
from edgekit.core.records import LayerRecord
from edgekit.core.shapes import MAX_DIM
from edgekit.core.tflite_ops import (
    CALLS,
    KINDS,
    MAC_OPS,
    RECURRENT_WEIGHTS,
    WEIGHT_INPUTS,
    file_text,
    named_subgraphs,
)

# constant inputs of other ops count as params when they hold numbers, not indices/shapes
PARAM_DTYPES = {"float32", "float16", "int8", "uint8", "int16"}
SUB_BYTE = {"int4", "uint4", "int2"}           # packed: two (four) elements a byte
FUSED_ACTIVATIONS = {0: None, 1: "relu", 2: "relu_n1_to_1", 3: "relu6", 4: "tanh",
                     5: "sign_bit", 6: "sigmoid"}


def _schema():
    from ai_edge_litert import schema_py_generated as S

    return S


def load_flatbuffer(path: Path):
    S = _schema()
    data = read_input(path, "TFLite model", MODEL_LIMIT)   # registered, a regular file
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ModelFileError(f"cannot read TFLite model {path}: not a TFLite flatbuffer "
                             "(no TFL3 identifier)")
    try:
        model = S.ModelT.InitFromPackedBuf(data, 0)
    except Exception as e:  # flatbuffers raises struct/index errors on truncated files
        raise ModelFileError(f"cannot read TFLite model {path}: corrupt or truncated "
                             f"flatbuffer ({type(e).__name__})") from e
    _check_dims(model, path)
    return model


def _check_dims(model, path: Path) -> None:
    """A tensor's shape is sizes from 0 to 2^31 - 1; its signature may also hold -1 (a
    dynamic dimension). Anything else is a broken file, refused before it is counted (a
    dimension of -7 would be -896 B of activations)."""
    for k, sg in enumerate(model.subgraphs or []):
        for t in sg.tensors or []:
            for what, dims, low in (("shape", t.shape, 0), ("shape signature",
                                                             t.shapeSignature, -1)):
                bad = [int(d) for d in (dims if dims is not None else ())
                       if not low <= int(d) <= MAX_DIM]
                if bad:
                    name = t.name.decode("utf-8", "replace") if isinstance(
                        t.name, bytes) else str(t.name)
                    raise ModelFileError(
                        f"cannot read TFLite model {path}: tensor {name!r} (subgraph {k}) "
                        f"has a dimension of {bad[0]:,} in its {what} (sizes are 0 to "
                        f"{MAX_DIM:,}{', or -1 where dynamic' if low < 0 else ''})")
            _check_buffer(model, t, k, path)


def _check_buffer(model, t, k: int, path: Path) -> None:
    """A constant tensor's buffer holds what its shape declares (dense tensors of a type of
    a whole number of bytes; sparse and packed ones are read by their own rules): a shape
    of 2^31 - 1 over 4 bytes is a broken file, not 8 GiB of params."""
    S = _schema()
    buffers = model.buffers or []
    b = buffers[t.buffer] if 0 < t.buffer < len(buffers) else None
    held = (len(b.data) if b.data is not None else 0) or int(b.size or 0) if b else 0
    if not held or t.sparsity is not None or t.shape is None:
        return
    name = _names(S.TensorType).get(t.type, "").lower()
    try:
        itemsize = np.dtype(name).itemsize if name not in SUB_BYTE else None
    except TypeError:
        itemsize = None   # strings, resources, variants: no fixed size
    want = C.numel(int(d) for d in t.shape) * itemsize if itemsize else None
    if want is not None and want != held:
        tname = t.name.decode("utf-8", "replace") if isinstance(t.name, bytes) else str(t.name)
        raise ModelFileError(f"cannot read TFLite model {path}: tensor {tname!r} (subgraph "
                             f"{k}) declares {C.numel(int(d) for d in t.shape):,} {name} "
                             f"elements but its buffer holds {held:,} bytes")


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


class _Subgraph:
    """Lookups over the main subgraph: constant tensors, per-item shapes, names, dtypes."""

    def __init__(self, model, S):
        self.model = model
        self.sg = model.subgraphs[0]
        self.tensors = self.sg.tensors
        self.ops_names = _names(S.BuiltinOperator)
        self.types = _names(S.TensorType)
        # weights stored as fp16/int8 (DEQUANTIZE) or sparse (DENSIFY): the op's output is
        # the weight tensor; the stored tensor is where its dtype and params come from
        self.stored_as: dict[int, int] = {}
        self.weight_ops: set[int] = set()
        for k, op in enumerate(self.sg.operators or []):
            ins = [int(i) for i in (op.inputs if op.inputs is not None else []) if i >= 0]
            if (self.op_name(op) in TFLITE_WEIGHT_DECODERS and len(ins) == 1
                    and op.outputs is not None
                    and len(op.outputs) == 1 and self.is_const(ins[0])):
                self.stored_as[int(op.outputs[0])] = self.stored(ins[0])
                self.weight_ops.add(k)
        self.params_seen: set[int] = set()
        first = int(self.sg.inputs[0]) if self.sg.inputs is not None and len(
            self.sg.inputs) else None
        dims = self.full_shape(first) if first is not None else ()
        sig = self.tensors[first].shapeSignature if first is not None else None
        self.file_batch = dims[0] if dims else None
        self.batch_dynamic = sig is not None and len(sig) > 0 and int(sig[0]) == -1

    def has_buffer(self, i: int) -> bool:
        buffers = self.model.buffers
        b = buffers[self.tensors[i].buffer] if self.tensors[i].buffer < len(buffers) else None
        return b is not None and ((b.data is not None and len(b.data) > 0) or (b.size or 0) > 0)

    def is_const(self, i: int) -> bool:
        return i in self.stored_as or self.has_buffer(i)

    def stored(self, i: int) -> int:
        """The tensor a constant is stored in (itself, or the input of its decoders)."""
        while i in self.stored_as:
            i = self.stored_as[i]
        return i

    def params_of(self, consts: list[int]) -> int:
        """Elements of the constants an op consumes as parameters, each stored tensor
        counted once however many ops share it."""
        total = 0
        for i in consts:
            if self.stored(i) not in self.params_seen:
                self.params_seen.add(self.stored(i))
                total += C.numel(self.full_shape(i))
        return total

    def shape(self, i: int) -> tuple[int, ...]:
        """Per-item shape: the tensor without its batch axis. The batch axis is where the
        shape signature is dynamic (a converter marks the batch there: [7, -1, 10] after
        a transpose), else axis 0 when it is the file's batch size (the first input's axis
        0). Other tensors are whole: a leading 7 time steps is not a batch."""
        dims = self.full_shape(i)
        sig = self.tensors[i].shapeSignature
        sig = [int(d) for d in sig] if sig is not None else []
        if self.batch_dynamic and len(sig) == len(dims) and sig.count(-1) == 1:
            k = sig.index(-1)
            return dims[:k] + dims[k + 1:]
        return dims[1:] if dims and dims[0] == self.file_batch else dims

    def full_shape(self, i: int) -> tuple[int, ...]:
        s = self.tensors[i].shape
        return tuple(int(d) for d in (s if s is not None else ()))

    def name(self, i: int) -> str:
        return file_text(self.tensors[i].name)

    def dtype(self, i: int) -> str:
        return self.types.get(self.tensors[i].type, "?").lower()

    def op_name(self, op) -> str:
        oc = self.model.operatorCodes[op.opcodeIndex]
        code = max(oc.builtinCode, oc.deprecatedBuiltinCode)
        name = self.ops_names.get(code, f"op{code}")
        if name == "CUSTOM":
            name = "CUSTOM:" + file_text(oc.customCode)
        return name


def _geometry(opname: str, kind: Kind, op, g_: _Subgraph, weights: list[int],
              in_shapes: list[tuple], out_shape: tuple) -> tuple[Kind, Geometry, dict]:
    """Kind (unknown for a MAC op without constant weights), geometry and attrs."""
    opts = op.builtinOptions
    attrs: dict = {}
    g = Geometry(bias=len(weights) > 1)
    if kind in (Kind.CONV, Kind.DEPTHWISE, Kind.TRANSPOSED_CONV) and weights:
        f = g_.full_shape(weights[0])
        if opname == "CONV_3D":                # filter kd, kh, kw, I, O
            g.kernel, g.cin, g.cout = f[:3], f[3], f[4]
        elif kind is Kind.TRANSPOSED_CONV:     # filter O, kh, kw, I; input is the 3rd
            g.kernel, g.cin, g.cout = f[1:3], f[3], f[0]   # (MediaPipe's custom op: 1st)
            g.in_spatial = g_.shape(int(op.inputs[2 if opname == "TRANSPOSE_CONV" else 0])
                                    )[:-1]
        else:                                  # filter O, kh, kw, I/groups (depthwise 1..)
            g.kernel = f[1:3]
            g.cin = in_shapes[0][-1] if in_shapes else f[3]
            if kind is Kind.CONV:
                g.cout, g.groups = f[0], max(1, g.cin // f[3])
                attrs["groups"] = g.groups
            else:
                g.multiplier = f[3] // g.cin
                attrs["depth_multiplier"] = g.multiplier
        g.out_spatial = out_shape[:-1]
        attrs["kernel"] = list(f)
        attrs["strides"] = [getattr(opts, "strideH", 1), getattr(opts, "strideW", 1)]
    elif opname == "FULLY_CONNECTED" and weights:
        g.cout, g.cin = (int(d) for d in g_.full_shape(weights[0])[:2])
        g.positions = C.numel(out_shape) // g.cout if g.cout else 0
        attrs["units"] = g.cout
    elif opname == "BATCH_MATMUL":
        a, b = (g_.shape(int(i)) for i in op.inputs[:2])
        g.cin, g.cout = a[-1], b[-1] if len(b) else 1
        g.positions = C.numel(out_shape[:-1])
    elif kind is Kind.RECURRENT:
        kind = _recurrent(opname, op, g_, g, attrs)
    elif kind in (Kind.CONV, Kind.DEPTHWISE, Kind.TRANSPOSED_CONV, Kind.DENSE):
        kind = Kind.UNKNOWN
    elif kind is Kind.POOL:
        g.window = (getattr(opts, "filterHeight", 1), getattr(opts, "filterWidth", 1))
        attrs["pool"] = list(g.window)
    elif kind is Kind.GLOBAL_POOL:
        g.in_elements = C.numel(in_shapes[0]) if in_shapes else 0
    elif kind is Kind.ELEMENTWISE:
        g.n_inputs = max(len([i for i in (op.inputs if op.inputs is not None else [])
                              if i >= 0]), 2)
    fused = FUSED_ACTIVATIONS.get(getattr(opts, "fusedActivationFunction", 0) or 0)
    if fused:
        g.activation = True
        attrs["activation"] = fused
    return kind, g, attrs


def _recurrent(opname: str, op, g_: _Subgraph, g: Geometry, attrs: dict) -> Kind:
    """LSTM / RNN geometry from the weight matrices: input-to-gate [cells, inputs] (one
    per gate present: 3 with coupled input and forget gates), recurrent [cells, cells];
    steps from the input's time axis. A projection LSTM is left uncounted (listed)."""
    pos = RECURRENT_WEIGHTS[opname]
    present = [p for p in pos if p < len(op.inputs) and op.inputs[p] >= 0
               and g_.is_const(int(op.inputs[p]))]
    lstm = "LSTM" in opname
    if not present or (lstm and 16 in present):
        return Kind.UNKNOWN
    w = [g_.full_shape(int(op.inputs[p])) for p in present]
    g.directions = 2 if opname.startswith("BIDIRECTIONAL") else 1
    g.gates = sum(1 for p in present if p <= 4) if lstm else 1
    g.hidden, g.cin = w[0][0], w[0][1]
    full = g_.full_shape(int(op.inputs[0]))
    sequence = "SEQUENCE" in opname and len(full) == 3
    time_major = bool(getattr(op.builtinOptions, "timeMajor", False))
    g.steps = (full[0] if time_major else full[1]) if sequence else 1
    attrs.update(units=g.hidden, steps=g.steps, directions=g.directions)
    return Kind.RECURRENT


def _called(op, g_: _Subgraph, seen: set | None = None) -> set[int]:
    """The subgraphs an op runs (WHILE's condition and body, IF's branches, CALL_ONCE,
    StableHLO bodies), and those their ops run in turn."""
    seen = set() if seen is None else seen
    for k in named_subgraphs(op):
        if 0 < k < len(g_.model.subgraphs) and k not in seen:
            seen.add(k)
            for inner in g_.model.subgraphs[k].operators or []:
                _called(inner, g_, seen)
    return seen


def _subgraph_params(called: set[int], g_: _Subgraph) -> int:
    """Elements of the stored constants the ops of called subgraphs consume (a Keras LSTM's
    weights live in its WHILE body), each buffer counted once in the model."""
    total = 0
    for k in sorted(called):
        sg = g_.model.subgraphs[k]
        for inner in sg.operators or []:
            for i in (int(i) for i in (inner.inputs if inner.inputs is not None else [])):
                t = sg.tensors[i] if i >= 0 else None
                b = g_.model.buffers[t.buffer] if t is not None and t.buffer < len(
                    g_.model.buffers) else None
                if (b is None or b.data is None or not len(b.data)
                        or g_.types.get(t.type, "?").lower() not in PARAM_DTYPES):
                    continue
                n = C.numel(tuple(int(d) for d in t.shape)) if t.shape is not None else 0
                if n > 1 and ("buffer", t.buffer) not in g_.params_seen:
                    g_.params_seen.add(("buffer", t.buffer))
                    total += n
    return total


def _mac_bearing(opname: str, op, g_: _Subgraph) -> bool:
    """Could an op that is not counted hold multiply-adds? Ops that run other subgraphs do
    when one of those holds a MAC op; custom ops may (their code is not in the file)."""
    def maybe(name: str) -> bool:
        return name in MAC_OPS or name.startswith("CUSTOM:")

    if maybe(opname):
        return True
    if opname in CALLS:
        return any(maybe(g_.op_name(o)) for k in _called(op, g_)
                   for o in g_.model.subgraphs[k].operators or [])
    return opname not in KINDS


def _op_record(op, g_: _Subgraph, producer: dict[int, str], index: int) -> LayerRecord:
    opname = g_.op_name(op)
    ins = [int(i) for i in (op.inputs if op.inputs is not None else []) if i >= 0]
    outs = [int(i) for i in (op.outputs if op.outputs is not None else [])]
    acts = [i for i in ins if not g_.is_const(i)]
    wpos = WEIGHT_INPUTS.get(opname, ())
    weights = [int(op.inputs[p]) for p in wpos
               if p < len(op.inputs) and op.inputs[p] >= 0 and g_.is_const(int(op.inputs[p]))]
    other_params = [i for i in ins if g_.is_const(i) and i not in weights
                    and g_.dtype(g_.stored(i)) in PARAM_DTYPES
                    and C.numel(g_.full_shape(i)) > 1]
    out_shape = g_.shape(outs[0]) if outs else ()
    in_shapes = [g_.shape(i) for i in acts]
    kind, g, attrs = _geometry(opname, KINDS.get(opname, Kind.UNKNOWN), op, g_, weights,
                               in_shapes, out_shape)
    macs, other = count(kind, g, C.numel(out_shape))
    stored = g_.stored(weights[0]) if weights else None
    if stored is not None:
        attrs["weight_quantization"] = _quant(g_.tensors[stored])
        attrs["weight_dtype"] = g_.dtype(stored)
        if stored != weights[0]:
            attrs["weights_decoded_by"] = "DENSIFY" if g_.tensors[stored].sparsity else \
                "DEQUANTIZE"
    if outs and _quant(g_.tensors[outs[0]]):
        attrs["output_quantization"] = _quant(g_.tensors[outs[0]])
    name = g_.name(outs[0]) if outs else f"op{index}"
    for o in outs:
        producer[o] = name
    extra = [{"name": g_.name(o), "shape": list(g_.shape(o)), "dtype": g_.dtype(o)}
             for o in outs[1:]]
    record = LayerRecord(
        index=index, name=name, op=opname,
        inputs=[producer[i] for i in acts if i in producer],
        input_shapes=in_shapes, output_shape=out_shape,
        params_trainable=g_.params_of(weights + other_params),
        macs=macs, other_ops=other, attrs=attrs,
        act_dtype=g_.dtype(outs[0]) if outs else "float32",
        weight_dtype=g_.dtype(stored) if stored is not None
        else g_.dtype(outs[0]) if outs else "float32",
        alias=kind is Kind.VIEW and bool(acts), counted=kind is not Kind.UNKNOWN,
        extra_outputs=extra)
    if kind is Kind.UNKNOWN:
        record.attrs["mac_bearing"] = _mac_bearing(opname, op, g_)
    if opname in CALLS:
        record.params_trainable += _subgraph_params(_called(op, g_), g_)
    return record


def read_tflite(path: Path) -> tuple[list[LayerRecord], list[str], dict]:
    """Records for the main subgraph of a .tflite file, its output names, and file info."""
    model = load_flatbuffer(path)
    if not model.subgraphs:
        raise ModelFileError(f"cannot read TFLite model {path}: no subgraph")
    g_ = _Subgraph(model, _schema())
    producer: dict[int, str] = {}
    records: list[LayerRecord] = []
    try:
        for i in g_.sg.inputs:
            name = g_.name(i)
            producer[i] = name
            records.append(LayerRecord(len(records), name, "INPUT", output_shape=g_.shape(i),
                                       act_dtype=g_.dtype(i), weight_dtype=g_.dtype(i),
                                       attrs={"quantization": _quant(g_.tensors[i])}))
        for k, op in enumerate(g_.sg.operators or []):
            if k not in g_.weight_ops:  # decoding a weight is not a layer
                records.append(_op_record(op, g_, producer, len(records)))
        outputs = [producer[o] for o in g_.sg.outputs if o in producer]
    except (IndexError, TypeError, AttributeError, KeyError) as e:
        raise ModelFileError(f"cannot read TFLite model {path}: inconsistent graph "
                             f"({type(e).__name__}: {e})") from e
    if not records:
        raise UsageError(f"{path}: the model has no operators")
    info = {"input_shape": list(records[0].output_shape),
            "input_dtype": records[0].act_dtype, "subgraphs": len(model.subgraphs),
            "version": int(model.version)}
    return records, outputs, info
