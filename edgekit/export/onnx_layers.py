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
    seen = {n: dq_of[after[n].outputs[0]].outputs[0] if n in after
            and after[n].outputs[0] in dq_of else n for n in names}
    qnode = {op.outputs[0]: op for op in qcap.ops if op.outputs}
    fed = {n: qnode[n].inputs if n in qnode and qnode[n].type == op.type else []
           for op, n in zip(ops, names, strict=True)}     # what the quantized node reads
    ref = capture(float_path, x, want=names, names=inputs).values
    got_cap = capture(quant_path, x, want=list(dict.fromkeys(
        [*seen.values(), *(t for ts in fed.values() for t in ts if t not in qcap.consts)])),
        names=inputs)
    alone = _Alone(fmodel, fcap)
    label = {op.outputs[0]: op.name or op.outputs[0] for op in fcap.ops if op.outputs
             and op.type not in SKIP}      # every node: one the quantizer fused has no row
    made_by = fcap.producer()
    rows, feeds = [], {}
    for op, name in zip(ops, names, strict=True):
        r, g = ref.get(name), got_cap.values.get(seen[name])
        if r is None or g is None or r.shape != g.shape:
            continue
        q = qcap.quant.get(seen[name]) if seen[name] != name else None
        r, g = channels_last(r), channels_last(g)
        e = qe.tensor_error(r, g, q.step if q else None, q.zero_point if q else 0,
                            q.qmin if q else -128, q.qmax if q else 127)
        iso = alone.run(op, fed[name], got_cap.values, g)
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


class _Alone:
    """The isolated view of ONNX nodes: the float node alone (a one-node model with the
    float graph's constants) run in onnxruntime on the quantized file's own inputs to it
    (as the quantized node reads them, after their DequantizeLinear), against the
    quantized file's output; SQNR averaged over channels (axis 1)."""

    def __init__(self, fmodel, fcap):
        from onnx import numpy_helper

        self.model, self.cap = fmodel, fcap
        self.consts = {t.name: t for t in fmodel.graph.initializer}
        for n in fmodel.graph.node:
            value = [a.t for a in n.attribute if a.name == "value"]
            if n.op_type == "Constant" and value and n.output:
                self.consts[n.output[0]] = numpy_helper.from_array(
                    numpy_helper.to_array(value[0]), n.output[0])

    def run(self, op, fed: list, values: dict, got) -> tuple:
        """(isolated SQNR, cosine) of one node, or (None, None) where it cannot run alone
        (its quantized node is another op, a constant it needs is not a tensor)."""
        import onnx
        from onnx import helper

        node = next((n for n in self.model.graph.node if n.output and n.output[0]
                     == op.outputs[0]), None)
        if node is None or len(fed) != len(node.input):
            return None, None
        feeds, graph_in, inits = {}, [], []
        for mine, theirs in zip(node.input, fed, strict=True):
            if not mine:
                continue
            if mine in self.consts:
                inits.append(self.consts[mine])
            elif mine in self.cap.consts or theirs not in values:
                return None, None
            elif mine not in feeds:
                feeds[mine] = values[theirs]
                graph_in.append(helper.make_tensor_value_info(
                    mine, onnx.TensorProto.FLOAT, ["N", *values[theirs].shape[1:]]))
        graph = helper.make_graph([node], "alone", graph_in,
                                  [onnx.ValueInfoProto(name=node.output[0])], inits)
        model = helper.make_model(graph, opset_imports=self.model.opset_import,
                                  ir_version=self.model.ir_version)
        try:
            from edgekit.export.capture import onnx_session

            sess = onnx_session(model, [])
            ref = np.concatenate([sess.run([node.output[0]], {k: v[i:i + 1] for k, v
                                                               in feeds.items()})[0]
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


def preprocessed_file(content: bytes, folder: Path) -> Path:
    """The float model as the quantizer sees it, written into ``folder``."""
    from edgekit.core.files import write_output
    from edgekit.export.converters import preprocessed_onnx

    path = Path(folder) / ".per-layer-float.onnx"
    pre = preprocessed_onnx(content)
    write_output(path, lambda f: f.write(pre))
    return path
