"""--per-layer for the ONNX files of a source that is not Keras (a float ONNX, the tf2onnx
file of a SavedModel): the layers are the float graph's own nodes. The
static quantizer keeps every node of the graph it starts from (onnxruntime's
``quant_pre_process`` output) and its output tensor names, adding (de)quantize ops around
them; so each node's output in the quantized file is read under the same name and compared
with the same tensor of the pre-processed float graph, both run in onnxruntime on the
validation samples. Only the accumulated view is given (``isolated_sqnr_db`` is None): the
error each tensor carries from everything before it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit.core import quant_error as qe

MAX_SAMPLES = 64
SKIP = {"Constant", "Shape", "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"}


def node_rows(float_path: Path, quant_path: Path, x, inputs: list[str] | None = None
              ) -> tuple[list[dict], dict]:
    """(one row per node of the float graph whose float output the quantized file has
    under the same name, in execution order; layer -> the layers whose outputs feed it).
    ``x``: one array, or one per input named ``inputs`` (the graph's input names)."""
    from edgekit.export.capture import capture, onnx_graph

    x = x[:MAX_SAMPLES] if isinstance(x, np.ndarray) else [a[:MAX_SAMPLES] for a in x]
    _, fcap = onnx_graph(float_path)
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
    ref = capture(float_path, x, want=names, names=inputs).values
    got_cap = capture(quant_path, x, want=list(seen.values()), names=inputs)
    label = {op.outputs[0]: op.name or op.outputs[0] for op in fcap.ops if op.outputs
             and op.type not in SKIP}      # every node: one the quantizer fused has no row
    made_by = fcap.producer()
    rows, feeds = [], {}
    for op, name in zip(ops, names, strict=True):
        r, g = ref.get(name), got_cap.values.get(seen[name])
        if r is None or g is None or r.shape != g.shape:
            continue
        q = qcap.quant.get(seen[name]) if seen[name] != name else None
        e = qe.tensor_error(r, g, q.step if q else None, q.zero_point if q else 0,
                            q.qmin if q else -128, q.qmax if q else 127)
        rows.append(qe.layer_row(op.name or name, op.type, e))
        feeds[op.name or name] = [label[made_by[t].outputs[0]]
                                  for t in fcap.activations(op)
                                  if t in made_by and made_by[t].outputs[0] in label]
    return rows, feeds


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
