"""What every tensor of an ONNX graph is, found by evaluation, never by matching op patterns.

* **Shapes and element types**: ONNX shape inference (with data propagation), then, when
  every input size is known, one run of the whole graph with every tensor exposed:
  onnxruntime first, onnx's reference evaluator where onnxruntime cannot run the graph. A
  size the file declares is never replaced by an unknown one. An ``If`` whose condition
  is determined is replaced by its taken branch and the graph run again (so its tensors
  are sized by the run); a ``Loop`` / ``Scan`` body is run on its first iteration as a
  graph of its own; undecided branches take their shapes from inference (after the run
  has fixed the outer ones). A graph whose run would hold more than the memory budget
  (any declared size: 1x3x10^6x10^6) is not run: only what shapes and constants need is
  computed, and inference sizes the rest (:mod:`edgekit.readers.onnx_bounded`).
* **Constants**: a tensor is constant when it depends only on initializers and ``Constant``
  nodes (and no subgraph or random op); such nodes decode or arrange stored tensors
  (``Cast -> Mul(scale)``, ``DequantizeLinear``, ``Reshape``, ``Transpose``, ``Slice``,
  ``Concat``...) and are folded: they are part of the op that consumes them, not layers.
  Each constant knows the stored tensors its *data* comes from (``sources``): not the
  quantization scales and zero points, broadcast scale/offset operands, or the integer
  shapes, axes and indices that arrange it.
* **Values**: tensors that depend only on constants and the values a user gave
  (``--inputs``) are ``determined``; their values from the run decide ``If`` branches.

Nothing is written to disk, and the runtimes' own logs never reach the terminal.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edgekit.core.quiet import quiet_stderr, quiet_stdout
from edgekit.readers.onnx_bounded import RUN_BUDGET, determined_values, run_cost
from edgekit.readers.onnx_control import (
    body_inputs,
    body_values,
    inline_known_ifs,
    write_shapes,
)
from edgekit.readers.onnx_values import (
    RANDOM_OPS,
    Tensor,
    all_graphs,
    elem_name,
    from_type,
    subgraphs,
    unloaded,
)

QUANT_OPS = frozenset({"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"})
BROADCAST_ARITHMETIC = frozenset({"Mul", "Div", "Add", "Sub"})
INDEX_TYPES = frozenset({"int64", "int32"})
SIZE_OPS = frozenset({"Shape", "Size"})   # their value is the size of their input
MAX_IF_DEPTH = 8                          # nested If levels inlined before giving up


@dataclass
class Evaluated:
    model: object                                   # the model, shapes inferred
    tensors: dict[str, Tensor]                      # every named value, subgraphs included
    stored: dict[str, Tensor]                       # initializers and Constant outputs
    constant: set[str]                              # depends on stored tensors only
    sources: dict[str, frozenset]                   # constant -> stored tensors of its data
    determined: set[str]                            # constants and given inputs' dependants
    values: dict = field(default_factory=dict)      # values of determined tensors, if run
    how: str = "onnx shape inference"
    inlined: dict = field(default_factory=dict)     # node -> the If branch it was moved from
    first_iteration: set = field(default_factory=set)   # Loop/Scan sized by a run of its body
    sized: set = field(default_factory=set)     # tensors sized without a run (no stand-in)


def _declared(model) -> dict[str, Tensor]:
    """Every value the file (or inference) describes, subgraphs included; a later
    description never replaces a known dimension with an unknown one."""
    from onnx import numpy_helper

    out: dict[str, Tensor] = {}
    for g in all_graphs(model.graph):
        for vi in list(g.input) + list(g.value_info) + list(g.output):
            if vi.name:
                _merge(out, vi.name, from_type(vi.type))
        for init in g.initializer:
            out[init.name] = Tensor(tuple(init.dims), elem_name(init.data_type))
        for n in g.node:
            if n.op_type == "Constant" and n.output:
                for a in n.attribute:
                    if a.name == "value":
                        out[n.output[0]] = Tensor(tuple(a.t.dims), elem_name(a.t.data_type))
                    elif a.name in ("value_float", "value_int", "value_string"):
                        out[n.output[0]] = Tensor((), {"value_float": "float32",
                                                       "value_int": "int64",
                                                       "value_string": "string"}[a.name])
                    elif a.name in ("value_floats", "value_ints", "value_strings"):
                        count = len(getattr(a, a.name[6:]))
                        out[n.output[0]] = Tensor((count,), {"value_floats": "float32",
                                                             "value_ints": "int64",
                                                             "value_strings": "string"
                                                             }[a.name])
                    elif a.name == "sparse_value":
                        dense = numpy_helper.to_array(a.sparse_tensor.values)
                        out[n.output[0]] = Tensor(tuple(a.sparse_tensor.dims), dense.dtype.name)
    return out


def _merge(table: dict[str, Tensor], name: str, new: Tensor) -> None:
    old = table.get(name)
    if old is None or old.shape is None or old.kind != "tensor":
        if old is not None and new.dtype == "undefined":
            new.dtype = old.dtype
        table[name] = new
        return
    if new.kind == "tensor" and new.shape is not None and len(new.shape) == len(old.shape):
        table[name] = Tensor(tuple(n if n >= 0 else o for n, o in zip(new.shape, old.shape,
                                                                        strict=True)),
                             new.dtype if new.dtype != "undefined" else old.dtype)


def _numel(shape) -> int | None:
    if shape is None or -1 in shape:
        return None
    n = 1
    for d in shape:
        n *= d
    return n


def _constants(model, tensors: dict[str, Tensor], given: set[str], sized: set[str]):
    """(constant names, their data sources, determined names), subgraphs included (a body
    may decode an outer weight, or hold initializers of its own). ``sized``: tensors whose
    size is known without a run; a ``Shape`` or ``Size`` of one is determined."""
    constant: set = set()
    sources: dict[str, frozenset] = {}
    determined = set(given)
    _fold(model.graph, tensors, constant, sources, determined, sized)
    return constant, sources, determined


def _fold(graph, tensors, constant: set, sources: dict, determined: set, sized: set) -> None:
    for init in graph.initializer:
        constant.add(init.name)
        determined.add(init.name)
        sources[init.name] = frozenset([init.name])
    for n in graph.node:
        ins = [i for i in n.input if i]
        if subgraphs(n) or n.op_type in RANDOM_OPS:
            for _, g in subgraphs(n):
                _fold(g, tensors, constant, sources, determined, sized)
            continue
        if n.op_type == "Constant":
            for o in n.output:
                constant.add(o)
                determined.add(o)
                sources[o] = frozenset([o])
            continue
        if ins and (all(i in determined for i in ins)
                    or n.op_type in SIZE_OPS and ins[0] in sized):
            determined.update(o for o in n.output if o)
        if not ins or not all(i in constant for i in ins):
            continue
        data: set = set()
        for pos, i in enumerate(n.input):
            if i and _is_data(n, pos, i, tensors):
                data |= sources.get(i, frozenset())
        for o in n.output:
            if o:
                constant.add(o)
                sources[o] = frozenset(data)


def _is_data(n, pos: int, name: str, tensors: dict[str, Tensor]) -> bool:
    """Does input ``pos`` of a constant op carry the stored numbers (not a quantization
    parameter, a broadcast scale/offset, or the integers that arrange them)?"""
    t = tensors.get(name)
    out = tensors.get(n.output[0]) if n.output else None
    if n.op_type in QUANT_OPS:
        return pos == 0
    if t is not None and t.dtype in INDEX_TYPES and (out is None or out.dtype not in INDEX_TYPES):
        return False
    if n.op_type in BROADCAST_ARITHMETIC and t is not None and out is not None:
        out_n = _numel(out.shape)
        return out_n is None or (_numel(t.shape) or 0) >= out_n
    return True


def _feeds(model, tensors: dict[str, Tensor], given: dict) -> dict | None:
    """Inputs for a run: the given values, else ones (floats) or zeros (integers, bools);
    None when an input's size or type is not known."""
    import numpy as np

    inits = {i.name for i in model.graph.initializer}
    feeds = {}
    for inp in model.graph.input:
        if inp.name in inits:
            continue
        if inp.name in given:
            feeds[inp.name] = given[inp.name]
            continue
        t = tensors.get(inp.name)
        if t is None or not t.static:
            return None
        try:
            dtype = np.dtype(t.dtype)
        except TypeError:
            return None
        fill = 1 if dtype.kind == "f" else 0
        feeds[inp.name] = np.full(t.shape, fill, dtype=dtype)
    return feeds


