"""Control flow for the evaluator: ``If`` nodes whose condition is known, replaced by the
branch they take; the sizes a run found, handed to the bodies of ``Loop`` / ``Scan``.

An evaluator sees the values of one graph: onnxruntime and onnx's reference evaluator give
no tensor inside a subgraph, and shape inference inside a branch stops at the first size
that depends on a value (``Shape -> Gather -> Reshape``, the usual PyTorch export). Once
the condition of an ``If`` is known, its branch *is* the graph that runs: its nodes are
moved into the enclosing graph in the place of the ``If`` and evaluated with the rest, so
that every tensor in them gets its size from the run, as any other tensor does.

The graph stays valid ONNX: a branch's values that collide with a name outside are renamed
(PyTorch exports reuse names across branches), the branch's outputs become the ``If``'s
outputs, its initializers join the graph's, and each moved node is named
``<if>/<branch>/<node>`` (the name the reader gives a branch's nodes).
"""

from __future__ import annotations

from edgekit.readers.onnx_values import Tensor, subgraphs, unloaded


def _all_names(graph, into: set, skip: int = -1) -> set:
    """Every value and node name used in a graph and its subgraphs (but those of node
    ``skip``)."""
    for v in list(graph.input) + list(graph.output) + list(graph.value_info):
        into.add(v.name)
    into.update(i.name for i in graph.initializer)
    into.update(i.values.name for i in graph.sparse_initializer)
    for k, n in enumerate(graph.node):
        into.update(n.input)
        into.update(n.output)
        into.add(n.name)
        for _, g in subgraphs(n) if k != skip else ():
            _all_names(g, into)
    return into


def _produced(graph) -> set:
    out = {i.name for i in graph.initializer}
    out.update(i.values.name for i in graph.sparse_initializer)
    for n in graph.node:
        out.update(o for o in n.output if o)
    return out


def _rename(graph, table: dict) -> None:
    """Apply ``table`` to every reference in ``graph`` and the subgraphs it holds."""
    for n in graph.node:
        for k, name in enumerate(n.input):
            if name in table:
                n.input[k] = table[name]
        for k, name in enumerate(n.output):
            if name in table:
                n.output[k] = table[name]
        for _, g in subgraphs(n):
            _rename(g, table)
    for v in list(graph.input) + list(graph.output) + list(graph.value_info):
        if v.name in table:
            v.name = table[v.name]
    for i in graph.initializer:
        if i.name in table:
            i.name = table[i.name]
    for i in graph.sparse_initializer:
        if i.values.name in table:
            i.values.name = table[i.values.name]


def _inline_one(graph, index: int, taken: bool) -> dict[str, str]:
    """Replace ``graph.node[index]`` (an If) by its taken branch; node name -> note."""
    from onnx import GraphProto, helper

    node = graph.node[index]
    used = _all_names(graph, set(), skip=index)
    which = "then_branch" if taken else "else_branch"
    name = node.name or next((o for o in node.output if o), "If")
    branch = GraphProto()
    branch.CopyFrom(dict(subgraphs(node))[which])
    prefix = f"{name}/{which}/"
    table = {v: prefix + v for v in _produced(branch) if v in used}
    moved = []
    for out, target in zip(branch.output, node.output, strict=False):
        if not target:
            continue
        if out.name in _produced(branch):
            table[out.name] = target
        else:  # the branch hands on an outer value: the If's output is a copy of it
            moved.append(helper.make_node("Identity", [out.name], [target],
                                          name=f"{prefix}{target}"))
    _rename(branch, table)
    for n in branch.node:
        n.name = prefix + (n.name or next((o for o in n.output if o), n.op_type))
    new_nodes = list(branch.node) + moved
    graph.initializer.extend(branch.initializer)
    graph.sparse_initializer.extend(branch.sparse_initializer)
    graph.value_info.extend(v for v in branch.value_info if v.name not in node.output)
    rest = list(graph.node)
    del graph.node[:]
    graph.node.extend(rest[:index] + new_nodes + rest[index + 1:])
    note = f"{name}: {which} (its condition is known)"
    return {n.name: note for n in new_nodes}


def inline_known_ifs(model, conditions: dict) -> tuple[object, dict[str, str]]:
    """A copy of ``model`` with every top-level If whose condition is in ``conditions``
    (name -> value) replaced by its taken branch; and node name -> note for moved nodes.
    Returns ``model`` itself (no copy) when there is nothing to inline."""
    import numpy as np
    from onnx import ModelProto

    todo = [k for k, n in enumerate(model.graph.node)
            if n.op_type == "If" and n.input and n.input[0] in conditions
            and np.asarray(conditions[n.input[0]]).size == 1]
    if not todo:
        return model, {}
    out = ModelProto()
    out.CopyFrom(model)
    notes: dict[str, str] = {}
    for k in reversed(todo):   # from the end: earlier indices stay valid
        cond = bool(np.asarray(conditions[out.graph.node[k].input[0]]).reshape(()))
        notes.update(_inline_one(out.graph, k, cond))
    return out, notes


