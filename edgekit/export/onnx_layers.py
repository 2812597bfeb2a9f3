"""--per-layer for the ONNX files of a source that is not Keras (a float ONNX, the tf2onnx
file of a SavedModel): the layers are the float graph's own nodes. The
static quantizer keeps every node of the graph it starts from (onnxruntime's
``quant_pre_process`` output) and its output tensor names, adding (de)quantize ops around
them; so each node's output in the quantized file is read under the same name and compared
with the same tensor of the pre-processed float graph, both run in onnxruntime on the
validation samples: the accumulated view, the error each tensor carries from everything
before it. The isolated view runs each float node alone on the quantized file's own inputs
to it (:class:`_Alone`). Per-channel figures take axis 1 as the channels (ONNX's NCHW)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit.core import quant_error as qe

MAX_SAMPLES = 64
SKIP = {"Constant", "Shape", "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"}


def node_rows(float_path: Path, quant_path: Path, x, inputs: list[str] | None = None
              ) -> tuple[list[dict], dict]:
    """(one row per node of the float graph whose float output the quantized file has
    under the same name, in execution order; node -> the nodes whose outputs feed it,
    every node, rows or not).
    ``x``: one array, or one per input named ``inputs`` (the graph's input names)."""
    from edgekit.export.capture import capture, onnx_graph

    x = x[:MAX_SAMPLES] if isinstance(x, np.ndarray) else [a[:MAX_SAMPLES] for a in x]
    fmodel, fcap = onnx_graph(float_path)
    _, qcap = onnx_graph(quant_path)
    qmade = {t for op in qcap.ops for t in op.outputs}
    ops = [op for op in fcap.ops if op.type not in SKIP and op.outputs
           and op.outputs[0] in qmade and op.outputs[0] not in fcap.consts]
    names = [op.outputs[0] for op in ops]
    # what the next nodes see: a tensor the file quantizes is read after its
    # QuantizeLinear -> DequantizeLinear (the quantizer may also have folded a Relu there)
    after = {op.inputs[0]: op for op in qcap.ops if op.type == "QuantizeLinear"}
    dq_of = {op.inputs[0]: op for op in qcap.ops if op.type == "DequantizeLinear"}

    def read(t):
        if t in after and after[t].outputs[0] in dq_of:
            return dq_of[after[t].outputs[0]].outputs[0]
        return t if t in qmade or t in qcap.inputs else None

    seen = {n: read(n) or n for n in names}
    made_by = fcap.producer()
    plans = {n: _plan(op, fcap, made_by, read) for op, n in zip(ops, names, strict=True)}
    ref = capture(float_path, x, want=names, names=inputs).values
    got_cap = capture(quant_path, x, want=list(dict.fromkeys(
        [*seen.values(), *(t for p in plans.values() if p for t in p[1].values())])),
        names=inputs)
    alone = _Alone(fmodel, fcap)
    label = {op.outputs[0]: op.name or op.outputs[0] for op in fcap.ops if op.outputs
             and op.type not in SKIP}      # every node: one the quantizer fused has no row
    rows = []
    for op, name in zip(ops, names, strict=True):
        r, g = ref.get(name), got_cap.values.get(seen[name])
        if r is None or g is None or r.shape != g.shape:
            continue
        q = qcap.quant.get(seen[name]) if seen[name] != name else None
        r, g = channels_last(r), channels_last(g)
        e = qe.tensor_error(r, g, q.step if q else None, q.zero_point if q else 0,
                            q.qmin if q else -128, q.qmax if q else 127)
        iso = alone.run(op, plans[name], got_cap.values, g)
        rows.append(qe.layer_row(op.name or name, op.type, e, *iso))
    feeds = {label[op.outputs[0]]: [label[made_by[t].outputs[0]]
                                    for t in fcap.activations(op)
                                    if t in made_by and made_by[t].outputs[0] in label]
             for op in fcap.ops if op.outputs and op.outputs[0] in label}
    return rows, feeds


def channels_last(v: np.ndarray) -> np.ndarray:
    """An ONNX tensor (N, C, ...) with its channels last, as the per-channel figures
    (collapse, range, the isolated SQNR) read them."""
    return np.moveaxis(v, 1, -1) if v.ndim >= 3 else v


def _plan(op, fcap, made_by, read, most: int = 4):
    """(the float nodes to run for ``op``'s isolated figure, in graph order; float tensor
    -> the quantized file's tensor fed for it): ``op`` and the nodes the quantizer fused
    into it (their outputs are not in the quantized file), back to tensors the quantized
    file has; None past ``most`` nodes."""
    nodes, fed, todo = [op], {}, list(fcap.activations(op))
    while todo:
        t = todo.pop()
        if t in fed or any(t in n.outputs for n in nodes):
            continue
        if read(t) is not None:
            fed[t] = read(t)
            continue
        if t not in made_by or len(nodes) >= most:
            return None
        nodes.append(made_by[t])
        todo += fcap.activations(made_by[t])
    return sorted(nodes, key=lambda n: n.index), fed


class _Alone:
    """The isolated view of ONNX nodes: the float node alone (with the nodes the quantizer
    fused into it: a Conv before its Relu), as a small model with the float graph's
    constants, run in onnxruntime on the quantized file's own inputs to it (as its nodes
    read them, after their DequantizeLinear), against the quantized file's output; SQNR
    averaged over channels (axis 1)."""

    def __init__(self, fmodel, fcap):
        from onnx import numpy_helper

        self.model, self.cap = fmodel, fcap
        self.consts = {t.name: t for t in fmodel.graph.initializer}
        for n in fmodel.graph.node:
            value = [a.t for a in n.attribute if a.name == "value"]
            if n.op_type == "Constant" and value and n.output:
                self.consts[n.output[0]] = numpy_helper.from_array(
                    numpy_helper.to_array(value[0]), n.output[0])

    def run(self, op, plan, values: dict, got) -> tuple:
        """(isolated SQNR, cosine) of one node, or (None, None) where it cannot run alone
        (a constant it needs is not a tensor, onnxruntime refuses the piece)."""
        import onnx
        from onnx import helper

        if plan is None or any(q not in values for q in plan[1].values()):
            return None, None
        nodes = [self.model.graph.node[n.index] for n in plan[0]]
        needed = {t for n in nodes for t in n.input if t and t not in plan[1]}
        made = {t for n in nodes for t in n.output}
        if any(t not in self.consts and t not in made for t in needed):
            return None, None
        graph = helper.make_graph(
            nodes, "alone",
            [helper.make_tensor_value_info(t, onnx.TensorProto.FLOAT,
                                           ["N", *values[q].shape[1:]])
             for t, q in plan[1].items()],
            [onnx.ValueInfoProto(name=op.outputs[0])],
            [self.consts[t] for t in sorted(needed) if t in self.consts])
        model = helper.make_model(graph, opset_imports=self.model.opset_import,
                                  ir_version=self.model.ir_version)
        try:
            from edgekit.export.capture import onnx_session

            sess = onnx_session(model, [])
            ref = np.concatenate([sess.run([op.outputs[0]], {
                t: values[q][i:i + 1] for t, q in plan[1].items()})[0]
                for i in range(len(got))])
        except Exception:  # noqa: BLE001  onnxruntime's own classes: not runnable alone
            return None, None
        ref = channels_last(ref.astype(np.float32))
        if ref.shape != got.shape:
            return None, None
        return qe.channel_sqnr_db(ref, got), qe.cosine(ref, got)


def summary(rows: list[dict], what: str = "a float ONNX source: nodes of its graph"
            ) -> str | None:
    """Where the accumulated error is largest, and where it first drops most."""
    scored = [r for r in rows if qe.as_float(r["sqnr_db"]) is not None]
    if not scored:
        return None
    low = min(scored, key=lambda r: qe.as_float(r["sqnr_db"]))
    drops = [(qe.as_float(a["sqnr_db"]) - qe.as_float(b["sqnr_db"]), b)
             for a, b in zip(scored, scored[1:], strict=False)
             if np.isfinite(qe.as_float(a["sqnr_db"]))]
    text = (f"the accumulated error is largest at {low['layer']} ({low['op']}, "
            f"{qe.as_float(low['sqnr_db']):.1f} dB)")
    if drops:
        d, node = max(drops, key=lambda t: t[0])
        if d > 3:
            text += f"; the largest single drop ({d:.1f} dB) is at {node['layer']} ({node['op']})"
    return text + f" ({what}, accumulated view)"

