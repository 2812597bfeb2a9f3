"""`edgekit profile`: per-op times of a model, or a device's latency table (--lut). Its
options are bench's (cli/bench.py) where they mean the same; every option is checked before
the first export or measurement, and an option that does not apply to the mode asked for
(a model knob with --lut, --lut-name without it) is refused, never ignored."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from edgekit.cli.app import app
from edgekit.cli.bench import (
    BatchesOpt,
    CoresOpt,
    DeviceOpt,
    ProviderOpt,
    QuantOpt,
    RunsOpt,
    ThreadsOpt,
    TopOpt,
    WarmupOpt,
    XnnpackOpt,
)
from edgekit.cli.common import int_list, out, print_json, progress, wrote
from edgekit.cli.knobs import with_knobs
from edgekit.cli.options import (
    InputShapeOpt,
    InputsOpt,
    Int8Opt,
    JsonOpt,
    PlotOpt,
    ProfileTargetArg,
    WeightsOpt,
    batch_list,
    provider_list,
    quant_choice,
)
from edgekit.core import choices as C


def _one(values: list[int], option: str) -> int:
    from edgekit.core.errors import UsageError

    if len(values) != 1:
        raise UsageError(f"{option} {','.join(map(str, values))}: profile runs one setting "
                         "at a time (bench times several)")
    return values[0]


LutOpt = Annotated[bool, typer.Option(
    "--lut", rich_help_panel="Latency table", help="Measure a latency table instead: every "
    "distinct op of the zoo models named (default mobilenet,mobilenet_v2) over "
    "--lut-alpha x --lut-resolution x --lut-quant, each timed alone in LiteRT, here or on "
    "--device (when both v1 and v2 are named, also single-op models of the newer "
    "families' kernels: hard-swish, squeeze-excite, 5x5 depthwise, so that v3, "
    "EfficientNet-Lite and v4 are "
    "predicted from measured kernels); written as NAME.lut.json beside the user's "
    "profiles, where 'analyze "
    "--profile NAME' finds it. Model knobs (--alpha: use --lut-alpha) and the options of "
    "a per-op profile (--quant, --runtime, --plot, ...) are refused with it.")]
LutAlphaOpt = Annotated[Optional[str], typer.Option(
    "--lut-alpha", metavar="A,...", rich_help_panel="Latency table", help="Width "
    "multipliers. Default: 0.25,0.5,0.75,1.0 (mobilenet), 0.35,0.5,0.75,1.0 "
    "(mobilenet_v2).", show_default=False)]
LutResolutionOpt = Annotated[str, typer.Option(
    "--lut-resolution", metavar="R,...", rich_help_panel="Latency table",
    help="Input resolutions.")]
LutQuantOpt = Annotated[str, typer.Option(
    "--lut-quant", metavar="Q,...", rich_help_panel="Latency table",
    help="Quantizations (none, int8, ...).")]
LutNameOpt = Annotated[Optional[str], typer.Option(
    "--lut-name", metavar="NAME", rich_help_panel="Latency table", help="The table's "
    "name: the profile it serves (letters, digits, '.', '_', '-'). Default: the --device's "
    "name, or 'host'.",
    show_default=False)]
OutputOpt = Annotated[Optional[Path], typer.Option(
    "--output", "-o", rich_help_panel="Latency table", help="Write the table here instead.",
    show_default=False)]
ProfileRuntimeOpt = Annotated[Optional[str], typer.Option(
    "--runtime", "-r", metavar="[litert|onnxruntime]", help="litert: each op of the "
    "TFLite form cut out and timed alone; onnxruntime: its profiler on the ONNX form. "
    "Default: litert for .tflite files, onnxruntime otherwise.", show_default=False)]


# options that measure a latency table, and the others that apply to it
LUT_ONLY = ("lut_alpha", "lut_resolution", "lut_quant", "lut_name", "output")
LUT_ALSO = ("target", "runs", "warmup", "threads", "xnnpack", "device", "cores", "json_out",
            "lut")


# long: two dozen options, one a line; the work is in _run_profile and _lut
@app.command("profile")
@with_knobs
def profile_cmd(
    ctx: typer.Context,
    target: ProfileTargetArg = None,
    runtime: ProfileRuntimeOpt = None,
    runs: RunsOpt = 100,
    warmup: WarmupOpt = 10,
    threads: ThreadsOpt = None,
    batch: BatchesOpt = None,
    input_shape: InputShapeOpt = None,
    inputs: InputsOpt = None,
    provider: ProviderOpt = "cpu",
    xnnpack: XnnpackOpt = True,
    device: DeviceOpt = None,
    cores: CoresOpt = None,
    quant: QuantOpt = "none",
    int8: Int8Opt = False,
    top: TopOpt = 20,
    plot: PlotOpt = None,
    json_out: JsonOpt = False,
    weights: WeightsOpt = None,
    lut: LutOpt = False,
    lut_alpha: LutAlphaOpt = None,
    lut_resolution: LutResolutionOpt = "96,128,160,192,224",
    lut_quant: LutQuantOpt = "none,int8",
    lut_name: LutNameOpt = None,
    output: OutputOpt = None,
    knobs=None,
):
    """Per-op times of a model, mapped to layers; or a device's latency table (--lut).

    .tflite (LiteRT): every op is cut out into a single-op model and timed alone with the
    same threads and XNNPACK setting; the whole model's time stands beside their sum.
    .onnx (onnxruntime): its profiler. Zoo and Keras models: their export (--runtime).
    By op type and by op or layer, with MACs and achieved GMAC/s; with --device, on the
    board. Examples: 'edgekit profile model.tflite --threads 1', 'edgekit profile
    mobilenet --runtime litert --int8', 'edgekit profile --lut --device pi5'.
    """
    from edgekit.bench.run import BenchOptions
    from edgekit.core.feeds import load_feeds
    from edgekit.core.files import check_writable
    from edgekit.core.shapes import parse_shapes
    from edgekit.services.targets import resolve_target

    _check_mode(ctx, lut)
    specs = parse_shapes(input_shape)
    opts = BenchOptions(runtimes=["litert" if lut else "onnxruntime"],
                        providers=provider_list(provider),
                        threads=int_list(threads, "--threads") if threads else [1],
                        batches=batch_list(batch, specs), runs=runs, warmup=warmup,
                        cores=int_list(cores, "--cores") if cores else None,
                        quant=quant_choice(quant, int8), input_shapes=specs, xnnpack=xnnpack,
                        feeds=load_feeds(inputs))
    opts.validate()
    one_thread = _one(opts.threads, "--threads") if threads else None
    if lut:
        return _lut(target, opts, one_thread, device, lut_alpha, lut_resolution, lut_quant,
                    lut_name, output, json_out)
    t = resolve_target(target, knobs, weights)
    runtime = _profile_runtime(runtime, t)
    if plot:   # after the inputs are known: never onto one of them
        check_writable(plot, figure=True)
    with progress("Profiling") as notify:
        prof = _run_profile(t, runtime, opts, one_thread, device, bool(batch or specs),
                            notify)
    from edgekit.report.bench import plot_profile, render_profile

    if plot:
        plot_profile(prof, plot, top)
        wrote(plot)
    if json_out:
        print_json(prof)
    else:
        render_profile(prof, out, top)


def _given(ctx: typer.Context, name: str) -> bool:
    """Was the option given (command line or environment), not left at its default?"""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")


def _check_mode(ctx: typer.Context, lut: bool) -> None:
    """Refuse, before any work, an option given on the command line that the mode asked
    for would ignore: with --lut, a model knob (--alpha: the grid is --lut-alpha), --quant,
    --runtime, --plot, ...; without it, the --lut-* options and -o."""
    from edgekit.core.errors import UsageError

    given = [p for p in ctx.command.params if _given(ctx, p.name)]
    flag = {p.name: max(p.opts, key=len) if p.opts else p.name for p in given}
    if lut:
        stray = [flag[p.name] for p in given if p.name not in LUT_ONLY + LUT_ALSO]
        if stray:
            grid = {"--alpha": "--lut-alpha", "--resolution": "--lut-resolution",
                    "--quant": "--lut-quant", "--int8": "--lut-quant int8"}
            hint = "; ".join(f"{f}: use {grid[f]}" for f in stray if f in grid)
            raise UsageError(f"{', '.join(stray)} {'does' if len(stray) == 1 else 'do'} not "
                             "apply to --lut, which measures the grid of --lut-alpha x "
                             "--lut-resolution x --lut-quant" + (f" ({hint})" if hint
                                                                 else ""))
    else:
        stray = [flag[p.name] for p in given if p.name in LUT_ONLY]
        if stray:
            raise UsageError(f"{', '.join(stray)} {'goes' if len(stray) == 1 else 'go'} "
                             "with --lut (a latency table); add --lut, or leave "
                             f"{'it' if len(stray) == 1 else 'them'} out")


def _run_profile(t, runtime: str, opts, threads, device, batch_given: bool, notify) -> dict:
    from edgekit.services.bench import check_feeds

    check_feeds([t], opts.feeds)
    if runtime == "litert":
        from edgekit.services.profile import tflite_profile

        return tflite_profile(t, opts.method(), threads, opts.xnnpack, opts.quant, device,
                              notify)
    from edgekit.bench.run import check_providers
    from edgekit.services.profile import op_profile

    if device is None:
        check_providers(opts)
    return op_profile(t, runs=opts.runs, warmup=opts.warmup, threads=threads,
                      provider=_one(opts.providers, "--provider"), notify=notify,
                      input_shapes=opts.input_shapes,
                      batch=_one(opts.batches, "--batch") if batch_given else None,
                      quant=opts.quant, device=device, feeds=opts.feeds)


def _profile_runtime(runtime: str | None, target) -> str:
    from edgekit.core.errors import UsageError

    if runtime is None:
        return "litert" if target.format == "tflite" else "onnxruntime"
    if runtime not in ("litert", "onnxruntime"):
        raise UsageError(f"--runtime {runtime}: profile runs one of litert, onnxruntime")
    want = {"tflite": "litert", "onnx": "onnxruntime"}.get(target.format, runtime)
    if want != runtime:
        raise UsageError(f"--runtime {runtime} cannot run {target.path} ({target.format}): "
                         f"use --runtime {want}")
    return runtime


def _lut(models: str | None, opts, threads, device, alphas, resolutions, quants, name,
         output, json_out) -> None:
    from edgekit.cli.common import float_list
    from edgekit.report.bench import render_lut
    from edgekit.services.lut import DEFAULT_GRID, Grid, measure_table

    grid = Grid(models=[m.strip() for m in models.split(",")] if models
                else list(DEFAULT_GRID),
                alphas=float_list(alphas, "--lut-alpha") if alphas else None,
                resolutions=int_list(resolutions, "--lut-resolution"),
                quants=C.many(C.Quant, quants, "--lut-quant"))
    with progress("Measuring a latency table") as notify:
        table = measure_table(grid, opts.method(), threads, opts.xnnpack, device, name,
                              output, notify)
    if json_out:
        print_json({k: v for k, v in table.items() if k != "kernels"})
    else:
        render_lut(table, out)
    wrote(Path(table["path"]))