def write_shapes(model, tensors: dict[str, Tensor]) -> None:
    """Top-level value_info from ``tensors`` (so that inference inside subgraphs sees the
    outer sizes the run found)."""
    import numpy as np
    import onnx

    known = {v.name for v in list(model.graph.input) + list(model.graph.output)}
    inits = {i.name for i in model.graph.initializer}
    del model.graph.value_info[:]
    for n in model.graph.node:
        for o in n.output:
            t = tensors.get(o)
            if not o or o in known or o in inits or t is None or not t.static:
                continue
            try:
                elem = onnx.helper.np_dtype_to_tensor_dtype(np.dtype(t.dtype))
            except (TypeError, KeyError, ValueError):
                continue
            model.graph.value_info.append(
                onnx.helper.make_tensor_value_info(o, elem, list(t.shape)))


def body_inputs(model, tensors: dict[str, Tensor]) -> None:
    """Give Loop and Scan bodies the sizes of what the node feeds them (ONNX's own rule:
    a Loop body takes the trip count, the condition and the carried values; a Scan body
    the states and one slice of each scanned input), where the body leaves them open."""
    import numpy as np
    import onnx

    for n in model.graph.node:
        if n.op_type not in ("Loop", "Scan"):
            continue
        body = dict(subgraphs(n))["body"]
        if n.op_type == "Loop":
            pairs = [(b, tensors.get(o).shape if tensors.get(o) else None)
                     for b, o in zip(body.input[2:], n.input[2:], strict=False)]
        else:
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
            scans = int(attrs.get("num_scan_inputs", 0))
            axes = list(attrs.get("scan_input_axes", [0] * scans))
            states = len(n.input) - scans
            pairs = []
            for k, (b, o) in enumerate(zip(body.input, n.input, strict=False)):
                t = tensors.get(o)
                shape = t.shape if t is not None and t.static else None
                if shape is not None and k >= states:
                    axis = axes[k - states] % len(shape) if shape else 0
                    shape = shape[:axis] + shape[axis + 1:]
                pairs.append((b, shape))
        for b, shape in pairs:
            tt = b.type.tensor_type
            if shape is None or -1 in shape or (tt.HasField("shape") and all(
                    d.HasField("dim_value") for d in tt.shape.dim)):
                continue
            elem = tt.elem_type or onnx.helper.np_dtype_to_tensor_dtype(np.dtype("float32"))
            b.type.CopyFrom(onnx.helper.make_tensor_type_proto(elem, list(shape)))


def _defined_by_function(node, version: int) -> bool:
    import onnx

    try:
        schema = onnx.defs.get_schema(node.op_type, version, domain=node.domain)
    except Exception:  # not an op of the installed onnx at this version
        return False
    return bool(schema.has_function or schema.has_context_dependent_function)


def _function_body(node, version: int, input_types: list):
    """The function that defines a standard op at ``version`` (plain or context-dependent),
    or None when the op is a primitive (or unknown to the installed onnx)."""
    import onnx
    from onnx import FunctionProto

    try:
        schema = onnx.defs.get_schema(node.op_type, version, domain=node.domain)
    except Exception:  # not an op of the installed onnx at this version
        return None
    body = FunctionProto()
    plain = [v for v in schema.function_opset_versions if v <= version]
    if plain:
        body.ParseFromString(schema.get_function_with_opset_version(max(plain)))
        return body
    dependent = [v for v in schema.context_dependent_function_opset_versions if v <= version]
    if dependent and all(t is not None for t in input_types):
        try:
            body.ParseFromString(schema.get_context_dependent_function_with_opset_version(
                max(dependent), node.SerializeToString(),
                [t.SerializeToString() for t in input_types]))
        except Exception:  # the body builder refuses these input types
            return None
        return body
    return None


def expand_function_ops(model, known, depth: int = 8) -> tuple[object, int]:
    """:func:`expand_once` until no op is left to expand (a function may use another:
    SoftmaxCrossEntropyLoss uses NegativeLogLikelihoodLoss), at most ``depth`` times."""
    total = 0
    for _ in range(depth):
        model, count = expand_once(model, known)
        if not count:
            break
        total += count
    return model, total


