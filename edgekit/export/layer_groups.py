"""The float side of the per-layer comparison: the Keras model cut into layer groups (a
layer and the batch norm, activation and dropout layers that follow it alone, which the
converters fuse into one op), their outputs on the samples, a group's float layers run on
given inputs (the isolated view), and the logits of a model that ends in softmax or sigmoid.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgekit.core.layermatch import FUSABLE

INPUT = ""                      # the model input, as a group's source
# a model with several inputs: its k-th input as a group's source (Keras layer names
# cannot hold '/', so no layer is named so)
INPUT_MARK = "/input/"
FOLLOWERS = FUSABLE | {"Dropout", "ELU", "PReLU", "SpatialDropout2D"}
FINAL_KINDS = ("softmax", "sigmoid")
KERAS_BATCH = 64


@dataclass
class Group:
    name: str
    op: str
    members: list[str]
    sources: list[str]          # the groups feeding the first layer (INPUT: the model input;
                                # with several inputs, input_source(k))
    logits: bool = False        # compared on the logits (the model ends in softmax/sigmoid)
    fused_final: bool = False   # the softmax is the last layer's own activation


def _activation_name(layer) -> str | None:
    act = getattr(layer, "activation", None)
    name = getattr(act, "__name__", None)
    if type(layer).__name__ == "Softmax":
        return "softmax"
    return name


def _inbound_of(model) -> dict[str, list[str]]:
    """{layer: the layers feeding it} in this model's own graph (a layer called again
    elsewhere, or a Sequential built more than once, has other inbound nodes too)."""
    graph = getattr(model, "_functional", None) or model     # a Sequential's graph
    by_depth = getattr(graph, "_nodes_by_depth", None)
    if by_depth:
        return {n.operation.name: [t._keras_history.operation.name for t in n.input_tensors]
                for nodes in by_depth.values() for n in nodes}
    return {la.name: [t._keras_history.operation.name for t in la._inbound_nodes[0]
                      .input_tensors] if la._inbound_nodes else [] for la in model.layers}


def input_source(k: int, count: int) -> str:
    """The source that is the model's ``k``-th of ``count`` inputs."""
    return INPUT if count == 1 else f"{INPUT_MARK}{k}"


def is_input(source: str) -> bool:
    return source == INPUT or source.startswith(INPUT_MARK)


def input_value(x, source: str) -> np.ndarray:
    """The samples of the input that ``source`` is: ``x`` is one array (one input) or a
    list of arrays, one per Keras input in the model's order."""
    if isinstance(x, np.ndarray):
        return x
    return next(a for k, a in enumerate(x) if input_source(k, len(x)) == source)


def rows_of(x, part: slice):
    """Rows of the inputs (one array, or one array per input)."""
    return x[part] if isinstance(x, np.ndarray) else [a[part] for a in x]


@dataclass
class KerasGraph:
    groups: list[Group]
    group_of: dict[str, str] = field(default_factory=dict)   # layer -> group
    order: dict[str, int] = field(default_factory=dict)      # layer -> position
    inputs: list[str] = field(default_factory=list)          # the Keras input names

    def by_name(self) -> dict[str, Group]:
        return {g.name: g for g in self.groups}

    def logits_group(self) -> Group | None:
        return next((g for g in self.groups if g.logits), None)

    def upstream(self, layer: str) -> set[str]:
        """The group of ``layer`` and every group that feeds it, directly or not."""
        groups, out = self.by_name(), set()
        todo = [self.group_of.get(layer)]
        while todo:
            name = todo.pop()
            if name in groups and name not in out:
                out.add(name)
                todo += groups[name].sources
        return out


