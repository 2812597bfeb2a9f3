"""ONNX model -> list of LayerRecord. Imports onnx (and onnxruntime), never TensorFlow.

What each tensor is (shape, element type, constant, value) comes from evaluating the graph
(:mod:`edgekit.readers.onnx_graph`); this module maps ops to the shared kinds and reads
the geometry the counting in :mod:`edgekit.core.ops` needs. Conventions (README, "ONNX"):

* Figures are for one call at the bound input sizes: shapes are whole tensors, batch
  included. The batch axis is known only where the file makes axis 0 of its first input
  dynamic (bound by ``--batch``, default 1) or ``--batch`` names it; no other axis 0 is
  taken for a batch.
* Constant subgraphs (decoded, reshaped, sliced weights) are folded into the op that uses
  them. Params are the stored tensors behind an op's weight inputs, each counted once in
  the model (at the first op that uses it), at its stored size; scales and zero points
  that decode them are not params. Weights given as graph inputs have MACs, no params.
  Weight inputs are the op table's (:mod:`edgekit.core.onnx_ops`, by domain: the standard
  ops and onnxruntime's); learned tensors that enter through data movement (a class token
  through Concat or Expand, an embedding through Gather) are params too. An op the table
  does not know counts no params: the stored tensors it reads are named as left out.
* Activation (De)QuantizeLinear pairs are folded: a QDQ model reports the int8 layers.
* If: the branch a known condition takes (else both, the larger counted); Loop/Scan: the
  body x the trip count where known (else once); LSTM/GRU/RNN: the gate matrix products.
"""

from __future__ import annotations

from pathlib import Path

from edgekit.core import counting as C
from edgekit.core import shapes
from edgekit.core.onnx_ops import (
    AFFINE_OPS,
    DATA_MOVEMENT,
    KINDS,
    MS_DOMAIN,
    NCHWC_DOMAIN,
    NCHWC_UNCOUNTED,
    kind_of,
    weights_of,
)
from edgekit.core.ops import MAC_KINDS, Geometry, Kind, count
from edgekit.core.records import LayerRecord
from edgekit.core.shapes import ShapeSpec
from edgekit.readers.onnx_control import expand_function_ops
from edgekit.readers.onnx_file import bind_inputs, check_values, graph_inputs, load_onnx
from edgekit.readers.onnx_geometry import geometry, packed_weights
from edgekit.readers.onnx_graph import INDEX_TYPES, QUANT_OPS, Evaluated, evaluate
from edgekit.readers.onnx_values import node_attrs as _attrs
from edgekit.readers.onnx_values import subgraphs


