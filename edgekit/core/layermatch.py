"""Which layer of the original model an exported op or a profiled kernel belongs to.

Exporters keep the Keras layer name inside the node name (tf2onnx:
``model/conv_dw_3_1/depthwise``; the TFLite converter: ``model/conv_dw_3/depthwise;...``),
so one token rule serves both the cross-format comparison and the per-op profile: a node
belongs to the longest layer name found among its tokens.
"""

from __future__ import annotations

import re
from collections import defaultdict

# runtimes fuse batch norm and activations into the conv before them
FUSABLE = {"BatchNormalization", "ReLU", "Activation", "LeakyReLU"}


def tokens(name: str) -> set[str]:
    """'model_1/conv_dw_3_1/depthwise;x' -> {'conv_dw_3_1', 'conv_dw_3', 'depthwise', 'x', ...}:
    the parts between / ; : and each part without a trailing '_N' (Keras' call counter)."""
    parts = re.split(r"[/;:]", name)
    return set(parts) | {re.sub(r"_\d+$", "", p) for p in parts}


def by_length(names) -> list[str]:
    """Layer names, longest first: the order in which :func:`find` tries them."""
    return sorted(names, key=len, reverse=True)


def find(node_name: str, names_longest_first: list[str]) -> str | None:
    """The longest layer name that is one of ``node_name``'s tokens, or None."""
    toks = tokens(node_name)
    return next((n for n in names_longest_first if n in toks), None)


def layer_in_tensor_name(name: str) -> str | None:
    """The Keras layer that a TFLite converter's tensor name points at, or None:
    'model_1/conv_dw_1_relu_1/Relu6;model_1/conv_dw_1_1/depthwise' -> 'conv_dw_1' (the
    shortest layer among its parts; Keras 3's call counter '_1' dropped when every part
    has one)."""
    layers = [chunk.split("/")[1] for chunk in name.split(";") if chunk.count("/") >= 2]
    if not layers:
        return None
    if all(re.search(r"_\d+$", x) for x in layers):
        layers = [re.sub(r"_\d+$", "", x) for x in layers]
    return min(layers, key=lambda x: (len(x), x)) or None


def match_macs(keras_layers, other_layers) -> dict[str, int]:
    """MACs of an export's records attributed to each Keras layer record: by name where the
    export kept the Keras name, then by position (execution order) among the layers left on
    both sides; '(unmatched)' for any rest."""
    mac_layers = [r.name for r in keras_layers if r.macs]
    keras_macs = {r.name: r.macs for r in keras_layers if r.macs}
    names = by_length(mac_layers)
    by_name = {r.name: r for r in other_layers}
    owner: dict[str, str] = {}
    result: dict[str, int] = {}
    left = []
    for r in other_layers:
        hit = find(r.name, names)
        if hit is None and r.macs:
            hit = _split_owner(r, by_name, owner, result, keras_macs)
        if hit is not None:
            owner[r.name] = hit
        if not r.macs:
            continue
        if hit is None:
            left.append(r)
        else:
            result[hit] = result.get(hit, 0) + r.macs
    free = [n for n in mac_layers if n not in result]
    if len(free) == len(left):
        for n, r in zip(free, left, strict=True):
            result[n] = r.macs
    elif left:
        result["(unmatched)"] = sum(r.macs for r in left)
    return result


def _split_owner(r, by_name, owner, result, keras_macs) -> str | None:
    """A separable convolution becomes a depthwise and a pointwise op; the exporter often
    names only the first. Charge an unnamed op to the Keras layer of the op feeding it (a
    few hops back) while that layer's MACs are not all accounted for."""
    name, hops = r.inputs[0] if r.inputs else None, 0
    while name is not None and hops < 3:
        k = owner.get(name)
        if k is not None:
            return k if result.get(k, 0) + r.macs <= keras_macs[k] else None
        prev = by_name.get(name)
        name = prev.inputs[0] if prev is not None and prev.inputs else None
        hops += 1
    return None


def _fused_owner(name: str, by_name: dict) -> str:
    """A fused kernel (conv + batch norm + activation) is charged to the layer with the
    MACs: walk back over batch norm and activation layers to it."""
    seen = 0
    while by_name[name]["op"] in FUSABLE and len(by_name[name]["inputs"]) == 1 and seen < 4:
        name = by_name[name]["inputs"][0]
        seen += 1
        if by_name[name]["macs"]:
            return name
    return name


def map_times(profile: dict, layers: list[dict]) -> list[dict]:
    """Per-layer rows of a per-op profile: node times summed per analysis layer (the
    analysis JSON's layer dicts), with MACs, achieved GMAC/s and share of the total; nodes
    that match no layer go to '(unmapped)'."""
    names = by_length(layer["name"] for layer in layers)
    by_name = {layer["name"]: layer for layer in layers}
    times: dict[str, float] = defaultdict(float)
    for n in profile["nodes"]:
        hit = find(n["node"], names)
        times[_fused_owner(hit, by_name) if hit else "(unmapped)"] += n["ms"]
    total = profile["total_ms"] or 1.0
    rows = []
    for name, ms in sorted(times.items(), key=lambda kv: -kv[1]):
        layer = by_name.get(name, {})
        macs = layer.get("macs", 0)
        rows.append({"layer": name, "op": layer.get("op", "-"), "ms": ms, "share": ms / total,
                     "macs": macs, "gmacs_per_s": macs / (ms * 1e-3) / 1e9 if macs and ms
                     else None})
    return rows
