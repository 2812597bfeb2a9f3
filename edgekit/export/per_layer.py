"""Each layer of a quantized file against the same layer of the float Keras model.

The Keras model is cut into *groups* (:mod:`edgekit.export.layer_groups`): a layer and the
batch norm, activation and dropout layers that follow it alone (the converters fuse them
into one op), named by the first layer: the ``layer`` of a row, the name ``--keep-float``
takes. The file's ops are mapped to
groups by the Keras names the converters keep in tensor and node names
(:mod:`edgekit.core.layermatch`); an op without one (a (de)quantize, reshape or cast) goes
to the group of the op that made its input. A group's tensor in the file is the last
output of its ops that is a float (or dequantized) activation of the layer's size.

Two views, on the same samples:

* accumulated: the file's tensor against Keras' (what the quantized model computes, every
  error before it included): ``sqnr_db``, ``cosine``, ``max_abs_error``, the tensor's
  quantization ``step``, ``clipped_share``, ``collapsed_share``;
* isolated: the float layer run on the file's own input to that layer (the output of the
  groups before it, as the file computed them), against the file's output: the error this
  layer adds, not the error it inherits (TensorFlow's QuantizationDebugger calls this the
  layer-wise mode). ``isolated_sqnr_db`` is averaged over output channels, so that one
  channel whose range swamps the others cannot hide them. It costs one call of each Keras
  layer on arrays already captured: no extra conversion, no cut-out model. The first layer's
  isolated error includes the quantization of the model input.

When the model ends in softmax (or sigmoid), the last group is compared on its input (the
logits), as is the model-level figure (:func:`logits_reference`, :func:`file_logits`).
"""

from __future__ import annotations

import numpy as np

from edgekit.core import quant_error as qe
from edgekit.core.layermatch import by_length, find
from edgekit.export.capture import PASS_OPS, Capture, capture, graph
from edgekit.export.layer_groups import (  # noqa: F401  (the per-layer API, in one place)
    INPUT,
    Group,
    KerasGraph,
    input_value,
    is_input,
    keras_groups,
    keras_references,
    logits_reference,
    rows_of,
    run_group,
)

MAX_SAMPLES = 256               # per-layer figures on at most this many samples
MEMORY_BUDGET = 768 * 2**20     # bytes of kept tensors (Keras' and the file's) per artefact
MIN_SAMPLES = 8


def to_keras_layout(v: np.ndarray, ref: np.ndarray) -> np.ndarray | None:
    """The file's tensor in Keras' layout: as it is, channels moved last (NCHW -> NHWC),
    or reshaped when only singleton axes differ; None when it cannot be the same tensor."""
    if v.shape == ref.shape:
        if v.ndim == 4 and v.shape[1] == v.shape[2] == v.shape[3]:
            moved = np.transpose(v, (0, 2, 3, 1))    # H == W == C: both readings fit
            if qe.cosine(ref, moved) > qe.cosine(ref, v) + 1e-6:
                return moved
        return v
    if v.ndim == 4 and np.transpose(v, (0, 2, 3, 1)).shape == ref.shape:
        return np.transpose(v, (0, 2, 3, 1))
    if v.size == ref.size and [d for d in v.shape if d != 1] == \
            [d for d in ref.shape if d != 1]:
        return v.reshape(ref.shape)
    return None


def _downstream(cap: Capture, start_op) -> set[int]:
    """Indices (in cap.ops) of ``start_op`` and every op that uses its results."""
    tainted, out = set(start_op.outputs), set()
    for k, op in enumerate(cap.ops):
        if op is start_op or any(t in tainted for t in op.inputs):
            out.add(k)
            tainted |= set(op.outputs)
    return out


def _layer_of(cap: Capture, op, names: list[str], consts: dict) -> list[str]:
    """The Keras layers an op's name points at; for a renamed op (tf2onnx's 'Conv__37'),
    those that the names of its weights point at, through the constant ops that made
    them (a reshape or a dequantize of the stored bias)."""
    if cap.fmt == "tflite":
        hits = [find(chunk, names) for chunk in op.name.split(";")]
    else:
        hits = [find(op.name, names)]
    hits = [h for h in hits if h]
    if not hits and op.type not in PASS_OPS:
        hits = [h for t in op.inputs if t in consts
                for n in consts[t] for h in [find(n, names)] if h]
    return hits


