"""`edgekit analyze` and `edgekit build`."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from edgekit.cli.app import app
from edgekit.cli.common import out, print_json, progress, status, wrote
from edgekit.cli.knobs import with_knobs
from edgekit.cli.options import (
    BatchOpt,
    DtypeOpt,
    InputShapeOpt,
    InputsOpt,
    JsonOpt,
    ReportOpt,
    TargetArg,
    WeightsOpt,
    choices_metavar,
)
from edgekit.core.choices import MemorySchedule


@app.command("analyze")
@with_knobs
def analyze_cmd(
    target: TargetArg = None,
    batch: BatchOpt = None,
    dtype: DtypeOpt = None,
    input_shape: InputShapeOpt = None,
    inputs: InputsOpt = None,
    json_out: JsonOpt = False,
    csv_path: Annotated[Optional[Path], typer.Option(
        "--csv", help="Also write the per-layer table as CSV ('-': the CSV on stdout "
        "instead of the table).")] = None,
    plot: Annotated[Optional[Path], typer.Option(
        "--plot", help="Also write a PNG: MACs and activation memory per layer.")] = None,
    summary: Annotated[bool, typer.Option(
        "--summary", "-s", help="Totals only, no per-layer table.")] = False,
    profile: Annotated[Optional[str], typer.Option(
        "--profile", "-P", help="A device profile (see 'edgekit profiles'): roofline time "
        "estimate and does it fit in flash and RAM.")] = None,
    memory_schedule: Annotated[str, typer.Option(
        "--memory-schedule", metavar=choices_metavar(MemorySchedule),
        help="given: peak in the model's order; best: also search "
        "the execution order with the lowest peak.")] = "given",
    memory_timeline: Annotated[Optional[Path], typer.Option(
        "--memory-timeline", help="Write a PNG of live activation memory per step.")
    ] = None,
    compare_formats: Annotated[bool, typer.Option(
        "--compare-formats", help="Export to ONNX and TFLite and show params, MACs and "
        "peak memory of the three side by side.")] = False,
    report: ReportOpt = None,
    weights: WeightsOpt = None,
    knobs=None,
):
    """Params, MACs and activation memory per layer, with totals and peak memory.

    Examples: 'edgekit analyze mobilenet --alpha 0.25',
    'edgekit analyze resnet50 --csv layers.csv', 'edgekit analyze vad.onnx --inputs x.npz'.
    """
    from edgekit.core.choices import one
    from edgekit.core.feeds import load_feeds
    from edgekit.core.shapes import parse_shapes
    from edgekit.services.analyze import analysis
    from edgekit.services.targets import resolve_target

    best = one(MemorySchedule, memory_schedule, "--memory-schedule") == "best"
    t = resolve_target(target, knobs, weights)
    shapes, feeds = parse_shapes(input_shape), load_feeds(inputs)
    _check_outputs(csv_path, plot, memory_timeline, report, json_out or compare_formats,
                   profile)
    if compare_formats:
        return _compare(t, json_out)
    with status(f"Analyzing {t.describe()}…"):
        result = analysis(t, batch=batch, dtype=dtype, input_shapes=shapes, profile=profile,
                          best_schedule=best, values=feeds)
    _render(result, json_out, summary, csv_path, plot, memory_timeline)
    if report:
        from edgekit.cli.common import write_report
        from edgekit.report.analysis import to_document

        write_report(report, "analysis", to_document(result.report, result.estimate,
                                                     result.schedule), f"analyze {t.describe()}")


def _check_outputs(csv_path, plot, memory_timeline, report, other_stdout: bool,
                   profile: str | None = None) -> None:
    """Every output can be written (after the inputs are known, the device profile read
    too: never onto one of them); only the CSV may go to stdout ('-'), and then nothing
    else does."""
    from edgekit.core.device_profiles import get_profile
    from edgekit.core.errors import UsageError
    from edgekit.core.files import check_writable, is_stdout

    if profile:
        get_profile(profile)

    for path, figure in ((csv_path, False), (plot, True), (memory_timeline, True),
                         (report, False)):
        if path:
            check_writable(path, figure, stdout=path is csv_path)
    if is_stdout(csv_path) and other_stdout:
        raise UsageError("--csv - prints the CSV on stdout; it does not go with "
                         "--json or --compare-formats")


def _compare(t, json_out: bool) -> None:
    from edgekit.report.compare import render_compare
    from edgekit.services.compare import compare_formats

    with progress("Comparing formats") as notify:
        result = compare_formats(t, notify)
    if json_out:
        print_json(result)
    else:
        render_compare(result, out)


def _render(result, json_out: bool, summary: bool, csv_path, plot, memory_timeline) -> None:
    from edgekit.report import analysis as R

    report, schedule, estimate = result.report, result.schedule, result.estimate
    if memory_timeline:
        R.plot_timeline(report, memory_timeline, schedule)
    if csv_path:
        R.write_csv(report, csv_path)
    if plot:
        R.plot_layers(report, plot)
    if json_out:
        print(R.to_json(report, estimate, schedule))
        return
    if str(csv_path) != "-":   # else the CSV is the output on stdout
        R.render_table(report, out, layers=not summary)
        if schedule is not None:
            R.render_schedule(report, schedule, out)
        if estimate is not None:
            R.render_estimate(estimate, out)
    for path in (csv_path, plot, memory_timeline):
        if path:
            wrote(path)


@app.command("build")
@with_knobs
def build_cmd(
    target: Annotated[str, typer.Argument(help="A zoo model name (see 'edgekit models').")],
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", help="Where to save the model (.keras). Default: NAME.keras")] = None,
    json_out: JsonOpt = False,
    weights: WeightsOpt = None,
    knobs=None,
):
    """Build a zoo model and save it as a .keras file (weights are freshly initialized)."""
    from edgekit.core.errors import UsageError
    from edgekit.core.files import check_writable, output_file
    from edgekit.services.targets import keras_model, resolve_target

    t = resolve_target(target, knobs, weights)
    if t.kind != "zoo":
        raise UsageError(f"{target} is not a zoo model name; see 'edgekit models'")
    output = output or Path(f"{t.name}.keras")
    if output.suffix != ".keras":
        raise UsageError(f"--output {output}: the file name must end in .keras")
    check_writable(output)
    with status(f"Building {t.describe()}…"):
        model = keras_model(t)
        with output_file(output) as tmp:
            model.save(tmp)
    if json_out:
        from edgekit.core.records import SCHEMA_VERSION

        print_json({"schema": SCHEMA_VERSION, "model": t.describe(), "name": t.name,
                    "knobs": t.knobs, "params": int(model.count_params()),
                    "file": str(output)})
    else:
        from edgekit.report.user_text import styled

        out.print(styled(f"saved {t.describe()} ({model.count_params():,} params) to "
                         f"{output}"), soft_wrap=True)
