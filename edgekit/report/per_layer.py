"""The per-layer comparison of an export (``--per-layer``): the terminal table, the chart
(SQNR along depth: accumulated as a line, isolated as markers, per artefact) as a
PNG/PDF/SVG, and the section of the HTML report."""

from __future__ import annotations

from pathlib import Path

from edgekit.core import quant_error as qe
from edgekit.core.quant_error import CHANNEL_CAP_DB, as_float
from edgekit.report.figures import save_figure

COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]


def with_rows(manifest: dict) -> list[dict]:
    """The artefacts that carry per-layer rows."""
    return [a for a in manifest.get("artifacts", []) if a.get("per_layer")]


def _db(v) -> str:
    """An SQNR: 'inf' for an exact tensor, '>=100' where every channel reached the cap of
    the channel average (core.quant_error.CHANNEL_CAP_DB: exact to float precision)."""
    f = as_float(v)
    if f is None:
        return ""
    return "inf" if f == float("inf") else ">=100" if f >= CHANNEL_CAP_DB else f"{f:.1f}"


def _share(v) -> str:
    return "" if v is None else f"{v:.0%}" if v else "0"


def render_per_layer(manifest: dict, console) -> None:
    from edgekit.report.user_text import styled, text_table

    for a in with_rows(manifest):
        kept = set(a.get("kept_float") or [])
        worst = a.get("per_layer_summary") or ""
        bad = (qe.standing_out(a["per_layer"]) or {}).get("layer")
        table = text_table(f"{a['file']}: layer by layer against {_reference(manifest)}",
                           console)
        for c in ("layer", "op", "SQNR dB", "isolated dB", "cosine", "max err", "step",
                  "clipped", "collapsed"):
            table.add_column(c, justify="left" if c in ("layer", "op") else "right")
        for r in a["per_layer"]:
            name = r["layer"] + (" (float)" if r["layer"] in kept else "")
            table.add_row(styled(name, "bold red" if r["layer"] == bad else ""), r["op"],
                          _db(r["sqnr_db"]), _db(r["isolated_sqnr_db"]),
                          "" if r["cosine"] is None else f"{r['cosine']:.4f}",
                          f"{r['max_abs_error']:.2g}",
                          "" if r["step"] is None else f"{r['step']:.3g}",
                          _share(r["clipped_share"]), _share(r["collapsed_share"]))
        console.print(table)
        if worst:
            console.print(styled(worst[0].upper() + worst[1:] + "."))
    if with_rows(manifest) and manifest["model"].get("format", "keras") != "keras":
        console.print("[dim]SQNR: the file's tensor against the same tensor of the float "
                      "graph, with every error before it (accumulated); isolated: the float "
                      "op or node alone on the file's own input to it, averaged over output "
                      "channels (the error that op adds). collapsed: share of output channels "
                      "left on one quantization level.[/dim]")
    elif with_rows(manifest):
        console.print("[dim]SQNR: the file's layer output against Keras' with every error "
                      "before it (accumulated); isolated: against the float layer run on the "
                      "file's own input to it, averaged over output channels (the error that "
                      "layer adds). collapsed: share of output channels left on one "
                      "quantization level.[/dim]")


def _reference(manifest: dict) -> str:
    """What the rows are compared with: Keras, or a source's own float graph."""
    return "Keras" if manifest["model"].get("format", "keras") == "keras" \
        else "the float graph"


CAP_DB = 80.0   # identical tensors (inf dB) are drawn at the top of the chart


def _ys(rows, key) -> list[float | None]:
    out = []
    for r in rows:
        f = as_float(r.get(key))
        out.append(None if f is None else min(f, CAP_DB))
    return out