def match(cap: Capture, kg: KerasGraph) -> tuple[dict, dict]:
    """({group: the tensor keys its ops output, in execution order}, {tensor key: group})
    for every op before the final softmax/sigmoid; the logits group gets the final
    activation's input. The group's tensor is the last of its candidates that is a float
    (or dequantized) activation of the right size: a DynamicQuantizeLinear's integers, a
    scale or a shape after it are not."""
    names = by_length(kg.group_of)
    # constant tensor -> the names it was made from (its own and its inputs')
    consts: dict = {t: [str(cap.names.get(t, t))] for t in cap.consts}
    final = cap.final_activation()
    skip = _downstream(cap, _final_op(cap)) if final else set()
    tensor_group: dict = {t: INPUT for t in cap.inputs}
    cands: dict[str, list] = {}
    for k, op in enumerate(cap.ops):
        acts = [t for t in op.inputs if t not in consts and t != "" and t != -1]
        if not acts:       # a weight decoded or reshaped at load: a constant
            made_of = [n for t in op.inputs if t in consts for n in consts[t]]
            for t in op.outputs:
                consts[t] = [str(cap.names.get(t, t)), *made_of]
            continue
        if k in skip:
            continue
        hits = _layer_of(cap, op, names, consts)
        if hits:
            g = kg.group_of[max(hits, key=lambda n: kg.order.get(n, -1))]
        elif op.type in PASS_OPS and len(acts) == 1:
            g = tensor_group.get(acts[0])
        else:
            g = None
        for t in op.outputs:
            tensor_group[t] = g
        if g:
            cands.setdefault(g, []).extend(op.outputs)
    lg = kg.logits_group()
    if final and lg is not None:
        cands[lg.name] = [final[1]]
    return cands, tensor_group


def _final_op(cap: Capture):
    final = cap.final_activation()
    key = final[1]
    return next(op for op in cap.ops if key in op.inputs
                and op.type in ("SOFTMAX", "Softmax", "LOGISTIC", "Sigmoid"))


def _row(g: Group, ref, got, q, iso_ref) -> dict:
    e = qe.tensor_error(ref, got, q.step if q else None, q.zero_point if q else 0,
                        q.qmin if q else -128, q.qmax if q else 127)
    iso = None if iso_ref is None else qe.channel_sqnr_db(iso_ref, got)
    iso_cos = None if iso_ref is None else qe.cosine(iso_ref, got)
    return qe.layer_row(g.name, g.op + (" (logits)" if g.logits else ""), e, iso, iso_cos)


def sample_count(model, kg: KerasGraph, available: int) -> int:
    """How many samples the per-layer figures use: at most MAX_SAMPLES, and few enough that
    every group's output, kept for Keras and for the file (about three copies with the
    file's (de)quantized ones), fits in MEMORY_BUDGET; at least MIN_SAMPLES."""
    per_sample = 0
    for g in kg.groups:
        shape = model.get_layer(g.members[-1]).output.shape[1:]
        if all(isinstance(d, int) for d in shape):
            per_sample += 4 * int(np.prod(shape))
    fits = MEMORY_BUDGET // max(1, 3 * per_sample)
    return int(min(available, MAX_SAMPLES, max(MIN_SAMPLES, fits)))


# a file tensor is the Keras layer's output when, on the float file, it equals it this well
VERIFY_SQNR_DB = 40.0


def layouts(v: np.ndarray, ref: np.ndarray):
    """(name, the file's tensor in Keras' shape) for every reading that fits the shape:
    as it is, each axis permutation that keeps the batch first, a reshape."""
    from itertools import permutations

    seen = set()
    if v.shape == ref.shape:
        seen.add(tuple(range(v.ndim)))
        yield "as is", v
    if v.ndim == ref.ndim and v.ndim <= 5:
        for rest in permutations(range(1, v.ndim)):
            perm = (0, *rest)
            if perm not in seen and tuple(v.shape[p] for p in perm) == ref.shape:
                seen.add(perm)
                yield f"transpose{perm}", np.transpose(v, perm)
    if v.size == ref.size and v.shape != ref.shape:
        yield "reshape", v.reshape(ref.shape)