def expand_once(model, known) -> tuple[object, int]:
    """A copy of ``model`` in which every top-level standard op that the op table does not
    know (``known``) and that ONNX defines as a function (AffineGrid, CausalConvWithState,
    LinearAttention, ...) is replaced by the nodes of that function, named
    ``<node>/<inner node>``, so that its MatMul, Conv, ... are counted as any other; and how
    many ops were expanded. Ops that ONNX defines as primitives stay as they are."""
    import onnx
    from onnx import ModelProto
    from onnx.backend.test.case.node import function_expand_helper

    version = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
                  default=0)
    todo = [k for k, n in enumerate(model.graph.node)
            if n.domain in ("", "ai.onnx") and n.op_type not in known
            and _defined_by_function(n, version)]
    if not todo:    # the common case (Constant, If, Loop... are primitives): no copy
        return model, 0
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # types are then only those the file declares
        inferred = model
    types = {v.name: v.type for v in list(inferred.graph.input) + list(
        inferred.graph.value_info) + list(inferred.graph.output)}
    types.update({i.name: onnx.helper.make_tensor_type_proto(i.data_type, list(i.dims))
                  for i in inferred.graph.initializer})
    out = ModelProto()
    out.CopyFrom(model)
    expanded = 0
    for k in reversed(todo):
        node = out.graph.node[k]
        body = _function_body(node, version, [types.get(i) for i in node.input if i])
        if body is None:
            continue
        name = node.name or next((o for o in node.output if o), node.op_type)
        inner = function_expand_helper(node, body, f"{name}/")
        for n in inner:     # outputs carry the prefix already
            n.name = f"{name}/{n.name}" if n.name else next(
                (o for o in n.output if o), f"{name}/{n.op_type}")
        rest = list(out.graph.node)
        del out.graph.node[:]
        out.graph.node.extend(rest[:k] + inner + rest[k + 1:])
        for imp in body.opset_import:   # a body may use another domain's ops
            if all(o.domain != imp.domain for o in out.opset_import):
                out.opset_import.append(imp)
        expanded += 1
    return (out, expanded) if expanded else (model, 0)


def _free_names(graph, into: set | None = None) -> set:
    """Values a graph (its subgraphs included) uses but neither makes nor takes as input:
    the outer-scope values a body reads."""
    into = set() if into is None else into
    made = _produced(graph) | {i.name for i in graph.input}
    for n in graph.node:
        into.update(i for i in n.input if i and i not in made)
        for _, g in subgraphs(n):
            into.update(v for v in _free_names(g) if v not in made)
    return into


def _first_iteration(node, body, outer: dict) -> dict | None:
    """The values a Loop or Scan body takes on its first iteration (Loop: iteration 0, the
    condition, the initial carried values; Scan: the initial states and the first slice
    of each scanned input), or None when one of them is not known."""
    import numpy as np
    from onnx import helper

    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if node.op_type == "Loop":
        given = [np.array(0, np.int64), np.array(True)] + [
            outer.get(i) for i in node.input[2:]]
    else:
        scans = int(attrs.get("num_scan_inputs", 0))
        states = len(node.input) - scans
        axes = list(attrs.get("scan_input_axes", [0] * scans))
        backwards = list(attrs.get("scan_input_directions", [0] * scans))
        given = [outer.get(i) for i in node.input[:states]]
        for k, name in enumerate(node.input[states:]):
            x = outer.get(name)
            given.append(None if x is None or not isinstance(x, np.ndarray) else np.take(
                x, -1 if backwards[k] else 0, axis=axes[k] % max(x.ndim, 1)))
    if len(given) != len(body.input) or any(
            not isinstance(v, np.ndarray) for v in given):
        return None
    return {b.name: v for b, v in zip(body.input, given, strict=True)}


def body_values(model, outer: dict, run) -> tuple[dict, set]:
    """Every tensor of each top-level Loop / Scan body on its first iteration, from one
    run of the body as a graph of its own (``run(model, feeds)``: the evaluator), fed the
    values the outer run gave; and the names of the loops whose bodies ran. A body whose
    sizes change from one iteration to the next is sized by its first one."""
    import numpy as np
    from onnx import GraphProto, helper

    values: dict = {}
    ran: set = set()
    outer = {**_stored_values(model), **outer}
    for n in model.graph.node:
        if n.op_type not in ("Loop", "Scan"):
            continue
        body = dict(subgraphs(n))["body"]
        feeds = _first_iteration(n, body, outer)
        free = sorted(_free_names(body))
        if feeds is None or any(not isinstance(outer.get(f), np.ndarray) for f in free):
            continue
        feeds.update({f: outer[f] for f in free})
        graph = GraphProto()
        graph.CopyFrom(body)
        del graph.input[:]
        del graph.output[:]
        for name, v in feeds.items():
            graph.input.append(helper.make_tensor_value_info(
                name, helper.np_dtype_to_tensor_dtype(v.dtype), list(v.shape)))
        graph.output.extend(helper.make_empty_tensor_value_info(o) for o in
                            dict.fromkeys(o for b in graph.node for o in b.output if o))
        standalone = helper.make_model(graph, opset_imports=list(model.opset_import),
                                       ir_version=model.ir_version)
        got = run(standalone, feeds)
        if got:
            values.update(got)
            ran.add(n.name or next((o for o in n.output if o), n.op_type))
    return values, ran


def _stored_values(model) -> dict:
    """Initializers and Constant outputs as arrays (what a body may read from outside)."""
    from onnx import numpy_helper

    out = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer
           if not unloaded(i)}
    for n in model.graph.node:
        if n.op_type == "Constant" and n.output and n.attribute and n.attribute[0].name == \
                "value":
            out[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
    return out
