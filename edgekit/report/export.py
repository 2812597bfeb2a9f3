"""The terminal summary of an export manifest."""

from __future__ import annotations

from edgekit.core.units import nbytes


def _num(v, fmt):
    return v if isinstance(v, str) else format(v, fmt)


def _pct(v) -> str:
    return "—" if v is None else f"{v:.1%}"


def render_export(manifest: dict, console) -> None:
    if any("fidelity_outputs" in a for a in manifest["artifacts"]):
        _render_several(manifest, console)
        return
    from edgekit.report.user_text import esc, marked, styled, text_table

    labels = manifest["validation"]["labels"]
    arts = manifest["artifacts"]
    on_logits = any(a["fidelity"].get("on") == "logits" for a in arts)
    table = text_table(f"{manifest['model']['name']} -> {manifest.get('out_dir', '')}",
                       console)
    floor = any(a["fidelity"].get("input_floor_sqnr_db") is not None for a in arts)
    cols = ["format", "quant", "size", "x fp32", "top-1", "cosine", "SQNR dB"]
    cols += ["floor dB"] if floor else []
    cols += ["max err"]
    cols += ["acc"] if labels else []
    cols += ["top-1 out"] if on_logits else []
    cols += ["time"]
    for c in cols:
        table.add_column(c, justify="left" if c in ("format", "quant") else "right")
    for a in manifest["artifacts"]:
        f = a["fidelity"]
        row = [a["format"], a["quant"], nbytes(a["bytes"]),
               _ratio(a),
               styled(_pct(f["top1_agreement"]), "" if a["fidelity_ok"] else "bold red"),
               f"{f['cosine']:.4f}", _num(f["sqnr_db"], ".1f")]
        if floor:
            v = f.get("input_floor_sqnr_db")
            row.append("" if v is None else _num(v, ".1f"))
        row.append(f"{f['max_abs_err']:.2g}")
        if labels:
            row.append(_pct(f.get("accuracy")))
        if on_logits:
            fo = a.get("fidelity_output") or {}
            row.append(f"{fo['top1_agreement']:.1%}" if "top1_agreement" in fo else "")
        row.append(f"{a['total_seconds']:.1f}s")
        table.add_row(*row)
    console.print(table)
    v = manifest["validation"]
    line = f"checked on {v['source']}"
    if v["keras_accuracy"] is not None:
        line += f"; Keras accuracy {v['keras_accuracy']:.1%}"
    console.print(marked(f"[dim]{esc(line)}. top-1: agreement of arg-max with Keras; x fp32: "
                         "file size / (params x 4 bytes); SQNR: 10·log10(signal/noise).[/dim]"))
    if floor:
        console.print("[dim]floor dB: the float model itself, fed its input rounded to the "
                      "int8 file's input grid, against the float model: the SQNR that "
                      "rounding the input alone leaves: an int8 file with that input can hardly "
                      "do better. An int8 SQNR near the floor means this network amplifies any "
                      "rounding (an untrained model does); far below it, the quantized "
                      "layers lose it (run --per-layer).[/dim]")
    if on_logits:
        logits = next(a["fidelity"].get("logits") for a in arts
                      if a["fidelity"].get("on") == "logits")
        figures = "top-1, cosine, SQNR, max err" + (" and acc" if labels else "")
        console.print(marked(f"[dim]The model ends in softmax: {figures} are on the logits "
                      f"({esc(logits)}); top-1 out: on the file's output, where an int8 softmax "
                      "rounds close probabilities to one level.[/dim]"))
    _keep_float_lines(arts, console)