def _apply(layout: str, v: np.ndarray, ref: np.ndarray) -> np.ndarray | None:
    return next((w for name, w in layouts(v, ref) if name == layout), None)


def _op_keys(cap: Capture, tensor_group: dict) -> dict:
    """tensor key -> (group, the computing op's type, its rank among the group's ops of
    that type): the same op in the float file and in the quantized one, walking back over
    (de)quantize ops and casts (which only the quantized file has)."""
    made_by = cap.producer()
    rank: dict = {}
    op_rank: dict[int, int] = {}
    for op in cap.ops:
        g = next((tensor_group.get(t) for t in op.outputs if tensor_group.get(t)), None)
        if g is not None and op.type not in QUANT_OPS:
            op_rank[id(op)] = rank.get((g, op.type), 0)
            rank[(g, op.type)] = op_rank[id(op)] + 1
    keys = {}
    for t, g in tensor_group.items():
        op, hops = made_by.get(t), 0
        while op is not None and op.type in QUANT_OPS and hops < 4:
            acts = cap.activations(op)
            op, hops = (made_by.get(acts[0]) if acts else None), hops + 1
        if op is not None and id(op) in op_rank:
            keys[t] = (g, op.type, op_rank[id(op)])
    return keys


QUANT_OPS = {"QUANTIZE", "DEQUANTIZE", "QuantizeLinear", "DequantizeLinear", "Cast"}
# activations a quantizer may fold into the range of the op before them (QDQ drops a Relu
# after a Conv: the output's zero point clips): the float file's Relu output is then the
# quantized file's Conv output
FOLDABLE = {"Relu", "Clip", "RELU", "RELU6", "RELU_N1_TO_1"}


def _folded_key(cap: Capture, key, keys: dict):
    """The op key of what feeds the foldable activation that made ``key``, or None."""
    op = cap.producer().get(key)
    if op is None or op.type not in FOLDABLE:
        return None
    acts = cap.activations(op)
    return keys.get(acts[0]) if acts else None


def verified_pairings(float_path, kg: KerasGraph, refs: dict, x) -> dict:
    """{group: (op key, layout)} of the pairings the float file confirms: the file tensor,
    read in that layout, equals the Keras layer's output within VERIFY_SQNR_DB. A group
    whose candidates all contradict Keras gets none (it gets no row). ``x``: one array,
    or one per Keras input."""
    cands, tensor_group = match(graph(float_path), kg)
    cap = capture(float_path, x, want=[k for keys in cands.values() for k in keys],
                  names=kg.inputs)
    keys = _op_keys(cap, tensor_group)
    out = {}
    for g in kg.groups:
        ref = refs[g.name]
        for key in reversed(cands.get(g.name, [])):
            if key not in cap.values or key not in keys:
                continue
            hit = next((name for name, w in layouts(cap.values[key], ref)
                        if qe.sqnr_db(ref, w) >= VERIFY_SQNR_DB), None)
            if hit is not None:
                out[g.name] = (keys[key], hit, _folded_key(cap, key, keys))
                break
    return out


