"""``--keep-float NAMES|auto``: full-int8 files with some layers left in float.

TFLite: the converter calibrates once (``_experimental_calibrate_only``), then its MLIR
quantizer quantizes the calibrated model with the kept layers' ops on its deny list
(``denylisted_nodes``: the ops' output tensor names, the mechanism behind
``tf.lite.experimental.QuantizationDebugOptions``); LiteRT runs those ops in float between a
DEQUANTIZE and a QUANTIZE. ONNX: ``quantize_static(nodes_to_exclude=...)`` with the kept
layers' nodes of the pre-processed model. Both find a layer's ops with the per-layer
matching (:func:`edgekit.export.per_layer.match`), so a name means the same layer group
in both formats and in the per-layer table.

``auto`` starts from the plain int8 file and adds layers, worst isolated SQNR first, until
the accuracy on the validation labels is within ``--max-drop`` points of Keras' or the SQNR
of the model's output (logits) reaches ``--min-sqnr`` (several outputs: the output that
degrades most, :mod:`edgekit.export.keep_float_target`; only layers on its way are kept
float). A named layer without an op in the file is one line. When the worst layer is already
float, what hurts is its output being quantized for the int8 layers after it (the
quantize op sits in its group): those layers are added next, so the tensor between them
becomes float.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from edgekit.core import quant_error as qe
from edgekit.core.errors import UsageError
from edgekit.core.files import write_output
from edgekit.core.quiet import quiet_stderr, quiet_stdout
from edgekit.export.capture import onnx_graph, tflite_graph
from edgekit.export.converters import conversion_failed, quantize_onnx, representative_dataset
from edgekit.export.keep_float_target import aim, missed, reached, says
from edgekit.export.multi_io import rows as row_count
from edgekit.export.per_layer import KerasGraph, compare_layers, match

AUTO = "auto"


def parse(spec: str | None) -> list[str] | str | None:
    """'auto', a comma-separated list of layer names, or None."""
    if spec is None:
        return None
    spec = spec.strip()
    if spec == AUTO:
        return AUTO
    names = [n.strip() for n in spec.split(",") if n.strip()]
    if not names:
        raise UsageError("--keep-float: give layer names (comma-separated) or 'auto'")
    return names


def resolve(names: list[str], kg: KerasGraph) -> list[str]:
    """Layer names -> the groups they belong to (a batch norm or activation names the
    layer it is fused into); one line for a name the model does not have."""
    out = []
    for n in names:
        g = kg.group_of.get(n)
        if not g:
            known = ", ".join(g.name for g in kg.groups)
            raise UsageError(f"--keep-float {n}: the model has no such layer (layers: "
                             f"{known})")
        if g not in out:
            out.append(g)
    return out


# ---- TFLite ---------------------------------------------------------------------------------

def tflite_calibrated(model, calib) -> bytes:
    """The calibrated float TFLite model (activation ranges recorded, nothing quantized);
    ``calib``: one array, or one per Keras input."""
    from edgekit._tf import tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative_dataset(model, calib)
    converter._experimental_calibrate_only = True
    try:
        with quiet_stdout(), quiet_stderr(), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return converter.convert()
    except Exception as e:
        raise conversion_failed("tflite", "int8", e) from e


def without_ops(groups: set, keep: list[str]) -> list[str]:
    """The kept groups that have no op in the file (folded away or fused into another
    layer's op by the converter)."""
    return [g for g in keep if g not in groups]


def tflite_quantized(calibrated: bytes, kg: KerasGraph, keep: list[str], io: str,
                     missing: list | None = None) -> bytes:
    """Full int8 from the calibrated model, the ops of the ``keep`` groups left float
    (``missing`` gets the kept groups that have no op in the file)."""
    from tensorflow.lite.python import convert

    from edgekit._tf import tf

    _, cap = tflite_graph(None, content=calibrated)
    _, tensor_group = match(cap, kg)
    kept = {t: g for t, g in tensor_group.items()
            if g in keep and t not in cap.inputs and cap.names.get(t)}
    if missing is not None:
        missing[:] = without_ops(set(kept.values()), keep)
    deny = sorted({cap.names[t] for t in kept})
    io_type = tf.int8 if io == "int8" else tf.float32
    try:
        with quiet_stdout(), quiet_stderr():
            return convert.mlir_quantize(calibrated, disable_per_channel=False,
                                         fully_quantize=True, input_data_type=io_type,
                                         output_data_type=io_type,
                                         denylisted_nodes=deny or None)
    except Exception as e:
        raise conversion_failed("tflite", "int8", e) from e


# ---- ONNX -----------------------------------------------------------------------------------

def onnx_nodes(model, kg: KerasGraph, keep: list[str], missing: list | None = None
               ) -> list[str]:
    """The names of the nodes of the kept groups in a (pre-processed) ONNX model
    (``missing`` gets the kept groups that have none)."""
    _, cap = onnx_graph(None, model=model)
    _, tensor_group = match(cap, kg)
    nodes = [(op.name, tensor_group[op.outputs[0]]) for op in cap.ops
             if op.outputs and tensor_group.get(op.outputs[0]) in keep and op.name]
    if missing is not None:
        missing[:] = without_ops({g for _, g in nodes}, keep)
    return [n for n, _ in nodes]


def onnx_quantized(float_model: bytes, calib, method: str, kg: KerasGraph,
                   keep: list[str], missing: list | None = None) -> tuple[bytes, dict]:
    return quantize_onnx(float_model, "int8", calib, method,
                         keep_float=lambda m: onnx_nodes(m, kg, keep, missing))


# ---- one artefact ---------------------------------------------------------------------------

class Builder:
    """Makes the int8 file of one format with a given set of kept layers (the TFLite
    calibration done once)."""

    def __init__(self, ctx, fmt: str):
        self.ctx, self.fmt = ctx, fmt
        self._calibrated: bytes | None = None

    def __call__(self, keep: list[str], named: bool = False) -> tuple[bytes, dict]:
        """The file; with ``named`` (the user's --keep-float names), a kept layer that has
        no op in the file is one line."""
        ctx, opts = self.ctx, self.ctx.opts
        x = ctx.calib.x
        missing: list[str] = []
        if self.fmt == "tflite":
            if self._calibrated is None:
                self._calibrated = tflite_calibrated(ctx.model, x)
            content = tflite_quantized(self._calibrated, ctx.layers, keep, opts.io, missing)
            details = {"scheme": "int8", "weights": "int8 per-channel",
                       "activations": "int8 per-tensor", "io": opts.io,
                       "calibration_samples": row_count(x)}
        else:
            content, details = onnx_quantized(ctx.onnx_float(), x, opts.method, ctx.layers,
                                              keep, missing)
        if named and missing:
            raise UsageError(f"--keep-float {missing[0]}: the {self.fmt} file has no op of "
                             f"this layer (the converter folded it away or fused it into "
                             f"another layer's op); keep a layer that has ops")
        details["kept_float"] = list(keep)
        return content, details


def next_layers(rows: list[dict], kept: list[str], kg: KerasGraph) -> list[str]:
    """The layers to keep float next: the worst (isolated) not yet kept; when the worst is
    already float, the layers it feeds (its output is quantized for them)."""
    ranked = sorted((r for r in rows if qe.as_float(r.get("isolated_sqnr_db")) is not None),
                    key=lambda r: qe.as_float(r["isolated_sqnr_db"]))
    have = {r["layer"] for r in rows}        # groups with ops in the file

    def fed_by(name: str, depth: int = 0) -> list[str]:
        out = []
        for g in kg.groups:
            if name in g.sources:
                if g.name in have:
                    out.append(g.name)
                elif depth < 4:          # a padding or reshape folded into the next op
                    out += fed_by(g.name, depth + 1)
        return out

    for r in ranked:
        if r["layer"] not in kept:
            return [r["layer"]]
        after = [n for n in dict.fromkeys(fed_by(r["layer"])) if n not in kept]
        if after:
            return after
    return []


# auto stops when this many steps in a row brought less than MIN_GAIN (dB of SQNR, or
# accuracy points) over the best file so far: keeping more layers stopped helping
PATIENCE = 2
MIN_GAIN = 0.5


def keras_choice(ctx, fmt: str, evaluate):
    """``choose(probe, kept)`` of a Keras model: the layers next (:func:`next_layers`)
    among those on the way to the output auto aims at (a layer of another head cannot
    help it)."""
    def choose(probe, kept):
        rows = compare_layers(ctx.model, probe, ctx.xs, ctx.layers, ctx.layer_refs(),
                              verified=ctx.verified(fmt))
        output = aim(evaluate(probe), ctx).output     # the probe's figures: cached
        if output is not None:
            feeding = ctx.layers.upstream(output)
            rows = [r for r in rows if r["layer"] in feeding] or rows
        return next_layers(rows, kept, ctx.layers)

    return choose


def _step(kept: list[str], content: bytes, fid: dict) -> dict:
    """One step of auto, for the manifest (several outputs: the worst one's figures, and
    the accuracy of each labelled output)."""
    step = {"kept_float": list(kept), "bytes": len(content), "accuracy": fid.get("accuracy"),
            "sqnr_db": fid["sqnr_db"], "top1_agreement": fid["top1_agreement"]}
    if "per_output" in fid:
        step.update(output=fid["output"], accuracy_per_output={
            f["output"]: f["accuracy"] for f in fid["per_output"]
            if f.get("accuracy") is not None})
    return step


def auto(ctx, fmt: str, evaluate, staging: Path, notify, build=None, choose=None,
         why: str = "worst isolated SQNR") -> tuple[bytes, dict]:
    """--keep-float auto for one format. ``evaluate(path) -> fidelity`` runs a candidate
    file on the validation samples. Stops at the target, when no layer is left, when
    PATIENCE steps in a row gained less than MIN_GAIN, or when the next file would exceed
    --max-size-ratio times the plain int8 file; then the best file so far is the result
    and ``keep_float_missed`` says by how much it misses. ``build(kept) -> (bytes,
    details)`` and ``choose(probe, kept) -> the layers to keep next`` default to a Keras
    model's (a source that is not Keras gives its own: ``export.source_layers``)."""
    build = build or Builder(ctx, fmt)
    choose = choose or keras_choice(ctx, fmt, evaluate)
    kept: list[str] = []
    steps: list[dict] = []
    best: tuple | None = None        # (Aim, content, details, kept)
    flat, stop = 0, None
    probe = staging / f".keep-float-probe.{fmt}"
    budget = ctx.opts.max_size_ratio
    try:
        while True:
            content, details = build(kept)
            plain = steps[0]["bytes"] if steps else len(content)
            if budget is not None and len(content) > budget * plain:
                stop = (f"size budget: keeping {', '.join(kept[-3:])} would make the file "
                        f"{len(content) / plain:.2f}x the plain int8 file (--max-size-ratio "
                        f"{budget:g})")
                break
            write_output(probe, lambda f, c=content: f.write(c))   # the one writer
            fid = evaluate(probe)
            got = aim(fid, ctx)
            steps.append(_step(kept, content, fid))
            if reached(fid, ctx):
                best, stop = (got, content, details, list(kept)), None
                break
            # a new best only for a gain worth its size: MIN_GAIN or more
            if best is None or (got.margin is not None and best[0].margin is not None
                                and got.margin >= best[0].margin + MIN_GAIN):
                best, flat = (got, content, details, list(kept)), 0
            else:
                flat += 1
            if flat >= PATIENCE:
                stop = (f"no gain: the last {PATIENCE} layers kept float gained less than "
                        f"{MIN_GAIN:g} {'dB' if got.unit == 'dB' else 'points'}")
                break
            more = choose(probe, kept)
            if not more:
                stop = "no layer left to keep float"
                break
            notify(f"    keeping {', '.join(more)} float ({why})")
            kept += more
    finally:
        probe.unlink(missing_ok=True)
    got, content, details, kept = best
    details["keep_float_reached"] = stop is None
    if stop is not None:
        details["keep_float_stopped"] = stop
        m = missed(got)
        details["keep_float_missed"] = {**m, "says": says(m, len(kept), stop)}
    details["keep_float_steps"] = steps
    details["kept_float"] = list(kept)
    return content, details


def missed_line(art: dict) -> str | None:
    """The line for an artefact whose --keep-float auto missed its target."""
    q = art.get("quantization") or {}
    if q.get("keep_float_reached", True):
        return None
    return f"{art['file']}: {q['keep_float_missed']['says']}"


def convert(ctx, fmt: str, evaluate, staging: Path, notify) -> tuple[bytes, dict]:
    """The int8 artefact of ``fmt`` with --keep-float applied."""
    keep = ctx.keep_float
    if keep == AUTO:
        return auto(ctx, fmt, evaluate, staging, notify)
    build = Builder(ctx, fmt)
    content, details = build(resolve(keep, ctx.layers), named=True)
    details["int8_bytes_without_keep_float"] = len(build([])[0])
    return content, details
