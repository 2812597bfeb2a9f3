"""The terminal summary of an export manifest."""

from __future__ import annotations

from edgekit.core.units import nbytes


def _num(v, fmt):
    return v if isinstance(v, str) else format(v, fmt)


def render_export(manifest: dict, console) -> None:
    from rich.table import Table

    labels = manifest["validation"]["labels"]
    table = Table(title=f"{manifest['model']['name']} -> {manifest.get('out_dir', '')}",
                  title_justify="left", box=None, pad_edge=False, header_style="bold")
    cols = ["format", "quant", "size", "x fp32", "top-1", "cosine", "SQNR dB", "max err"]
    cols += ["acc"] if labels else []
    cols += ["time"]
    for c in cols:
        table.add_column(c, justify="left" if c in ("format", "quant") else "right")
    for a in manifest["artifacts"]:
        f = a["fidelity"]
        row = [a["format"], a["quant"], nbytes(a["bytes"]),
               f"{a['size_ratio_to_fp32_weights']:.2f}",
               ("" if a["fidelity_ok"] else "[bold red]") + f"{f['top1_agreement']:.1%}",
               f"{f['cosine']:.4f}", _num(f["sqnr_db"], ".1f"), f"{f['max_abs_err']:.2g}"]
        if labels:
            row.append(f"{f['accuracy']:.1%}")
        row.append(f"{a['total_seconds']:.1f}s")
        table.add_row(*row)
    console.print(table)
    v = manifest["validation"]
    line = f"checked on {v['source']}"
    if v["keras_accuracy"] is not None:
        line += f"; Keras accuracy {v['keras_accuracy']:.1%}"
    console.print(f"[dim]{line}. top-1: agreement of arg-max with Keras; x fp32: file size / "
                  f"(params x 4 bytes); SQNR: 10·log10(signal/noise).[/dim]")