def keras_groups(model) -> KerasGraph:
    """The groups of a functional Keras model, in execution order."""
    layers = list(model.layers)
    graph = _inbound_of(model)
    inbound = {la.name: graph.get(la.name, []) for la in layers}
    consumers: dict[str, int] = {}
    for srcs in inbound.values():
        for s in srcs:
            consumers[s] = consumers.get(s, 0) + 1
    out_name = model.outputs[0]._keras_history.operation.name
    input_layers = [t._keras_history.operation.name for t in model.inputs]
    input_of = {n: input_source(k, len(input_layers)) for k, n in enumerate(input_layers)}
    kg = KerasGraph([], order={la.name: k for k, la in enumerate(layers)},
                    inputs=[t.name for t in model.inputs])
    groups: dict[str, Group] = {}
    for la in layers:
        kind, srcs = type(la).__name__, inbound[la.name]
        if kind == "InputLayer":
            kg.group_of[la.name] = INPUT
            continue
        src_groups = [input_of.get(s) or kg.group_of.get(s, INPUT) for s in srcs]
        final = la.name == out_name and _activation_name(la) in FINAL_KINDS
        if final and kind in ("Activation", "Softmax") and src_groups and src_groups[0]:
            groups[src_groups[0]].logits = True      # compared on the softmax's input
            kg.group_of[la.name] = src_groups[0]
            continue
        if (kind in FOLLOWERS and len(srcs) == 1 and consumers.get(srcs[0]) == 1
                and not is_input(src_groups[0])):
            groups[src_groups[0]].members.append(la.name)
            kg.group_of[la.name] = src_groups[0]
            continue
        g = Group(la.name, kind, [la.name], src_groups, logits=final, fused_final=final)
        groups[la.name] = g
        kg.groups.append(g)
        kg.group_of[la.name] = la.name
    return kg


def run_group(model, g: Group, inputs: list[np.ndarray]) -> np.ndarray:
    """The float layers of ``g`` called on ``inputs`` (a softmax/sigmoid that ends the model
    left out: the logits)."""
    from edgekit._tf import keras

    outs = []
    for i in range(0, len(inputs[0]), KERAS_BATCH):
        h = [v[i:i + KERAS_BATCH] for v in inputs]
        h = h[0] if len(h) == 1 else h
        for name in g.members:
            layer = model.get_layer(name)
            if g.fused_final and name == g.members[-1]:
                saved = layer.activation
                layer.activation = keras.activations.linear
                try:
                    h = layer(h)
                finally:
                    layer.activation = saved
            else:
                h = layer(h)
        outs.append(np.asarray(h, dtype=np.float32))
    return np.concatenate(outs)


def keras_references(model, kg: KerasGraph, x) -> dict[str, np.ndarray]:
    """Every group's float output on ``x`` (one array, or one per Keras input; logits for
    the last group when it has them)."""
    from edgekit._tf import keras

    plain = [g for g in kg.groups if not g.fused_final]
    sub = keras.Model(model.inputs, [model.get_layer(g.members[-1]).output for g in plain])
    parts: list[list] = [[] for _ in plain]
    n = len(x) if isinstance(x, np.ndarray) else len(x[0])
    for i in range(0, n, KERAS_BATCH):
        got = sub(rows_of(x, slice(i, i + KERAS_BATCH)), training=False)
        got = got if isinstance(got, (list, tuple)) else [got]
        for k, v in enumerate(got):
            parts[k].append(np.asarray(v, dtype=np.float32))
    refs = {g.name: np.concatenate(p) for g, p in zip(plain, parts, strict=True)}
    for g in kg.groups:
        if g.fused_final:
            refs[g.name] = run_group(model, g, [input_value(x, s) if is_input(s)
                                                else refs[s] for s in g.sources])
    return refs


def logits_reference(model, kg: KerasGraph, x: np.ndarray
                     ) -> tuple[np.ndarray, tuple[str, np.ndarray] | None]:
    """Keras' output on ``x`` and, when the model ends in softmax or sigmoid,
    (description, its logits): one pass over ``x`` gives both."""
    from edgekit._tf import keras

    g = kg.logits_group()
    wanted = [] if g is None else [model.get_layer(g.members[0]).input if g.fused_final
                                   else model.get_layer(g.members[-1]).output]
    sub = keras.Model(model.inputs, [*model.outputs, *wanted])
    parts: list[list] = [[] for _ in range(1 + len(wanted))]
    for i in range(0, len(x), KERAS_BATCH):
        got = sub(x[i:i + KERAS_BATCH], training=False)
        for k, v in enumerate(got if isinstance(got, (list, tuple)) else [got]):
            parts[k].append(np.asarray(v, dtype=np.float32))
    out = np.concatenate(parts[0])
    if g is None:
        return out, None
    inner = np.concatenate(parts[1])
    if g.fused_final:
        return out, (f"the input of {g.members[-1]}'s softmax", run_group(model, g, [inner]))
    return out, (f"the output of {g.members[-1]} (the softmax's input)", inner)