def _keep_float_lines(arts: list[dict], console) -> None:
    """What --keep-float kept float and what it cost; a missed auto target in red."""
    from edgekit.report.user_text import styled

    for a in arts:
        if a.get("kept_float"):
            q = a["quantization"]
            plain = q.get("int8_bytes_without_keep_float") or next(
                (s["bytes"] for s in q.get("keep_float_steps", []) if not s["kept_float"]),
                None)
            delta = a["bytes"] - plain if plain else 0
            cost = (f", {'+' if delta >= 0 else '-'}{nbytes(abs(delta))} against plain int8"
                    if plain else "")
            console.print(styled(f"{a['file']}: kept float: {', '.join(a['kept_float'])}"
                                 f"{cost}"), soft_wrap=True)
        missed = _missed(a)
        if missed:
            console.print(styled(missed, "bold red"), soft_wrap=True)


def _ratio(a: dict) -> str:
    """File size / fp32 weights; a model without parameters has no such ratio."""
    r = a.get("size_ratio_to_fp32_weights")
    return "—" if r is None else f"{r:.2f}"


def _render_several(manifest: dict, console) -> None:
    """A model with several inputs or outputs: one row per artefact and output, the
    output that degrades most named per artefact."""
    from edgekit.report.user_text import esc, marked, styled, text_table

    arts = manifest["artifacts"]
    labels = manifest["validation"]["labels"]
    table = text_table(f"{manifest['model']['name']} -> {manifest.get('out_dir', '')}",
                       console)
    cols = ["format", "quant", "size", "output", "top-1", "cosine", "SQNR dB", "max err"]
    cols += ["acc"] if labels else []
    cols += ["time"]
    for c in cols:
        table.add_column(c, justify="left" if c in ("format", "quant", "output") else "right")
    for a in arts:
        for k, f in enumerate(a["fidelity_outputs"]):
            first = k == 0
            name = f["output"] + (" (worst)" if f["output"] == a["worst_output"]
                                  and len(a["fidelity_outputs"]) > 1 else "")
            row = [a["format"] if first else "", a["quant"] if first else "",
                   nbytes(a["bytes"]) if first else "", name,
                   _pct(f["top1_agreement"]), f"{f['cosine']:.4f}",
                   _num(f["sqnr_db"], ".1f"), f"{f['max_abs_err']:.2g}"]
            if labels:
                row.append(_pct(f.get("accuracy")))
            row.append(f"{a['total_seconds']:.1f}s" if first else "")
            table.add_row(*row)
    console.print(table)
    v = manifest["validation"]
    console.print(marked(f"[dim]checked on {esc(v['source'])}, every output against the "
                  f"float original's ({manifest['model'].get('format', 'keras')}). top-1: "
                  "agreement of arg-max with the float original, on classification outputs "
                  "(softmax or labelled); SQNR: 10·log10(signal/noise); (worst): the output "
                  "with the lowest SQNR.[/dim]"))
    for a in arts:
        if not a["fidelity_ok"]:
            console.print(styled(f"{a['file']}: below --min-agreement "
                                 f"{manifest['min_agreement']:.0%} on a classification "
                                 "output", "bold red"), soft_wrap=True)
    _keep_float_lines(arts, console)


def _missed(a: dict) -> str | None:
    """--keep-float auto's missed target: the sentence the export wrote into the manifest
    (what was measured, by how much it misses, why it stopped)."""
    q = a.get("quantization") or {}
    if q.get("keep_float_reached", True):
        return None
    says = (q.get("keep_float_missed") or {}).get("says")
    return f"{a['file']}: {says}" if isinstance(says, str) else \
        f"{a['file']}:{_not_reached(q)}"


def _not_reached(q: dict) -> str:
    """What --keep-float auto measured when it missed the target (a manifest written
    before the export said so itself)."""
    last = (q.get("keep_float_steps") or [{}])[-1]
    sqnr = last.get("sqnr_db")
    acc = last.get("accuracy")
    got = ", ".join(x for x in (
        f"SQNR {float(sqnr):.1f} dB" if sqnr is not None else "",
        f"accuracy {acc:.1%}" if acc is not None else "") if x)
    n = len(last.get("kept_float") or [])
    return (f" (target not reached: with {n} layers in float the file still has {got}; the "
            "error left is in what stays quantized, at least its input and output)")