def plot_per_layer(manifest: dict, path: Path) -> None:
    """SQNR along depth for every artefact with per-layer rows: accumulated (solid) and
    isolated (dashed), the worst layer marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arts = with_rows(manifest)
    names = arts[0]["per_layer"] and [r["layer"] for r in arts[0]["per_layer"]] if arts else []
    fig, ax = plt.subplots(figsize=(min(16, max(7, len(names) * 0.45)), 4.5))
    for k, a in enumerate(arts):
        rows = a["per_layer"]
        colour = COLOURS[k % len(COLOURS)]
        xs = list(range(len(rows)))
        label = f"{a['format']} {a['quant']}"
        shift = 0.08 * (k - (len(arts) - 1) / 2)      # formats side by side
        ax.plot([x + shift for x in xs], _ys(rows, "sqnr_db"), "-o", color=colour, ms=3,
                label=f"{label}: accumulated")
        if any(y is not None for y in _ys(rows, "isolated_sqnr_db")):   # Keras sources
            ax.plot([x + shift for x in xs], _ys(rows, "isolated_sqnr_db"), "v",
                    color=colour, ms=6, alpha=0.8,
                    label=f"{label}: isolated (the layer's own error)")
        bad = (qe.standing_out(rows) or {}).get("layer")
        for x, r in zip(xs, rows, strict=True):
            if r["layer"] == bad and k == 0:
                y = _ys([r], "isolated_sqnr_db")[0] or 0.0
                ax.annotate(f"worst: {r['layer']}", (x, y), xytext=(8, 12),
                            textcoords="offset points", fontsize=8,
                            arrowprops={"arrowstyle": "->", "lw": 0.8})
        kept = set(a.get("kept_float") or [])
        for x, r in zip(xs, rows, strict=True):
            if r["layer"] in kept:
                ax.axvspan(x - 0.4, x + 0.4, color=colour, alpha=0.08)
    if arts:
        longest = max(arts, key=lambda a: len(a["per_layer"]))["per_layer"]
        ax.set_xticks(range(len(longest)))
        ax.set_xticklabels([r["layer"] for r in longest], rotation=60, ha="right", fontsize=7)
    ax.set_ylabel(f"SQNR against {_reference(manifest)} (dB, capped at {CAP_DB:.0f})")
    ax.set_xlabel("layer (execution order)")
    ax.set_title(f"{manifest['model'].get('name', '')}: error layer by layer")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    save_figure(fig, Path(path))


def html_section(doc: dict, n: int) -> str:
    """The per-layer part of an export's HTML section: one SVG chart and one table per
    artefact (empty when the export has no per-layer rows)."""
    from edgekit.report.html_parts import Plot as _Plot
    from edgekit.report.html_parts import esc as _e
    from edgekit.report.html_parts import table as _table

    arts = with_rows(doc)
    if not arts:
        return ""
    longest = max(len(a["per_layer"]) for a in arts)
    ys = [y for a in arts for key in ("sqnr_db", "isolated_sqnr_db")
          for y in _ys(a["per_layer"], key) if y is not None] or [0.0]
    plot = _Plot(list(range(max(longest, 2))), ys, "layer (execution order)",
                 f"SQNR against {_reference(doc)} (dB)", x0=0)
    legend, tables = [], []
    for k, a in enumerate(arts):
        colour = COLOURS[k % len(COLOURS)]
        for key, dash in (("sqnr_db", ""), ("isolated_sqnr_db", ' stroke-dasharray="5 4"')):
            pts = [(plot.px(x), plot.py(y)) for x, y in enumerate(_ys(a["per_layer"], key))
                   if y is not None]
            if len(pts) > 1:
                d = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
                plot.parts.append(f'<polyline points="{d}" fill="none" stroke="{colour}" '
                                  f'stroke-width="1.6"{dash}/>')
        legend.append(f'<span style="color:{colour}">{_e(a["file"])}</span>')
        rows = [[r["layer"], r["op"], as_float(r["sqnr_db"]), as_float(r["isolated_sqnr_db"]),
                 r["cosine"], r["step"], r["clipped_share"], r["collapsed_share"]]
                for r in a["per_layer"]]
        tables.append(f"<h4>{_e(a['file'])}</h4><p>{_e(a.get('per_layer_summary') or '')}"
                      "</p>" + _table(["layer", "op", "SQNR dB", "isolated dB", "cosine",
                                       "step", "clipped", "collapsed"], rows,
                                      numeric={"SQNR dB", "isolated dB", "cosine", "step",
                                               "clipped", "collapsed"}))
    chart = plot.svg("SQNR along depth: accumulated (solid) and isolated (dashed)")
    return (f"<h3>Layer by layer</h3><p>{' · '.join(legend)} — solid: accumulated, dashed: "
            "isolated (the error each layer adds)</p>" + chart + "".join(tables))
