"""`edgekit export`."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from edgekit.cli.app import app
from edgekit.cli.common import out, print_json, progress, warn
from edgekit.cli.knobs import with_knobs
from edgekit.cli.options import (
    Int8Opt,
    JsonOpt,
    KerasTargetArg,
    ReportOpt,
    WeightsOpt,
    choices_metavar,
)
from edgekit.core.choices import CalibrationMethod, Format, IOType, Preprocess, Quant

FormatsOpt = Annotated[str, typer.Option(
    "--format", "-f", metavar=choices_metavar(Format, several=True),
    help="Formats, comma-separated.")]
QuantOpt = Annotated[str, typer.Option(
    "--quant", "-q", metavar=choices_metavar(Quant, several=True),
    help="Comma-separated: none (float32), fp16, dynamic (int8 weights), "
                          "int8 (full integer, calibrated).")]
OutputOpt = Annotated[Optional[Path], typer.Option(
    "--output", "-o", help="Output folder. Default: edgekit-out/<model>/")]
CalibrationOpt = Annotated[Optional[str], typer.Option(
    "--calibration", "-c", help="A folder of images, an .npy/.npz array (already "
    "preprocessed), or 'random' (timing only). Default for zoo models: scikit-learn's "
    "sample photos.")]
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
    "--validation", help="An .npz with x (inputs) and y (labels): accuracy of every "
    "artefact next to Keras'.")]
MinAgreementOpt = Annotated[float, typer.Option(
    "--min-agreement", help="Warn when an artefact's top-1 agreement with Keras is "
    "below this fraction (0 to 1).")]
StrictOpt = Annotated[bool, typer.Option(
    "--strict", help="Fail (and write nothing) when an artefact is below "
    "--min-agreement.")]


@app.command("export")
@with_knobs
def export_cmd(
    target: KerasTargetArg = None,
    formats: FormatsOpt = "tflite,onnx",
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
    json_out: JsonOpt = False,
    report: ReportOpt = None,
    weights: WeightsOpt = None,
    knobs=None,
):
    """Convert to TFLite and ONNX (float, fp16, dynamic or full int8), checked against Keras.

    Examples: 'edgekit export --int8', 'edgekit export mobilenet --alpha 0.25 --format tflite
    --quant fp16', 'edgekit export my_model.keras --int8 --calibration images/'.
    """
    from edgekit.cli.common import write_report
    from edgekit.core.choices import many
    from edgekit.core.files import check_output_folder, check_writable
    from edgekit.export.pipeline import ExportOptions
    from edgekit.services.export import export_target
    from edgekit.services.targets import resolve_target

    quants = ["int8"] if int8 and quant == "none" else many(Quant, quant, "--quant")
    if int8 and "int8" not in quants:
        quants.append("int8")
    opts = ExportOptions(formats=formats, quants=quants, calibration=calibration,
                         samples=samples, method=method, io=io, preprocess=preprocess,
                         validation=validation, min_agreement=min_agreement, strict=strict,
                         out_dir=output)
    opts.validate()
    t = resolve_target(target, knobs, weights)
    check_output_folder(output or "edgekit-out")   # before the model is built
    if report:
        check_writable(report)   # after the inputs are known: never onto one of them
    with progress("Exporting") as notify:
        manifest = export_target(t, opts, notify=notify, warn=warn)
    if report:
        write_report(report, "export", manifest, f"export {t.describe()}")
    if json_out:
        print_json(manifest)
        return
    from edgekit.report.export import render_export

    render_export(manifest, out)
    out.print(f"wrote {len(manifest['artifacts'])} files and manifest.json to "
              f"{manifest['out_dir']}")
