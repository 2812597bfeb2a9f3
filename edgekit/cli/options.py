"""Options that several commands share, declared once."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from edgekit.core.choices import listing

TargetArg = Annotated[Optional[str], typer.Argument(
    help="A zoo model name (see 'edgekit models') or a model file (.keras, .h5, .onnx, "
         ".tflite). "
         "Default: mobilenet --alpha 0.25 --resolution 96.", show_default=False)]
BatchOpt = Annotated[int, typer.Option("--batch", "-b", min=1,
                                       help="Batch size: scales MACs and memory.")]
DtypeOpt = Annotated[Optional[str], typer.Option(
    "--dtype", help="Activation dtype for memory figures: float32, float16, int8, ... "
    "Default: float32 for Keras models, the stored dtypes for .onnx/.tflite files.",
    show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (schema in the README) "
                                                      "instead of the table.")]
PlotOpt = Annotated[Optional[Path], typer.Option(
    "--plot", help="Also write a PNG of the figures.")]


def choices_metavar(enum) -> str:
    """'[given|best]': how --help lists a fixed choice."""
    return "[" + listing(enum).replace(", ", "|") + "]"