class _Reader:
    """Records of one evaluated graph, its subgraphs inlined where they run."""

    def __init__(self, ev: Evaluated):
        self.ev = ev
        self.records: list[LayerRecord] = []
        self.producer: dict[str, str] = {}
        self.counted_sources: set = set()
        g = ev.model.graph
        # activation QDQ folding: the tensor behind (De)QuantizeLinear is the same tensor
        self.source = {n.output[0]: n.input[0] for n in g.node
                       if n.op_type in QUANT_OPS and n.input and n.output[0] not in ev.constant}
        self.quantized = {n.input[0]: ev.tensors.get(n.output[0]) for n in g.node
                          if n.op_type == "QuantizeLinear" and n.input}
        # the scales and zero points a dynamic quantization computes, and what is computed
        # from them alone (a weight's scale times the input's): a constant multiplied
        # with one is a scale too, not a weight
        self.quant_params: set[str] = set()
        for n in g.node:
            if n.op_type == "DynamicQuantizeLinear":
                self.quant_params.update(o for o in n.output[1:] if o)
            elif n.op_type in ("Mul", "Div", "Cast", "Identity", "Reshape") and (live := [
                    i for i in n.input if i and i not in ev.constant]) and all(
                    i in self.quant_params for i in live):
                self.quant_params.update(o for o in n.output if o)
        self.names: set[str] = set()

    def origin(self, name: str) -> str:
        seen = 0
        while name in self.source and seen < 16:
            name, seen = self.source[name], seen + 1
        return name

    def shape(self, name: str):
        t = self.ev.tensors.get(name)
        return t.shape if t is not None and t.kind == "tensor" else None

    # -- nodes -----------------------------------------------------------------------------
    def graph(self, graph, prefix: str = "", repeats: int = 1, note: str | None = None,
              feeds: list[str] | None = None) -> list[LayerRecord]:
        start = len(self.records)
        for inp in graph.input if prefix else []:   # a body's inputs come from the node
            self.producer[inp.name] = feeds[0] if feeds else inp.name
        for n in graph.node:
            if n.op_type == "Constant" or (n.output and n.output[0] in self.ev.constant):
                continue
            if n.op_type in QUANT_OPS and n.output and n.output[0] in self.source:
                continue
            if subgraphs(n):
                self.control_flow(n, prefix, repeats)
            else:
                self.records.append(self.node(n, prefix, repeats, note))
                if n.name in self.ev.inlined and not prefix:
                    self.records[-1].attrs["control_flow"] = self.ev.inlined[n.name]
        return self.records[start:]

    def node(self, n, prefix: str, repeats: int, note: str | None) -> LayerRecord:
        ev = self.ev
        ins = [self.origin(i) if i else "" for i in n.input]
        acts = [i for i in ins if i and i not in ev.constant and i in self.producer]
        outs = [o for o in n.output if o]
        out = outs[0] if outs else ""
        out_t = ev.tensors.get(out)
        unknown = any(self.shape(i) is None or -1 in self.shape(i) for i in acts) or any(
            ev.tensors.get(o) is None or (ev.tensors[o].kind == "tensor"
                                          and not ev.tensors[o].static) for o in outs)
        out_shape = self.shape(out) or ()
        in_shapes = [tuple(self.shape(i) or ()) for i in acts]
        attrs = _attrs(n)
        kind = kind_of(n.op_type, n.domain)
        if kind is None:
            kind = Kind.UNKNOWN
            # an op the table does not know may hold multiply-adds (a new standard one
            # that ONNX defines as a function has been expanded into what defines it)
            attrs["mac_bearing"] = True
            if n.domain == NCHWC_DOMAIN:
                attrs["not_counted"] = NCHWC_UNCOUNTED
        elif kind not in MAC_KINDS:
            attrs["mac_bearing"] = False
        op, geometry_ = n.op_type, Geometry()
        if not unknown and kind is not Kind.UNKNOWN:
            shape = [tuple(self.shape(i) or ()) if i else () for i in ins]
            kind, geometry_, op = geometry(n, kind, ins, shape, in_shapes, tuple(out_shape),
                                           attrs)
        macs, other = (0, 0) if unknown or kind is Kind.UNKNOWN else count(
            kind, geometry_, C.numel(out_shape))
        if unknown:
            attrs["unknown_size"] = True
        if repeats != 1 or note:
            attrs["repeats"] = note or repeats
        name = self.unique(prefix + (n.name or out or n.op_type))
        for o in outs:
            self.producer[o] = name
        trainable, non_trainable, wdtype = self.params(n)
        if attrs.get("mac_bearing") is True and (left := self.stored_elements(n)):
            attrs["uncounted_params"] = left   # named in the totals, not counted
        quantized = self.quantized.get(out)
        extra = [{"name": o, "shape": list(self.shape(o)) if self.shape(o) is not None
                  else None, "dtype": _dtype(ev.tensors.get(o))} for o in outs[1:]]
        return LayerRecord(
            index=len(self.records), name=name, op=op,
            inputs=list(dict.fromkeys(self.producer[i] for i in acts)),
            input_shapes=in_shapes, output_shape=tuple(out_shape),
            params_trainable=trainable, params_non_trainable=non_trainable,
            macs=macs * repeats, other_ops=other * repeats, attrs=attrs,
            act_dtype=quantized.dtype if quantized is not None else _dtype(out_t),
            weight_dtype=wdtype, alias=kind is Kind.VIEW and bool(acts),
            counted=kind is not Kind.UNKNOWN and not unknown, unknown_size=unknown,
            extra_outputs=extra)

    def unique(self, name: str) -> str:
        """A record name no other record has (ONNX does not enforce unique node names;
        an expanded function's values may also take a node's name)."""
        if name not in self.names:
            self.names.add(name)
            return name
        k = 2
        while f"{name}#{k}" in self.names:
            k += 1
        self.names.add(f"{name}#{k}")
        return f"{name}#{k}"

    def stored_elements(self, n) -> int:
        """Elements of the stored tensors (numbers, not int64 shapes or indices) behind an
        op the table does not know, that no earlier op counted: weights or not, edgekit
        cannot tell; the params total names the op as leaving them out."""
        seen: set = set()
        for i in n.input:
            if i and i in self.ev.constant:
                seen |= {s for s in self.ev.sources.get(i, ()) if s not in self.counted_sources
                         and (t := self.ev.stored.get(s)) is not None and t.shape is not None
                         and t.dtype not in INDEX_TYPES and t.dtype != "bool"}
        return sum(C.numel(self.ev.stored[s].shape) for s in seen)

    def params(self, n) -> tuple[int, int, str]:
        """(trainable, non-trainable, stored dtype) of the stored tensors behind the node's
        weight inputs that no earlier op counted."""
        ev = self.ev
        wpos, ntpos = weights_of(n.op_type, n.domain)
        if n.op_type in AFFINE_OPS:  # a per-channel Mul/Add (folded batch norm)
            live = [i for i in n.input if i and i not in ev.constant]
            scales = live and all(i in self.quant_params for i in live)
            wpos = () if scales else tuple(
                p for p in AFFINE_OPS[n.op_type] if p < len(n.input)
                and n.input[p] in ev.constant and C.numel(self.shape(n.input[p]) or ()) > 1)
        totals, dtype, largest = [0, 0], "float32", 0
        for which, positions in enumerate((wpos, ntpos)):
            for p in positions:
                if p >= len(n.input) or n.input[p] not in ev.constant:
                    continue
                for s in sorted(ev.sources.get(n.input[p], ())):
                    stored = ev.stored.get(s)
                    if s in self.counted_sources or stored is None or stored.shape is None:
                        continue
                    if n.op_type in DATA_MOVEMENT and (stored.dtype in INDEX_TYPES
                                                       or stored.dtype == "bool"):
                        continue   # shapes, indices, pads: not learned numbers
                    self.counted_sources.add(s)
                    size, stored_as = C.numel(stored.shape), stored.dtype
                    if (n.domain, n.op_type, p) == (MS_DOMAIN, "MatMulNBits", 1):
                        # B packed: N x blocks x bytes, K x N weights of `bits` bits
                        size, stored_as = packed_weights(_attrs(n))
                    totals[which] += size
                    if size > largest:
                        largest, dtype = size, stored_as
        return totals[0], totals[1], dtype

    # -- control flow ------------------------------------------------------------------------
    def control_flow(self, n, prefix: str, repeats: int) -> None:
        ev = self.ev
        name = prefix + (n.name or next((o for o in n.output if o), n.op_type))
        feeds = [self.producer[self.origin(i)] for i in n.input
                 if i and self.origin(i) in self.producer]
        branches = dict(subgraphs(n))
        note = None
        if n.op_type == "If":
            cond = ev.values.get(n.input[0])
            if cond is not None:
                taken = "then_branch" if bool(cond) else "else_branch"
                self.graph(branches[taken], f"{name}/{taken}/", repeats, feeds=feeds)
                note = f"{taken} (its condition is known)"
            else:
                counts = {}
                for which, g in branches.items():
                    counts[which] = self.graph(g, f"{name}/{which}/", repeats, feeds=feeds)
                small = min(counts, key=lambda k: sum(r.macs for r in counts[k]))
                big = next(k for k in counts if k != small)
                for r in counts[small]:
                    r.macs = r.other_ops = 0
                    r.attrs["not_in_totals"] = f"condition unknown: {big} is counted"
                note = f"condition unknown: both branches listed, the larger ({big}) counted"
        else:
            trips = self.trips(n)
            body = next(iter(branches.values()))
            self.graph(body, f"{name}/body/", repeats * (trips or 1), feeds=feeds,
                       note=None if trips else "trip count unknown: the body counted once")
            note = f"{trips} iterations" if trips else "trip count unknown: body counted once"
            if not prefix and name in ev.first_iteration:
                note += "; the body sized by a run of its first iteration"
        record = self.node(_plain(n), prefix, repeats, None)
        record.attrs["control_flow"] = note
        record.inputs = list(dict.fromkeys(record.inputs + [
            self.producer[o.name] for g in branches.values() for o in g.output
            if o.name in self.producer]))
        record.counted = not record.unknown_size
        record.attrs["mac_bearing"] = False
        self.records.append(record)

    def trips(self, n) -> int | None:
        if n.op_type == "Loop":
            m = self.ev.values.get(n.input[0]) if n.input and n.input[0] else None
            return int(m) if m is not None and getattr(m, "size", 1) == 1 else None
        if n.op_type == "Scan":
            scans = int(_attrs(n).get("num_scan_inputs", 0))
            axes = _attrs(n).get("scan_input_axes", [0] * scans)
            first = n.input[len(n.input) - scans] if scans else None
            s = self.shape(first) if first else None
            if s and -1 not in s:
                return s[axes[0] if axes else 0]
        return None


