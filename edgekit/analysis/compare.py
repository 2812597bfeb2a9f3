"""`analyze --compare-formats`: the Keras model, its ONNX and its TFLite export, side by side.

The three readers share the counting module, so the same convolution gives the same MACs in
every format: total MACs must agree exactly. Params and memory differ for known reasons,
which the result explains: batch norm folded into the convolution before it, activations
fused into the op before them, the Transpose ops tf2onnx inserts between NHWC and NCHW.
"""

from __future__ import annotations

import re

from edgekit.core.records import Report


def _tokens(name: str) -> set[str]:
    """'model_1/conv_dw_3_1/depthwise;x' -> {'conv_dw_3', 'depthwise', 'x', ...}"""
    parts = re.split(r"[/;:]", name)
    out = set(parts)
    out |= {re.sub(r"_\d+$", "", p) for p in parts}
    return out


def match_layers(keras: Report, other: Report) -> dict[str, int]:
    """MACs of ``other`` attributed to each Keras layer: by name where the export kept the
    Keras name, then by position (execution order) among the layers left on both sides;
    '(unmatched)' for any rest."""
    mac_layers = [r.name for r in keras.layers if r.macs]
    keras_macs = {r.name: r.macs for r in keras.layers if r.macs}
    names = sorted(mac_layers, key=len, reverse=True)
    by_name = {r.name: r for r in other.layers}
    owner: dict[str, str] = {}
    result: dict[str, int] = {}
    left = []
    for r in other.layers:
        toks = _tokens(r.name)
        hit = next((n for n in names if n in toks), None)
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


def _count(report: Report, ops: set[str]) -> int:
    return sum(r.op in ops for r in report.layers)


def compare_formats(target, notify=lambda m: None) -> dict:
    from edgekit import services
    from edgekit.analysis.onnx_reader import read_onnx
    from edgekit.analysis.tflite_reader import read_tflite
    from edgekit.export.pipeline import cached_export

    notify(f"Building {target.describe()}")
    model = services.keras_model(target)
    keras_report = services.analyze_keras(model, target)
    files = cached_export(target, "none", notify, model=model)
    notify("Reading the ONNX and TFLite files")
    reports = {"keras": keras_report}
    for fmt, reader, path in (("onnx", read_onnx, files["onnxruntime"]),
                              ("tflite", read_tflite, files["litert"])):
        records, outputs, info = reader(path)
        reports[fmt] = Report({"name": target.name, "path": str(path), **info}, records,
                              outputs=outputs)
    totals = {fmt: r.totals() for fmt, r in reports.items()}
    matched = {fmt: match_layers(keras_report, reports[fmt]) for fmt in ("onnx", "tflite")}
    layers = []
    for r in keras_report.layers:
        if r.macs:
            layers.append({"layer": r.name, "op": r.op, "keras": r.macs,
                           "onnx": matched["onnx"].get(r.name, 0),
                           "tflite": matched["tflite"].get(r.name, 0)})
    for fmt in ("onnx", "tflite"):
        if "(unmatched)" in matched[fmt]:
            layers.append({"layer": "(unmatched)", "op": "-", "keras": 0,
                           fmt: matched[fmt]["(unmatched)"],
                           **{f: 0 for f in ("onnx", "tflite") if f != fmt}})
    notes = []
    bn = _count(keras_report, {"BatchNormalization"})
    if bn:
        folded = {fmt: bn - _count(reports[fmt], {"BatchNormalization"}) for fmt in
                  ("onnx", "tflite")}
        notes.append(f"batch norm: Keras has {bn} layers (4 params per channel: gamma, beta, "
                     f"and the non-trainable moving mean and variance); the exports fold "
                     f"them into the convolution before them (ONNX: {folded['onnx']}, "
                     f"TFLite: {folded['tflite']} folded), leaving one bias per channel or "
                     f"a per-channel Mul/Add, so their params are lower")
    acts = _count(keras_report, {"ReLU", "Activation"})
    if acts:
        notes.append(f"activations: Keras has {acts} activation layers; TFLite fuses them "
                     f"into the op before them ({_count(reports['tflite'], {'RELU', 'RELU6'})}"
                     f" left as ops), onnxruntime fuses them at load time")
    transposes = _count(reports["onnx"], {"Transpose"})
    if transposes:
        notes.append(f"layout: tf2onnx inserted {transposes} Transpose op(s) between the "
                     "Keras NHWC input and ONNX's NCHW convolutions")
    notes.append("peak memory: each format is planned over its own graph (fewer, fused "
                 "ops in the exports keep fewer tensors alive)")
    macs = {fmt: t["macs"] for fmt, t in totals.items()}
    return {
        "schema": 1, "model": keras_report.model,
        "files": {"onnx": str(files["onnxruntime"]), "tflite": str(files["litert"])},
        "totals": {fmt: {k: t[k] for k in ("params", "macs", "peak_activation_bytes",
                                            "activation_bytes_total", "layers")}
                   for fmt, t in totals.items()},
        "macs_agree": len(set(macs.values())) == 1,
        "layers": layers, "notes": notes,
    }
