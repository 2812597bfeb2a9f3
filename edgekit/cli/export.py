"""`edgekit export`."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from edgekit.cli.app import app
from edgekit.cli.common import out, print_json, progress, warn, wrote
from edgekit.cli.knobs import with_knobs
from edgekit.cli.options import (
    InputShapeOpt,
    Int8Opt,
    JsonOpt,
    ReportOpt,
    WeightsOpt,
    choices_metavar,
    target_arg,
)
from edgekit.core.choices import CalibrationMethod, Format, IOType, Preprocess, Quant

ExportTargetArg = target_arg(".keras, .h5, a float .onnx or .tflite, or a SavedModel "
                             "folder")
FormatsOpt = Annotated[Optional[str], typer.Option(
    "--format", "-f", metavar=choices_metavar(Format, several=True),
    show_default="what the source makes: tflite,onnx from Keras, onnx from .onnx",
    help="Formats, comma-separated.")]
QuantOpt = Annotated[str, typer.Option(
    "--quant", "-q", metavar=choices_metavar(Quant, several=True),
    help="Comma-separated: none (float32), fp16, dynamic (int8 weights), "
                          "int8 (full integer, calibrated).")]
OutputOpt = Annotated[Optional[Path], typer.Option(
    "--output", "-o", help="Output folder. Default: edgekit-out/<model>/")]
CalibrationOpt = Annotated[Optional[str], typer.Option(
    "--calibration", "-c", help="A folder of images, an .npy/.npz array (already "
    "preprocessed; several inputs: one array per input name), or 'random' (timing only); "
    "a seeded random sample of -n rows. Default for zoo models: scikit-learn's sample "
    "photos.")]
SamplesOpt = Annotated[int, typer.Option(
    "--calibration-samples", "-n", help="Calibration samples to use.")]
MethodOpt = Annotated[str, typer.Option(
    "--calibration-method", metavar=choices_metavar(CalibrationMethod),
    help="ONNX int8 calibration method.")]
IoOpt = Annotated[str, typer.Option(
    "--io", metavar=choices_metavar(IOType),
    help="Full-int8 TFLite input/output type.")]
PreprocessOpt = Annotated[str, typer.Option(
    "--preprocess", metavar=choices_metavar(Preprocess),
    help="How image pixels become inputs: tf (-1..1), unit (0..1), "
    "imagenet (mean/std), raw (0..255).")]
ValidationOpt = Annotated[Optional[Path], typer.Option(
    "--validation", help="An .npz with x (inputs; several inputs: one array per input "
    "name) and y (labels; several outputs: y_<output>, optional): accuracy of every "
    "artefact next to the float original's.")]
MinAgreementOpt = Annotated[float, typer.Option(
    "--min-agreement", help="Warn when an artefact's top-1 agreement with Keras is "
    "below this fraction (0 to 1).")]
StrictOpt = Annotated[bool, typer.Option(
    "--strict", help="Fail (and write nothing) when an artefact is below "
    "--min-agreement.")]
PerLayerOpt = Annotated[bool, typer.Option(
    "--per-layer", help="Compare every layer of each quantized file with the same Keras "
    "layer (SQNR, cosine, step, clipping, collapse; accumulated and isolated) on the "
    "validation samples; name the worst. An ONNX, SavedModel or .tflite source: its float "
    "graph's own nodes and ops.")]
KeepFloatOpt = Annotated[Optional[str], typer.Option(
    "--keep-float", metavar="NAMES|auto", help="Full-int8 files with these Keras layers "
    "(of another source: the --per-layer rows' nodes/ops) left in float (comma-separated), "
    "or 'auto': add layers, worst first, until accuracy "
    "is within --max-drop of Keras or the output SQNR reaches --min-sqnr (the targets "
    "given; --max-drop's default without --min-sqnr); it stops when more layers stop "
    "helping or at --max-size-ratio, and says by how much it missed.")]
PlotOpt = Annotated[Optional[Path], typer.Option(
    "--plot", metavar="FILE.png|.pdf|.svg", help="Also write the per-layer chart (SQNR "
    "along depth, accumulated and isolated); implies --per-layer.", show_default=False)]
MaxDropOpt = Annotated[Optional[float], typer.Option(
    "--max-drop", min=0, max=100, show_default="1", help="--keep-float auto: accuracy "
    "points the int8 file may lose against Keras on --validation.")]
MaxSizeRatioOpt = Annotated[Optional[float], typer.Option(
    "--max-size-ratio", min=1, max=100, help="--keep-float auto: stop before the file "
    "grows past this multiple of the plain int8 file.")]
MinSqnrOpt = Annotated[Optional[float], typer.Option(
    "--min-sqnr", min=0, max=300, help="--keep-float auto: stop once the output SQNR "
    "(dB, on the logits when the model ends in softmax) reaches this.")]


# long: twenty options, one a line; the work is in services.export and _show
@app.command("export")
@with_knobs
def export_cmd(
    target: ExportTargetArg = None,
    formats: FormatsOpt = None,
    quant: QuantOpt = "none",
    int8: Int8Opt = False,
    output: OutputOpt = None,
    calibration: CalibrationOpt = None,
    samples: SamplesOpt = 100,
    method: MethodOpt = "minmax",
    io: IoOpt = "int8",
    preprocess: PreprocessOpt = "tf",
    validation: ValidationOpt = None,
    min_agreement: MinAgreementOpt = 0.9,
    strict: StrictOpt = False,
    per_layer: PerLayerOpt = False,
    keep_float: KeepFloatOpt = None,
    max_drop: MaxDropOpt = None,
    input_shape: InputShapeOpt = None,
    min_sqnr: MinSqnrOpt = None,
    max_size_ratio: MaxSizeRatioOpt = None,
    plot: PlotOpt = None,
    json_out: JsonOpt = False,
    report: ReportOpt = None,
    weights: WeightsOpt = None,
    knobs=None,
):
    """Convert to TFLite and ONNX (float, fp16, dynamic or full int8), checked against Keras.

    Examples: 'edgekit export --int8', 'edgekit export mobilenet --alpha 0.25 --format tflite
    --quant fp16', 'edgekit export my_model.keras --int8 --calibration images/',
    'edgekit export model.keras --int8 --calibration train.npz --validation val.npz
    --per-layer --plot layers.png', '... --keep-float auto'.
    """
    from edgekit.cli.common import write_report
    from edgekit.core.choices import many
    from edgekit.core.files import check_output_folder, check_writable
    from edgekit.core.shapes import parse_shapes
    from edgekit.export.pipeline import ExportOptions
    from edgekit.services.export import export_target, export_target_of

    quants = ["int8"] if int8 and quant == "none" else many(Quant, quant, "--quant")
    if int8 and "int8" not in quants:
        quants.append("int8")
    opts = ExportOptions(formats=formats, quants=quants, calibration=calibration,
                         samples=samples, method=method, io=io, preprocess=preprocess,
                         validation=validation, min_agreement=min_agreement, strict=strict,
                         out_dir=output, per_layer=per_layer or plot is not None,
                         keep_float=keep_float, max_drop=max_drop, min_sqnr=min_sqnr,
                         max_size_ratio=max_size_ratio, input_shapes=parse_shapes(input_shape))
    opts.validate()     # the plan is parsed; now what is on disk
    t = export_target_of(target, knobs, weights)
    check_output_folder(output or "edgekit-out")   # before the model is built
    if report:
        check_writable(report)   # after the inputs are known: never onto one of them
    if plot:
        check_writable(plot, figure=True)
    with progress("Exporting") as notify:
        manifest = export_target(t, opts, notify=notify, warn=warn)
    if report:
        write_report(report, "export", manifest, f"export {t.describe()}")
    _show(manifest, plot, per_layer, json_out)


def _show(manifest: dict, plot, per_layer: bool, json_out: bool) -> None:
    if plot:
        from edgekit.report.per_layer import plot_per_layer

        plot_per_layer(manifest, plot)
        wrote(plot)
    if json_out:
        print_json(manifest)
        return
    from edgekit.report.export import render_export

    render_export(manifest, out)
    if per_layer:
        from edgekit.report.per_layer import render_per_layer

        render_per_layer(manifest, out)
    from edgekit.report.user_text import styled

    out.print(styled(f"wrote {len(manifest['artifacts'])} files and manifest.json to "
                     f"{manifest['out_dir']}"), soft_wrap=True)
