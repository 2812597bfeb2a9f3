"""--per-layer for a source whose artefacts are ``.tflite`` files (a float ``.tflite``, the
TFLite files of a SavedModel): the layers are the float file's own ops, each op's output
tensor in the quantized file compared with the same tensor of the float file, both run in
LiteRT with every tensor kept (reference kernels, no delegate).

ai-edge-quantizer and the TFLite converter keep the float graph's ops and tensor names,
adding QUANTIZE/DEQUANTIZE ops (around an op they leave float). A name is not proof: the
converter names the output of a TRANSPOSE after the op before it. So an op of the float
file is paired with an op of the quantized file only when the structure confirms it: the
same op type, the same output shapes, and its inputs the outputs of ops already paired
(the model inputs pair by position), seen through (de)quantize ops; the tensor name only
chooses among several such ops. An op of a TRANSPOSE or RESHAPE is thus only ever compared
with the same TRANSPOSE or RESHAPE, never with the tensor before it whose shape happens to
agree. Both views are given: accumulated (the file's tensor against the float file's) and
isolated (the float op alone on the file's own inputs to it, against the file's output).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit.core import quant_error as qe

COPIES = {"QUANTIZE", "DEQUANTIZE"}


def _seen_through(cap):
    """tensor key -> the key of the tensor it copies, walked back over (de)quantize ops
    to the output of the op that computes it (or a model input, or a constant)."""
    made_by = cap.producer()

    def back(t):
        for _ in range(8):
            op = made_by.get(t)
            if op is None or op.type not in COPIES or not op.inputs:
                return t
            t = op.inputs[0]
        return t
    return back


def _shapes(it) -> dict:
    return {int(d["index"]): tuple(int(v) for v in d["shape"]) for d in it.get_tensor_details()}


def _activations(cap, back, op) -> list:
    """The op's inputs that are activations, each seen through (de)quantize ops (a weight
    dequantized at run time stays a constant)."""
    return [back(t) for t in op.inputs if t >= 0 and back(t) not in cap.consts]


def pair_ops(fcap, fshape: dict, qcap, qshape: dict) -> list[tuple]:
    """[(float op, quantized op)] confirmed by the structure, in the float file's order."""
    fback, qback = _seen_through(fcap), _seen_through(qcap)
    by_name = {qcap.names.get(t): t for t in qcap.inputs}
    paired = {t: by_name[fcap.names.get(t)] for t in fcap.inputs
              if fcap.names.get(t) in by_name}
    if len(paired) < len(fcap.inputs):      # the model inputs by position
        paired = dict(zip(fcap.inputs, qcap.inputs, strict=False))
    by_inputs: dict = {}
    for op in qcap.ops:
        if op.type not in COPIES and op.outputs:
            key = (op.type, tuple(_activations(qcap, qback, op)))
            by_inputs.setdefault(key, []).append(op)
    found = []
    for op in fcap.ops:
        if op.type in COPIES or not op.outputs:
            continue
        ins = _activations(fcap, fback, op)
        if not all(t in paired for t in ins):
            continue                      # an input the quantized file does not confirm
        cands = [q for q in by_inputs.get((op.type, tuple(paired[t] for t in ins)), [])
                 if len(q.outputs) == len(op.outputs)
                 and all(fshape.get(a) == qshape.get(b)
                         for a, b in zip(op.outputs, q.outputs, strict=True))]
        if len(cands) > 1:
            cands = [q for q in cands if qcap.names.get(q.outputs[0])
                     == fcap.names.get(op.outputs[0])]
        if len(cands) != 1:
            continue
        for a, b in zip(op.outputs, cands[0].outputs, strict=True):
            paired[a] = b
        found.append((op, cands[0]))
    return found


def layer_names(fcap) -> dict:
    """float op output key -> the layer's name: the first part of its tensor name (the
    converter joins the names of fused ops with ';'), the whole name where that part is
    not unique in the file."""
    outs = [op.outputs[0] for op in fcap.ops if op.outputs and op.type not in COPIES]
    full = {t: fcap.names.get(t) or f"tensor{t}" for t in outs}
    short = {t: n.split(";")[0] for t, n in full.items()}
    taken: dict = {}
    for t in outs:
        taken[short[t]] = taken.get(short[t], 0) + 1
    names = {t: short[t] if taken[short[t]] == 1 and short[t] not in
             {full[u] for u in outs if u != t} else full[t] for t in outs}
    seen: dict = {}
    for t in outs:                          # tensors with one name: told apart by index
        if names[t] in seen:
            names[t] = f"{names[t]}#{t}"
        seen[names[t]] = t
    return names


def _read_key(qcap, key):
    """What the ops after ``key`` see: a float output that the file quantizes for them is
    read after its QUANTIZE."""
    if key in qcap.quant:
        return key
    for op in qcap.ops:
        if op.type == "QUANTIZE" and op.inputs and op.inputs[0] == key and op.outputs[0] \
                in qcap.quant:
            return op.outputs[0]
    return key


