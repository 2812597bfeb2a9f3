"""`analyze --compare-formats`: the Keras model, its ONNX and its TFLite export, side by side.

The three readers share the counting module, so the same convolution gives the same MACs in
every format: total MACs must agree exactly. Params and memory differ for known reasons,
which the result explains: batch norm folded into the convolution before it, activations
fused into the op before them, the Transpose ops tf2onnx inserts between NHWC and NCHW.
"""

from __future__ import annotations

from edgekit.core.layermatch import match_macs
from edgekit.core.records import SCHEMA_VERSION, Report
from edgekit.services.analyze import analyze, analyze_file
from edgekit.services.export import cached_export
from edgekit.services.targets import keras_model


def _count(report: Report, ops: set[str]) -> int:
    return sum(r.op in ops for r in report.layers)


def compare_formats(target, notify=lambda m: None) -> dict:
    notify(f"Building {target.describe()}")
    model = keras_model(target)
    keras_report = analyze(target, model=model)
    files = cached_export(target, "none", notify, model=model)
    notify("Reading the ONNX and TFLite files")
    reports = {"keras": keras_report, "onnx": analyze_file(files["onnxruntime"]),
               "tflite": analyze_file(files["litert"])}
    totals = {fmt: r.totals() for fmt, r in reports.items()}
    matched = {fmt: match_macs(keras_report.layers, reports[fmt].layers)
               for fmt in ("onnx", "tflite")}
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
    notes = _notes(keras_report, reports)
    macs = {fmt: t["macs"] for fmt, t in totals.items()}
    return {
        "schema": SCHEMA_VERSION, "model": keras_report.model,
        "files": {"onnx": str(files["onnxruntime"]), "tflite": str(files["litert"])},
        "totals": {fmt: {k: t[k] for k in ("params", "macs", "peak_activation_bytes",
                                            "activation_bytes_total", "layers")}
                   for fmt, t in totals.items()},
        "macs_agree": len(set(macs.values())) == 1,
        "layers": layers, "notes": notes,
    }


def _notes(keras_report: Report, reports: dict[str, Report]) -> list[str]:
    """Why params and memory differ between the formats, with the counts."""
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
    return notes
