"""Graph evaluation within a memory budget: what a run may hold, and, when the whole graph
would hold more (a model analyzed at 1x3x10^6x10^6, or only large), the evaluation of just
what shapes and constants need.

A run of the whole graph holds every tensor at once (the evaluator exposes them all); its
cost is estimated first from the sizes inference gives (an op inference cannot size is
taken to make an output as large as its largest input). Within :data:`RUN_BUDGET` the graph
runs as it is. Beyond it no input is fed: only the *determined* tensors are computed (those
that depend on initializers, ``Constant`` nodes, the values a user gave, and the sizes of
sized tensors: ``Shape`` / ``Size`` of a tensor inference sized is its known dims), node by
node in rounds, each node only when inference knows its outputs' sizes and they fit the
budget; each round's values are folded into a copy of the graph as constants, so that
inference sizes what they shape (``Reshape`` to a computed shape, ``Expand``, ``Tile``,
``Resize`` to computed sizes...). Every other tensor is sized by inference alone: its
counts hold at any declared size, nothing of that size is ever allocated.
"""

from __future__ import annotations

from edgekit.readers.onnx_values import RANDOM_OPS, Tensor, subgraphs, unloaded

RUN_BUDGET = 1 << 30      # bytes every tensor of one run may hold together
MAX_ROUNDS = 8            # fold-and-infer rounds of the bounded evaluation
FOLDED_ELEMENTS = 1 << 16  # computed values folded as constants (shapes, indices, small)


def nbytes(t: Tensor | None) -> int | None:
    """Bytes of a sized tensor (None when its size or element type is not known)."""
    import numpy as np

    if t is None or not t.static:
        return None
    try:
        size = np.dtype(t.dtype).itemsize
    except TypeError:
        size = 8 if t.dtype == "string" else 1   # strings, 4-bit types: a lower bound
    n = size
    for d in t.shape:
        n *= d
    return n


def run_cost(model, tensors: dict[str, Tensor]) -> int:
    """Estimated bytes of a run of the whole graph with every tensor exposed: the graph
    inputs and every node output, at the sizes known (an output of unknown size at the
    size of its node's largest input)."""
    inits = {i.name for i in model.graph.initializer}
    est: dict[str, int] = {}
    total = 0
    for inp in model.graph.input:
        if inp.name not in inits:
            est[inp.name] = nbytes(tensors.get(inp.name)) or 0
            total += est[inp.name]
    for n in model.graph.node:
        largest = max((est.get(i, 0) for i in n.input if i), default=0)
        for o in n.output:
            if o:
                size = nbytes(tensors.get(o))
                est[o] = largest if size is None else size
                total += est[o]
    return total


def _shape_value(node, t: Tensor):
    """The value of ``Shape`` (with its start/end) or ``Size`` of a sized tensor."""
    import numpy as np
    from onnx import helper

    if node.op_type == "Size":
        n = 1
        for d in t.shape:
            n *= d
        return np.array(n, np.int64)
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    dims = list(t.shape)
    start, end = int(attrs.get("start", 0)), attrs.get("end")
    return np.array(dims[start:None if end is None else int(end)], np.int64)


def _fold(probe, values: dict) -> None:
    """Replace, in ``probe``, each node whose outputs all have computed values by Constant
    nodes holding them (the small ones); bigger computed values get their size as
    value_info. Inference then sees the values (data propagation reads constants)."""
    from onnx import helper, numpy_helper

    kept = []
    for n in probe.graph.node:
        outs = [o for o in n.output if o]
        if outs and all(o in values and getattr(values[o], "size", None) is not None
                        and values[o].size <= FOLDED_ELEMENTS for o in outs) \
                and not subgraphs(n) and n.op_type != "Constant":
            kept.extend(helper.make_node("Constant", [], [o], name=f"{n.name}/{o}",
                                         value=numpy_helper.from_array(values[o], o))
                        for o in outs)
        else:
            kept.append(n)
    del probe.graph.node[:]
    probe.graph.node.extend(kept)
    described = {v.name for v in probe.graph.value_info}
    for name, v in values.items():
        if name not in described and hasattr(v, "dtype") and v.size > FOLDED_ELEMENTS:
            try:
                elem = helper.np_dtype_to_tensor_dtype(v.dtype)
            except (KeyError, TypeError, ValueError):
                continue
            probe.graph.value_info.append(helper.make_tensor_value_info(
                name, elem, list(v.shape)))