def _run_onnxruntime(model, feeds: dict) -> dict | None:
    import onnx
    import onnxruntime as ort

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    have = {o.name for o in probe.graph.output}
    names = [o for n in probe.graph.node for o in n.output if o and o not in have]
    probe.graph.output.extend([onnx.ValueInfoProto(name=o) for o in names])
    ort.set_default_logger_severity(4)
    opts = ort.SessionOptions()
    opts.log_severity_level = 4
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        with quiet_stderr(), quiet_stdout():
            session = ort.InferenceSession(probe.SerializeToString(), opts,
                                           providers=["CPUExecutionProvider"])
            outs = session.run(None, feeds)
    except Exception:  # any failure: the caller tries the next evaluator
        return None
    return {meta.name: value for meta, value in zip(session.get_outputs(), outs, strict=True)}


def _run_reference(model, feeds: dict) -> dict | None:
    from onnx.reference import ReferenceEvaluator

    try:
        with quiet_stderr(), quiet_stdout():
            out = ReferenceEvaluator(model).run(None, feeds, intermediate=True)
    except Exception:  # an op the reference does not implement, or a broken graph
        return None
    return {k: v for k, v in out.items() if k}


def _observed(value) -> Tensor:
    import numpy as np

    if isinstance(value, list):
        return Tensor(None, "undefined", "sequence")
    if value is None:
        return Tensor(None, "undefined", "optional")
    value = np.asarray(value)
    dtype = "string" if value.dtype.kind in "OUS" else value.dtype.name
    return Tensor(tuple(int(d) for d in value.shape), dtype)


