"""Options that several commands share, declared once."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from edgekit.core.choices import MAX_ANALYZE_BATCH, listing
from edgekit.core.counting import DTYPE_BYTES


class Number:
    """A numeric option read by core.numbers.read_number: finite, in its range, the unit in
    the error. cli.main makes every int/float option of every command read through one (ranges
    from Typer's min=/max=, never negative unless declared); options with a unit or a
    range Typer cannot say are declared in number_options()."""

    def __init__(self, lo=0, hi=None, unit: str = "", integer: bool = False,
                 lo_open: bool = False, hi_open: bool = False):
        self.lo, self.hi, self.unit, self.integer = lo, hi, unit, integer
        self.lo_open, self.hi_open = lo_open, hi_open

    def convert(self, value, param, ctx):
        from edgekit.core.numbers import read_number

        if value is None:
            return None
        option = max(param.opts, key=len) if param is not None and param.opts else "value"
        return read_number(value, option, self.lo, self.hi, self.unit, self.integer,
                           self.lo_open, self.hi_open)

    def __repr__(self) -> str:
        return f"Number({self.lo}, {self.hi}, {self.unit!r}, integer={self.integer})"


def number_options() -> dict:
    """The numeric options whose range or unit Typer's min=/max= cannot state, by flag (an
    option means the same in every command); cli.main applies them. Model knobs are only
    given the widest range of any model here; each model's own is Knob.validate's."""
    from edgekit.core import choices as C
    from edgekit.zoo import registry

    found = {k.flag: Number(k.minimum, k.maximum, integer=k.kind is int,
                            lo_open=k.min_exclusive)
             for k in registry.all_knobs() if k.kind in (int, float)}
    found.update({
        "--max-latency": Number(0, C.MAX_SECONDS * 1e3, "ms", lo_open=True),
        "--cooldown": Number(0, C.MAX_SECONDS, "s"),
        "--min-duration": Number(0.001, C.MAX_SECONDS, "s"),
        "--time-budget": Number(0.001, C.MAX_SECONDS, "s"),
        "--min-agreement": Number(0, 1, "a fraction"),
        "--calibration-samples": Number(1, C.MAX_SAMPLES, integer=True),
    })
    return found


def target_arg(files: str):
    return Annotated[Optional[str], typer.Argument(
        help=f"A zoo model name (see 'edgekit models') or a model file ({files}). "
             "Default: mobilenet --alpha 0.25 --resolution 96.", show_default=False)]


TargetArg = target_arg(".keras, .h5, .onnx, .tflite")
KerasTargetArg = target_arg(".keras, .h5")             # export converts Keras models
ProfileTargetArg = target_arg(".keras, .h5, .onnx, .tflite")
BatchOpt = Annotated[Optional[int], typer.Option(
    "--batch", "-b", min=1, max=MAX_ANALYZE_BATCH, show_default="1",
    help="Batch size: scales MACs and memory (an .onnx file: the size of the batch axis "
    "it declares, axis 0 of its first input when dynamic; figures are for one call).")]
DtypeOpt = Annotated[Optional[str], typer.Option(
    "--dtype", metavar="[" + "|".join(DTYPE_BYTES) + "]",
    help="Activation dtype for memory figures. Default: float32 for Keras models, the "
    "stored dtypes for .onnx/.tflite files.",
    show_default=False)]
Int8Opt = Annotated[bool, typer.Option("--int8", help="Short for --quant int8.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (schema in the README) "
                                                      "instead of the table.")]
PlotOpt = Annotated[Optional[Path], typer.Option(
    "--plot", metavar="FILE.png|.pdf|.svg", help="Also write a chart (the format the "
    "file name ends in).", show_default=False)]


def choices_metavar(enum, several: bool = False) -> str:
    """'[given|best]': how --help lists a fixed choice ('[a|b],...' for a list)."""
    return "[" + listing(enum).replace(", ", "|") + "]" + (",..." if several else "")


InputsOpt = Annotated[Optional[Path], typer.Option(
    "--inputs", metavar="FILE.npz",
    help="Input values of an .onnx model, keyed by input name (np.savez(FILE, image=..., "
    "state=...)): their shapes and dtypes are the sizes analyzed, timed or profiled, and "
    "their values decide control flow (If, Loop); with --device they are sent to the "
    "board with the model. Inputs not in the file keep their declared or --input-shape "
    "sizes.", show_default=False)]
InputShapeOpt = Annotated[Optional[list[str]], typer.Option(
    "--input-shape", metavar="[NAME:]DxD...",
    help="Full input shape, batch first, in the model's own layout (1x3x224x224); for files "
    "with dynamic sizes. Repeat it, with NAME:, for each input of a multi-input model.",
    show_default=False)]

WeightsOpt = Annotated[Optional[str], typer.Option(
    "--weights", metavar="FILE|imagenet", rich_help_panel="Model knobs (zoo models; each "
    "model takes some, see 'edgekit models')",
    help="Weights for a zoo model that mirrors keras.applications (mobilenet, mobilenet_v2, "
    "xception, vgg16/19, inception_v3, densenet*): a Keras weights file, or 'imagenet' for "
    "keras.applications' own file in ~/.keras/models (never downloaded).",
    show_default=False)]

ReportOpt = Annotated[Optional[Path], typer.Option(
    "--report", metavar="FILE.html", help="Also write this result as a self-contained HTML "
    "page (see 'edgekit report').", show_default=False)]


# ---- option values shared by bench and profile ---------------------------------------

def warmup_count(value: str) -> int | str:
    """--warmup: a count of untimed calls (ASCII digits), or 'auto'."""
    from edgekit.core.errors import UsageError
    from edgekit.core.numbers import NumberError, read_number

    if value.strip().lower() == "auto":
        return "auto"
    try:
        return read_number(value, "--warmup", 0, integer=True)
    except NumberError:
        raise UsageError(f"--warmup {value}: expected a count or 'auto'") from None


def quant_choice(quant: str, int8: bool) -> str:
    """--int8 is short for --quant int8; given with another --quant, one line."""
    from edgekit.core.errors import UsageError

    if int8 and quant not in ("none", "int8"):
        raise UsageError(f"--int8 and --quant {quant} disagree: give one")
    return "int8" if int8 else quant


def provider_list(value: str) -> list[str]:
    """--provider cpu,cuda: the names, in order."""
    return [p.strip() for p in value.split(",") if p.strip()]


def batch_list(batch: str | None, specs) -> list[int | None]:
    """--batch; without it [None]: each model at the sizes it declares or is given
    (--input-shape, --inputs), its batch axis (if any) 1 unless a given shape sets it."""
    from edgekit.cli.common import int_list
    from edgekit.core.errors import UsageError

    if batch is None:
        return [None]
    batches = int_list(batch, "--batch")
    first = {s.dims[0] for s in specs if s.name is None}   # an unnamed shape: the first input
    if first and set(batches) != first:
        raise UsageError(f"--batch {batch} and the batch of --input-shape "
                         f"({', '.join(map(str, sorted(first)))}) disagree: give it once")
    return batches