def _round(probe, tensors: dict[str, Tensor], have: dict, run) -> dict:
    """One round: the nodes computable from what is known (values in ``have``, stored
    tensors, sizes of sized tensors) whose outputs inference sized within the budget,
    run together as one graph (node by node when the evaluators refuse one); their
    values."""

    stored = {i.name for i in probe.graph.initializer if not unloaded(i)}
    stored |= {o for n in probe.graph.node if n.op_type == "Constant" for o in n.output}
    ready = set(have) | stored | {""}
    direct: dict = {}
    chosen = []
    spent = sum(getattr(v, "nbytes", 0) for v in have.values())
    for n in probe.graph.node:
        outs = [o for o in n.output if o]
        if not outs or all(o in have for o in outs) or n.op_type == "Constant":
            continue
        if n.op_type in ("Shape", "Size") and n.input and n.input[0] not in ready:
            t = tensors.get(n.input[0])
            if t is not None and t.static:
                direct[outs[0]] = _shape_value(n, t)
                ready.add(outs[0])
            continue
        if subgraphs(n) or n.op_type in RANDOM_OPS or not all(i in ready for i in n.input):
            continue
        sizes = [nbytes(tensors.get(o)) for o in outs]
        if any(s is None for s in sizes) or spent + sum(sizes) > RUN_BUDGET:
            continue
        spent += sum(sizes)
        chosen.append(n)
        ready.update(outs)
    got = dict(direct)
    if not chosen:
        return got
    known = {**have, **direct}
    ran = _run_nodes(probe, chosen, known, stored, run)
    if ran is None:     # one node the evaluators refuse: the others one by one
        ran = {}
        for n in chosen:
            ran.update(_run_nodes(probe, [n], {**known, **ran}, stored, run) or {})
    made = {o for n in chosen for o in n.output if o}
    got.update({k: v for k, v in ran.items() if k in made})
    return got


def _run_nodes(probe, nodes: list, known: dict, stored: set, run) -> dict | None:
    """The values of ``nodes`` (in order) from one run of them as a graph of their own,
    fed the ``known`` values they read (stored tensors and Constants come along); None
    when a value they read is missing or the evaluators refuse them."""
    import numpy as np
    from onnx import GraphProto, helper

    made = {o for n in nodes for o in n.output if o}
    need = {i for n in nodes for i in n.input if i}
    if any(i not in stored and i not in known and i not in made for i in need):
        return None
    graph = GraphProto()
    graph.name = "determined"
    graph.initializer.extend(i for i in probe.graph.initializer if i.name in need)
    graph.node.extend([n for n in probe.graph.node if n.op_type == "Constant"
                       and any(o in need for o in n.output)] + list(nodes))
    feeds = {}
    for name in sorted(need - stored - made):
        v = np.asarray(known[name])
        feeds[name] = v
        graph.input.append(helper.make_tensor_value_info(
            name, helper.np_dtype_to_tensor_dtype(v.dtype), list(v.shape)))
    graph.output.extend(helper.make_empty_tensor_value_info(o) for n in nodes
                        for o in n.output if o)
    model = helper.make_model(graph, opset_imports=list(probe.opset_import),
                              ir_version=probe.ir_version)
    return run(model, feeds)


def _stand_ins(probe) -> None:
    """onnxruntime's ops replaced, in ``probe``, by the standard op whose shape rule they
    follow (:data:`edgekit.core.onnx_ops.SHAPE_AS`), so that inference sizes what comes
    after them; channels-last forms and transposed operands keep their own op."""
    from onnx import defs, helper

    from edgekit.core.onnx_ops import SHAPE_AS, SHAPE_OF_INPUT

    nodes = []
    for n in probe.graph.node:
        rule = SHAPE_AS.get(n.domain, {}).get(n.op_type)
        attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
        transposed = any(attrs.get(a) for a in ("transA", "transBatchA", "transBatchB")) or (
            n.op_type == "FusedMatMul" and attrs.get("transB"))
        if rule is None or attrs.get("channels_last") or transposed:
            nodes.append(n)
            continue
        op, positions = rule
        ins = [n.input[p] for p in positions if p < len(n.input)]
        if op == "Identity":
            nodes.extend(helper.make_node("Identity", ins, [n.output[k]],
                                          name=f"{n.name}/{k}")
                         for k in SHAPE_OF_INPUT.get(n.op_type, (0,))
                         if k < len(n.output) and n.output[k])
            continue
        known = defs.get_schema(op).attributes
        nodes.append(helper.make_node(op, ins, list(n.output), name=n.name,
                                      **{a: v for a, v in attrs.items() if a in known}))
    del probe.graph.node[:]
    probe.graph.node.extend(nodes)


def determined_values(model, given: dict, infer, declared, run) -> tuple[dict, dict]:
    """The values of the determined tensors of ``model`` that fit the budget, and the
    tensors as inference sizes them once those values are known (``infer``: shape
    inference of a model; ``declared``: its tensors; ``run``: the evaluator)."""
    from onnx import ModelProto

    probe = ModelProto()
    probe.CopyFrom(model)
    _stand_ins(probe)
    values: dict = dict(given)
    tensors = declared(infer(probe))
    for _ in range(MAX_ROUNDS):
        got = _round(probe, tensors, values, run)
        if not got:
            break
        values.update(got)
        _fold(probe, got)
        tensors = declared(infer(probe))
    return values, tensors
