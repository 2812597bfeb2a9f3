"""The model-level fidelity figure, honest about a coarse output.

A full-int8 file quantizes a softmax output with the fixed step 1/256. When the float
probabilities are close together (an untrained model: 1000 classes near 0.001 each; a
trained model on an ambiguous input) most of them round to the same level and the file's
arg-max is a tie: its top-1 agreement then measures rounding, not the model. So when the
model ends in softmax (or sigmoid), every artefact is compared with Keras on the tensor
before it, the logits (``fidelity["on"] == "logits"``), and the figure on the output is
kept beside it (``fidelity_output``). Both carry ``output_step`` (the quantization step of
the file's output, None when float) and ``output_tie_share`` (the share of samples whose
two largest Keras outputs are less than one output step apart: the file cannot order
them). The warning for an artefact below --min-agreement gives these measured reasons.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit.core import quant_error as qe
from edgekit.core.errors import first_line
from edgekit.core.fidelity import compare, json_safe
from edgekit.export.per_layer import file_logits, output_step

# the output of an artefact is 'coarse' when at least this share of samples is a tie
COARSE_TIES = 0.1


def figures(logits: tuple[str, np.ndarray] | None, ref: np.ndarray, path: Path,
            x: np.ndarray, out: np.ndarray, labels: np.ndarray | None
            ) -> tuple[dict, dict | None]:
    """(fidelity, fidelity_output) of one artefact whose output on the validation inputs
    ``x`` is ``out``: on the logits when the model has them (the output's figure second),
    else on the output (and None)."""
    on_output = compare(ref, out, labels)
    step = output_step(path)
    extra = {"output_step": step, "output_tie_share": qe.tie_share(ref, step)}
    on_output.update(extra)
    try:
        got = file_logits(path, x) if logits is not None else None
    except Exception as e:  # the runtime would not keep the tensor: the output's figure
        got = None
        on_output["logits_unreadable"] = first_line(e)
    if got is None or got.size != logits[1].size:
        return json_safe({**on_output, "on": "output"}), None
    on_logits = compare(logits[1], got.reshape(logits[1].shape), labels)
    on_logits.update(extra, on="logits", logits=logits[0])
    return json_safe(on_logits), json_safe({**on_output, "on": "output"})


def reasons(art: dict) -> str:
    """What was measured about one artefact's figure, for the below-threshold warning."""
    if "fidelity_outputs" in art:     # several outputs: each classification output's figure
        return f"{art['file']} " + ", ".join(
            f"output {o['output']} {o['top1_agreement']:.1%} (cosine {o['cosine']:.4f}, "
            f"SQNR {float(o['sqnr_db']):.1f} dB)" for o in art["fidelity_outputs"]
            if o.get("top1_agreement") is not None)
    f, fo = art["fidelity"], art.get("fidelity_output")
    text = (f"{art['file']} {f['top1_agreement']:.1%} (cosine {f['cosine']:.4f}, SQNR "
            f"{float(f['sqnr_db']):.1f} dB{' on the logits' if f.get('on') == 'logits' else ''})")
    if fo is not None and fo.get("output_step") and (fo.get("output_tie_share") or 0) > 0:
        ties = fo["output_tie_share"]
        text += (f"; its output is quantized with step {fo['output_step']:.3g} and on "
                 f"{ties:.0%} of samples Keras' two largest outputs are less than one step "
                 f"apart, so there the file's arg-max is a tie: {fo['top1_agreement']:.1%} "
                 "top-1 on the output")
    elif f.get("output_step") and (f.get("output_tie_share") or 0) >= COARSE_TIES:
        text += (f"; its output step {f['output_step']:.3g} is coarse: on "
                 f"{f['output_tie_share']:.0%} of samples Keras' two largest outputs are "
                 "less than one step apart (a tie in the file)")
    return text


def message(arts: list[dict], min_agreement: float, untrained: bool) -> str:
    """The one warning for every artefact below --min-agreement, with measured reasons."""
    text = (f"top-1 agreement with Keras below --min-agreement {min_agreement:.0%}: "
            + "; ".join(reasons(a) for a in arts))
    if untrained:
        text += (" — untrained zoo weights: the figure says how far int8 moves this "
                 "network's scores, not what a trained model would lose; export a trained "
                 "model for that (--per-layer shows where the error grows)")
    else:
        text += " — run --per-layer to see which layer loses it"
    return text


# ---- the floor that int8 input rounding alone sets ------------------------------------------

def input_grid(path: Path) -> tuple[float, int, int, int] | None:
    """(step, zero point, qmin, qmax) of the integer grid the file puts its (first) input
    on: an int8 input tensor, or the QUANTIZE / QuantizeLinear that the input feeds
    (through layout ops: rounding commutes with them); None when the input stays float."""
    from edgekit.export.capture import graph

    cap = graph(path)
    key = cap.inputs[0]
    q = cap.quant.get(key)
    for _ in range(4):
        step = next((op for op in cap.ops if key in op.inputs
                     and op.type in ("Transpose", "TRANSPOSE", "Reshape", "RESHAPE",
                                     "Identity")), None)
        if q is not None or step is None:
            break
        key = step.outputs[0]
    if q is None:
        first = next((op for op in cap.ops if key in op.inputs
                      and op.type in ("QUANTIZE", "QuantizeLinear")), None)
        if first is not None and cap.fmt == "tflite":
            q = cap.quant.get(first.outputs[0])
        elif first is not None:   # ONNX: the quantization is read at its DequantizeLinear
            dq = next((op for op in cap.ops if first.outputs[0] in op.inputs
                       and op.type == "DequantizeLinear"), None)
            q = cap.quant.get(dq.outputs[0]) if dq is not None else None
    return None if q is None else (q.step, q.zero_point, q.qmin, q.qmax)


def on_grid(x: np.ndarray, grid: tuple[float, int, int, int]) -> np.ndarray:
    """``x`` rounded to the integer grid and back to float (what an int8 input keeps)."""
    step, zp, qmin, qmax = grid
    return ((np.clip(np.round(x / step) + zp, qmin, qmax) - zp) * step).astype(np.float32)


def input_floor(model, layers, logits, ref: np.ndarray, x: np.ndarray,
                grid: tuple) -> dict:
    """The float model on its input rounded to ``grid``, against the float model on the
    input itself (on the logits when the figures are): the SQNR and top-1 agreement that
    rounding the input alone allows, which an int8 file of this input grid can hardly
    beat (its other errors would have to cancel this one)."""
    from edgekit.export.per_layer import logits_reference

    rounded = on_grid(x, grid)
    out, lg = logits_reference(model, layers, rounded) if layers is not None else (None, None)
    if out is None:
        from edgekit.export.multi_io import keras_run

        out = keras_run(model, rounded)[0]
    base, got = (logits[1], lg[1]) if logits is not None and lg is not None else (ref, out)
    f = compare(base, got)
    return {"input_floor_sqnr_db": json_safe({"v": f["sqnr_db"]})["v"],
            "input_floor_top1": f["top1_agreement"], "input_step": float(f"{grid[0]:.6g}")}