def _infer(model):
    import onnx

    try:
        with quiet_stderr():
            return onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception:  # inference refuses some graphs; the run may still tell the sizes
        return model


def evaluate(model, given: dict | None = None) -> Evaluated:
    """Shapes, types, constants and determined values of a model whose inputs carry the
    sizes to analyze at (``given``: input values a user supplied). An ``If`` whose
    condition the evaluation determines is replaced by the branch it takes (see
    :mod:`edgekit.readers.onnx_control`) and the graph evaluated again, until none is left
    (nested branches come up one level at a time); only that last graph's subgraphs are
    sized (Loop/Scan bodies run, undecided branches inferred)."""
    given = given or {}
    inlined: dict[str, str] = {}
    for depth in range(MAX_IF_DEPTH + 1):
        ev, ran, feeds = _top_level(model, given)
        if depth < MAX_IF_DEPTH:
            model, notes = inline_known_ifs(model, ev.values)
            if notes:
                inlined.update(notes)
                continue
        break
    if ran and any(subgraphs(n) for n in ev.model.graph.node):
        ev = _with_subgraphs(ev, ran, feeds, given)
    ev.inlined = inlined
    return ev


def _top_level(model, given: dict):
    """The evaluation of the graph itself (its subgraphs not sized yet), the values of one
    run (None when it could not run) and the feeds it ran on."""
    model = _infer(model)
    tensors = _declared(model)
    how = "onnx shape inference"
    ran, feeds = None, None
    if run_cost(model, tensors) > RUN_BUDGET or any(
            unloaded(i) for i in model.graph.initializer):
        # the whole graph would not fit: no input is fed; only what sizes and constants
        # need is computed, every other tensor sized by inference (at any declared size)
        ran, folded = determined_values(model, given, _infer, _declared,
                                        lambda m, f: _run(m, f)[0])
        for name, t in folded.items():
            _merge(tensors, name, t)
        feeds = dict(given)
        how = ("onnx shape inference, with the values of what shapes and constants need "
               f"(a run of the whole graph would hold over {RUN_BUDGET >> 30} GiB, or "
               "needs weights too large to read)")
    else:
        feeds = _feeds(model, tensors, given)
        if feeds is not None:
            ran, how = _run(model, feeds)
    sized = {k for k, t in tensors.items() if t.static}   # sizes that no stand-in decided
    for name, value in (ran or {}).items():
        seen = _observed(value)
        known = tensors.get(name)
        if known is not None and seen.dtype == "undefined":
            seen.dtype = known.dtype
        if known is not None and known.static and seen.shape != known.shape:
            continue   # a declared or inferred size stands: the run may use stand-ins
        tensors[name] = seen
    ev = _complete(Evaluated(model, tensors, {}, set(), {}, set(), how=how), ran, given,
                   sized)
    ev.sized = sized
    return ev, ran, feeds


def _with_subgraphs(ev: Evaluated, ran: dict, feeds: dict, given: dict) -> Evaluated:
    """Subgraph tensors sized: inference inside them after the run fixed the outer sizes
    (and what the nodes feed Loop/Scan bodies), then each body run on its first
    iteration; constants and values found again over the sized graph."""
    model, tensors = ev.model, ev.tensors
    write_shapes(model, tensors)
    body_inputs(model, tensors)
    for name, t in _declared(_infer(model)).items():
        if name not in ran:
            _merge(tensors, name, t)
    inner, ev.first_iteration = body_values(model, {**feeds, **ran},
                                            lambda m, f: _run(m, f)[0])
    for name, value in inner.items():
        known = tensors.get(name)
        if known is None or not known.static:
            tensors[name] = _observed(value)
    return _complete(ev, ran, given, ev.sized)


def _complete(ev: Evaluated, ran: dict | None, given: dict, sized: set) -> Evaluated:
    """Constants, their sources, determined tensors and their values, from the tensors."""
    from onnx import numpy_helper

    ev.constant, ev.sources, ev.determined = _constants(ev.model, ev.tensors, set(given),
                                                        sized)
    values = {k: v for k, v in (ran or {}).items() if k in ev.determined}
    values.update(given)
    for init in ev.model.graph.initializer:   # small stored values: trip counts, conditions
        if init.name not in values and len(init.dims) <= 1 and sum(init.dims) <= 64 \
                and not unloaded(init):
            values[init.name] = numpy_helper.to_array(init)
    ev.values = values
    ev.stored = {k: ev.tensors[k] for k in ev.sources
                 if ev.sources[k] == frozenset([k]) and k in ev.tensors}
    return ev


def _run(model, feeds: dict) -> tuple[dict | None, str]:
    """Every tensor's value from one run (onnxruntime, else onnx's reference evaluator),
    and how the sizes were found."""
    ran = _run_onnxruntime(model, feeds)
    if ran is not None:
        return ran, "one run in onnxruntime"
    ran = _run_reference(model, feeds)
    if ran is not None:
        return ran, "one run of onnx's reference evaluator"
    return None, "onnx shape inference (the graph does not run with inputs of these sizes)"