def tensor_rows(float_path: Path, quant_path: Path, x, names: list[str] | None = None
                ) -> tuple[list[dict], dict]:
    """(one row per paired op of the float file, in its order; layer -> the layers whose
    outputs feed it). ``x``: one array, or one per input named ``names``."""
    from edgekit.export.capture import capture_tflite, tflite_graph

    fit, fcap = tflite_graph(float_path)
    qit, qcap = tflite_graph(quant_path)
    floats = {int(d["index"]) for d in fit.get_tensor_details()
              if d["dtype"] == np.float32}      # activations (not shapes or indices)
    pairs = [(op, q) for op, q in pair_ops(fcap, _shapes(fit), qcap, _shapes(qit))
             if op.outputs[0] in floats]
    label = layer_names(fcap)
    read = {op.outputs[0]: _read_key(qcap, q.outputs[0]) for op, q in pairs}
    fed = {op.outputs[0]: _inputs_of(qcap, q) for op, q in pairs}
    ref = capture_tflite(float_path, x, want=list(read), names=names).values
    got = capture_tflite(quant_path, x, want=list(dict.fromkeys(
        [*read.values(), *(t for ts in fed.values() for t in ts)])), names=names).values
    alone = _Alone(float_path)
    fback = _seen_through(fcap)
    made_by = fcap.producer()
    rows, feeds = [], {}
    for op, _ in pairs:
        t = op.outputs[0]
        r, g = ref.get(t), got.get(read[t])
        if r is None or g is None or r.shape != g.shape:
            continue
        quant = qcap.quant.get(read[t])
        e = qe.tensor_error(r, g, quant.step if quant else None,
                            quant.zero_point if quant else 0, quant.qmin if quant else -128,
                            quant.qmax if quant else 127)
        iso = alone.run(op, [got.get(k) for k in fed[t]], g)
        rows.append(qe.layer_row(label[t], op.type, e, *iso))
        feeds[label[t]] = [label[made_by[a].outputs[0]]
                           for a in _activations(fcap, fback, op)
                           if a in made_by and made_by[a].outputs[0] in label]
    return rows, feeds


def _inputs_of(qcap, q) -> list:
    """The tensors the quantized op reads as activations, in its input order (as they
    are: int8 ones are dequantized when captured)."""
    back = _seen_through(qcap)
    return [t for t in q.inputs if t >= 0 and back(t) not in qcap.consts]


class _Alone:
    """The isolated view: a float op cut out of the float file
    (:class:`edgekit.runtimes.isolate.Graph`) and run alone on the quantized file's own
    inputs to it, against the quantized file's output: the error that op adds, not the
    error it inherits (SQNR averaged over output channels, as for Keras sources)."""

    def __init__(self, float_path: Path):
        from edgekit.core.reading import MODEL_LIMIT, read_input
        from edgekit.runtimes.isolate import Graph

        self.graph = Graph(read_input(float_path, "model", MODEL_LIMIT), str(float_path))

    def run(self, op, inputs: list, got) -> tuple:
        """(isolated SQNR, isolated cosine), or (None, None) where the op cannot run alone
        on those inputs."""
        from edgekit.runtimes.isolate import interpreter

        piece = self.graph.piece(0, op.index)
        if piece.content is None or any(v is None for v in inputs) \
                or len(inputs) != len(piece.inputs):
            return None, None
        try:
            it = interpreter(content=piece.content, xnnpack=False)
            details = it.get_input_details()
            if any(d["dtype"] != np.float32 or tuple(d["shape"][1:]) != v.shape[1:]
                   for d, v in zip(details, inputs, strict=True)):
                return None, None
            out = []
            for i in range(len(got)):
                for d, v in zip(details, inputs, strict=True):
                    it.set_tensor(d["index"], v[i:i + 1].astype(np.float32))
                it.invoke()
                out.append(it.get_tensor(it.get_output_details()[0]["index"]).copy())
        except (ValueError, RuntimeError):   # LiteRT cannot run this op alone
            return None, None
        ref = np.concatenate(out)
        if ref.shape != got.shape:
            return None, None
        return qe.channel_sqnr_db(ref, got), qe.cosine(ref, got)


def op_scopes(float_path: Path) -> dict:
    """layer name -> its op's output tensor names in the float file (what ai-edge-quantizer's
    recipe and the converter's deny list select an op by)."""
    from edgekit.export.capture import tflite_graph

    _, fcap = tflite_graph(float_path)
    names = layer_names(fcap)
    return {names[op.outputs[0]]: [fcap.names[t] for t in op.outputs]
            for op in fcap.ops if op.outputs and op.outputs[0] in names}

