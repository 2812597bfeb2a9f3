"""Render a cross-format comparison."""

from __future__ import annotations

from edgekit.core.units import nbytes, si


def render_compare(result: dict, console) -> None:
    from edgekit.report.user_text import styled, text_table

    t = result["totals"]
    table = text_table(f"{result['model']['name']}: Keras vs ONNX vs TFLite", console)
    for c in ("", "keras", "onnx", "tflite"):
        table.add_column(c, justify="left" if not c else "right")
    table.add_row("params", *(f"{t[f]['params']:,}" for f in ("keras", "onnx", "tflite")))
    table.add_row("MACs", *(f"{t[f]['macs']:,}" for f in ("keras", "onnx", "tflite")))
    table.add_row("peak activations",
                  *(nbytes(t[f]["peak_activation_bytes"]) for f in ("keras", "onnx", "tflite")))
    table.add_row("layers / ops", *(str(t[f]["layers"]) for f in ("keras", "onnx", "tflite")))
    console.print(table)
    verdict = ("[green]total MACs agree exactly[/green]" if result["macs_agree"]
               else "[bold red]total MACs differ[/bold red]")
    console.print(verdict)
    per = text_table("MACs per layer (export ops matched to Keras layers by name)", console)
    for c in ("layer", "op", "keras", "onnx", "tflite", ""):
        per.add_column(c, justify="left" if c in ("layer", "op") else "right")
    for row in result["layers"]:
        same = row["keras"] == row["onnx"] == row["tflite"]
        per.add_row(row["layer"], row["op"], si(row["keras"]), si(row["onnx"]),
                    si(row["tflite"]), "" if same else styled("≠", "yellow"))
    console.print(per)
    for note in result["notes"]:
        console.print(styled(f"* {note}", "dim"))