def compare_layers(model, path, x, kg: KerasGraph | None = None,
                   refs: dict | None = None, verified: dict | None = None) -> list[dict]:
    """One row per Keras group that the file has a tensor for, in execution order, on the
    first samples of ``x`` (one array, or one per Keras input; as many as ``refs`` holds,
    or :func:`sample_count`). Only the
    tensors that can be a group's are kept from the file. With ``verified``
    (:func:`verified_pairings` of the float file), a group's tensor is the one the float
    file confirmed, in the layout it confirmed; a group without one has no row."""
    kg = kg or keras_groups(model)
    available = len(x) if isinstance(x, np.ndarray) else len(x[0])
    n = len(next(iter(refs.values()))) if refs else sample_count(model, kg, available)
    x = rows_of(x, slice(0, n))
    refs = refs if refs else keras_references(model, kg, x)
    cands, tensor_group = match(graph(path), kg)
    cap = capture(path, x, want=[k for keys in cands.values() for k in keys],
                  names=kg.inputs)
    got: dict[str, np.ndarray] = {}
    key_of: dict[str, object] = {}
    keys = _op_keys(cap, tensor_group) if verified is not None else {}
    for g in kg.groups:
        want = verified.get(g.name) if verified is not None else None
        here = {keys.get(k) for k in cands.get(g.name, [])}
        if want is not None and want[0] not in here and want[2] in here:
            want = (want[2], want[1], None)      # the activation folded into its op
        for key in reversed(cands.get(g.name, [])):
            if key not in cap.values:
                continue
            if verified is not None:
                v = _apply(want[1], cap.values[key], refs[g.name]) \
                    if want is not None and keys.get(key) == want[0] else None
            else:
                v = to_keras_layout(cap.values[key], refs[g.name])
            if v is not None:
                got[g.name], key_of[g.name] = v, key
                break
    rows = []
    groups = kg.by_name()
    for g in kg.groups:
        if g.name not in got:
            continue
        ins = [_file_input(model, groups, s, x, got) for s in g.sources]
        iso_ref = run_group(model, g, ins) if ins and all(v is not None for v in ins) \
            else None
        rows.append(_row(g, refs[g.name], got[g.name], cap.quant.get(key_of[g.name]),
                         iso_ref))
    return rows


def _file_input(model, groups: dict, source: str, x, got: dict, depth: int = 0):
    """The file's value of a group's input: the source group's tensor in the file; a source
    that has none (a padding or reshape the converter folded into the next op) is run in
    float on its own inputs from the file."""
    if is_input(source):
        return input_value(x, source)
    if source in got:
        return got[source]
    g = groups.get(source)
    if g is None or depth > 4:
        return None
    ins = [_file_input(model, groups, s, x, got, depth + 1) for s in g.sources]
    if not ins or any(v is None for v in ins):
        return None
    got[source] = run_group(model, g, ins)
    return got[source]


def summary(rows: list[dict]) -> str | None:
    """One sentence naming the worst layer (isolated view) and why."""
    w = qe.worst(rows)
    if w is None:
        return None
    acc = qe.worst(rows, "sqnr_db")
    iso = qe.as_float(w["isolated_sqnr_db"])
    if qe.standing_out(rows) is None:
        text = (f"no layer stands out: each adds about the error of its own rounding "
                f"(lowest isolated SQNR {iso:.1f} dB, {w['layer']})")
        if acc is not None:
            text += (f"; the error accumulates along depth to "
                     f"{qe.as_float(acc['sqnr_db']):.1f} dB at {acc['layer']}")
        return text
    text = (f"worst layer: {w['layer']} ({w['op']}), isolated SQNR {iso:.1f} dB: "
            f"{qe.why(w)}")
    if acc is not None and acc["layer"] != w["layer"]:
        text += (f"; the accumulated error is largest at {acc['layer']} "
                 f"({qe.as_float(acc['sqnr_db']):.1f} dB), after it")
    return text


# ---- the model-level figure on the logits --------------------------------------------------

def file_logits(path, x: np.ndarray) -> np.ndarray | None:
    """The file's tensor entering its final softmax/sigmoid on ``x``, or None."""
    final = graph(path).final_activation()
    if final is None:
        return None
    cap = capture(path, x, want=[final[1]])
    return cap.values.get(final[1])


def output_step(path) -> float | None:
    """The quantization step of the file's (first) output, when it is quantized."""
    cap = graph(path)
    q = cap.quant.get(cap.outputs[0])
    if q is None and cap.fmt == "tflite":
        made = cap.producer().get(cap.outputs[0])
        if made is not None and made.type == "DEQUANTIZE":
            q = cap.quant.get(cap.activations(made)[0])
    return q.step if q else None