def _plain(n):
    """The node without its subgraphs (its own record: outputs and inputs only)."""
    from onnx import NodeProto

    copy = NodeProto()
    copy.CopyFrom(n)
    keep = [a for a in copy.attribute if not (a.g.ByteSize() or len(a.graphs))]
    del copy.attribute[:]
    copy.attribute.extend(keep)
    return copy


def _dtype(t) -> str:
    if t is None:
        return "float32"
    return t.dtype if t.kind == "tensor" else f"{t.kind} of {t.dtype}"


def read_onnx(path: Path, input_shapes: list[ShapeSpec] | None = None,
              batch: int | None = None, values: dict | None = None
              ) -> tuple[list[LayerRecord], list[str], dict]:
    """Records (whole tensors, one call), output names and file info ('input_shape' of
    the first input, 'input_shapes' as bound, 'unbound_inputs': {input: unknown positions},
    'batch': the bound batch or None where no batch axis is known)."""
    return read_onnx_model(load_onnx(path), input_shapes, batch, values)


def read_onnx_model(model, input_shapes: list[ShapeSpec] | None = None,
                    batch: int | None = None, values: dict | None = None
                    ) -> tuple[list[LayerRecord], list[str], dict]:
    """:func:`read_onnx` of a loaded model (which may be changed: its inputs get the
    sizes; pass a copy to keep it)."""
    values = values or {}
    if model.functions:  # a model's own functions are evaluated as the ops they are made of
        import onnx.inliner

        model = onnx.inliner.inline_local_functions(model)
    model, _ = expand_function_ops(model, KINDS)   # new standard ops, as what defines them
    check_values(model, values)
    bound, known_batch = bind_inputs(model, input_shapes, batch, values)
    ev = evaluate(model, values)
    reader = _Reader(ev)
    for inp in graph_inputs(ev.model):
        reader.producer[inp.name] = inp.name
        reader.names.add(inp.name)
        dims = bound.get(inp.name, ())
        reader.records.append(LayerRecord(
            len(reader.records), inp.name, "Input",
            output_shape=tuple(-1 if d is None else d for d in dims),
            act_dtype=_dtype(ev.tensors.get(inp.name)), unknown_size=None in dims))
    reader.graph(ev.model.graph)
    for i, r in enumerate(reader.records):
        r.index = i
    outputs = [reader.producer[reader.origin(o.name)] for o in ev.model.graph.output
               if reader.origin(o.name) in reader.producer]
    first = reader.records[0] if reader.records and reader.records[0].op == "Input" else None
    info = {"input_shape": list(first.output_shape) if first else [],
            "input_shapes": {k: shapes.format_dims(v) for k, v in bound.items()},
            "unbound_inputs": shapes.unbound(bound), "shapes_from": ev.how,
            "batch": known_batch,
            "opset": max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
                         default=None),
            "producer": model.producer_name}
    return reader.records, outputs, info
