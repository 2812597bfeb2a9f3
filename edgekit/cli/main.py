"""edgekit's command line. Heavy imports (TensorFlow, onnxruntime) happen inside commands."""

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from edgekit import __version__
from edgekit.cli.common import err, out, progress, status
from edgekit.cli.knobs import with_knobs
from edgekit.core.errors import EdgekitError, first_line

app = typer.Typer(
    name="edgekit",
    help="Build, analyze, export and benchmark CNNs for phones, boards and microcontrollers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

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


def _version(value: bool):
    if value:
        out.print(f"edgekit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show Python tracebacks on errors "
                                                        "(or set EDGEKIT_DEBUG=1).")] = False,
):
    if debug:
        os.environ["EDGEKIT_DEBUG"] = "1"


@app.command("models")
def models_cmd(json_out: JsonOpt = False):
    """List the zoo: names, families, knobs with defaults, papers."""
    from edgekit.zoo import registry

    if json_out:
        data = [{"name": e.name, "family": e.family, "paper": e.paper, "summary": e.summary,
                 "knobs": {k.name: k.default for k in e.knobs}} for e in registry.REGISTRY.values()]
        print(json.dumps({"schema": 1, "models": data}, indent=2))
        return
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("name", no_wrap=True)
    table.add_column("knobs (default)", ratio=3)
    table.add_column("family, paper", ratio=1)
    for e in registry.REGISTRY.values():
        knobs = "  ".join(  # no-break spaces keep each flag with its default
            k.flag if k.kind is bool
            else f"{k.flag}\u00a0{k.default if k.default is not None else '-'}"
            for k in e.knobs)
        table.add_row(e.name, knobs, f"{e.family}: {e.paper.split(',')[0]}")
    out.print(table)


@app.command("analyze")
@with_knobs
def analyze_cmd(
    target: TargetArg = None,
    batch: BatchOpt = 1,
    dtype: DtypeOpt = None,
    input_shape: Annotated[Optional[str], typer.Option(
        "--input-shape", help="For .onnx files with dynamic sizes: the input shape without "
        "batch, e.g. 224,224,3.")] = None,
    json_out: JsonOpt = False,
    csv_path: Annotated[Optional[Path], typer.Option(
        "--csv", help="Also write the per-layer table as CSV.")] = None,
    plot: Annotated[Optional[Path], typer.Option(
        "--plot", help="Also write a PNG: MACs and activation memory per layer.")] = None,
    summary: Annotated[bool, typer.Option(
        "--summary", "-s", help="Totals only, no per-layer table.")] = False,
    profile: Annotated[Optional[str], typer.Option(
        "--profile", "-P", help="A device profile (see 'edgekit profiles'): roofline time "
        "estimate and does it fit in flash and RAM.")] = None,
    memory_schedule: Annotated[str, typer.Option(
        "--memory-schedule", help="given: peak in the model's order; best: also search "
        "the execution order with the lowest peak.")] = "given",
    memory_timeline: Annotated[Optional[Path], typer.Option(
        "--memory-timeline", help="Write a PNG of live activation memory per step.")
    ] = None,
    compare_formats: Annotated[bool, typer.Option(
        "--compare-formats", help="Export to ONNX and TFLite and show params, MACs and "
        "peak memory of the three side by side.")] = False,
    knobs=None,
):
    """Params, MACs and activation memory per layer, with totals and peak memory.

    Examples: 'edgekit analyze mobilenet --alpha 0.25',
    'edgekit analyze resnet50 --csv layers.csv', 'edgekit analyze model.keras --json'.
    """
    from edgekit import services
    from edgekit.core.errors import UsageError

    if memory_schedule not in ("given", "best"):
        raise UsageError(f"--memory-schedule {memory_schedule}: must be given or best")
    t = services.resolve_target(target, knobs)
    if compare_formats:
        from edgekit.analysis.compare import compare_formats as run_compare
        from edgekit.report.compare import render_compare

        with progress("Comparing formats") as notify:
            result = run_compare(t, notify)
        if json_out:
            print(json.dumps(result, indent=2))
        else:
            render_compare(result, out)
        return
    device = None
    if profile:
        from edgekit.core.profiles import get_profile

        device = get_profile(profile)
    with status(f"Analyzing {t.describe()}…"):
        report = services.analyze(
            t, batch=batch, dtype=dtype,
            input_shape=tuple(_int_list(input_shape, "--input-shape")) if input_shape else None)
    schedule = report.best_schedule() if memory_schedule == "best" else None
    if memory_timeline:
        from edgekit.report.analysis import plot_timeline

        plot_timeline(report, memory_timeline, schedule)
    estimate = None
    if device is not None:
        from edgekit.core.profiles import estimate as roofline_estimate

        estimate = roofline_estimate(report, device)
    if csv_path:
        from edgekit.report.analysis import write_csv

        write_csv(report, csv_path)
    if plot:
        from edgekit.report.analysis import plot_layers

        plot_layers(report, plot)
    if json_out:
        from edgekit.report.analysis import to_json

        print(to_json(report, estimate, schedule))
        return
    from edgekit.report.analysis import render_estimate, render_schedule, render_table

    render_table(report, out, layers=not summary)
    if schedule is not None:
        render_schedule(report, schedule, out)
    if estimate is not None:
        render_estimate(estimate, out)
    for path in (csv_path, plot, memory_timeline):
        if path:
            err.print(f"wrote {path}")


@app.command("build")
@with_knobs
def build_cmd(
    target: Annotated[str, typer.Argument(help="A zoo model name (see 'edgekit models').")],
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", help="Where to save the model (.keras). Default: NAME.keras")] = None,
    knobs=None,
):
    """Build a zoo model and save it as a .keras file (weights are freshly initialized)."""
    from edgekit import services
    from edgekit.core.errors import UsageError
    from edgekit.report.files import atomic_path

    t = services.resolve_target(target, knobs)
    if t.kind != "zoo":
        raise UsageError(f"{target} is not a zoo model name; see 'edgekit models'")
    output = output or Path(f"{t.name}.keras")
    if output.suffix != ".keras":
        raise UsageError(f"--output {output}: the file name must end in .keras")
    with status(f"Building {t.describe()}…"):
        model = services.keras_model(t)
        with atomic_path(output) as tmp:
            model.save(tmp)
    out.print(f"saved {t.describe()} ({model.count_params():,} params) to {output}")


def _csv_list(value: str, option: str) -> list:
    items = [v.strip().lower() for v in value.split(",") if v.strip()]
    if not items:
        from edgekit.core.errors import UsageError

        raise UsageError(f"{option} needs at least one value")
    return list(dict.fromkeys(items))


@app.command("export")
@with_knobs
def export_cmd(
    target: TargetArg = None,
    formats: Annotated[str, typer.Option(
        "--format", "-f", help="Comma-separated: tflite, onnx.")] = "tflite,onnx",
    quant: Annotated[str, typer.Option(
        "--quant", "-q", help="Comma-separated: none (float32), fp16, dynamic (int8 weights), "
                              "int8 (full integer, calibrated).")] = "none",
    int8: Annotated[bool, typer.Option("--int8", help="Short for --quant int8.")] = False,
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", help="Output folder. Default: edgekit-out/<model>/")] = None,
    calibration: Annotated[Optional[str], typer.Option(
        "--calibration", "-c", help="A folder of images, an .npy/.npz array (already "
        "preprocessed), or 'random' (timing only). Default for zoo models: scikit-learn's "
        "sample photos.")] = None,
    samples: Annotated[int, typer.Option(
        "--calibration-samples", "-n", help="Calibration samples to use.")] = 100,
    method: Annotated[str, typer.Option(
        "--calibration-method", help="ONNX int8 calibration: minmax, entropy, percentile."
    )] = "minmax",
    io: Annotated[str, typer.Option(
        "--io", help="Full-int8 TFLite input/output type: int8 or float.")] = "int8",
    preprocess: Annotated[str, typer.Option(
        "--preprocess", help="How image pixels become inputs: tf (-1..1), unit (0..1), "
        "imagenet (mean/std), raw (0..255).")] = "tf",
    validation: Annotated[Optional[Path], typer.Option(
        "--validation", help="An .npz with x (inputs) and y (labels): accuracy of every "
        "artefact next to Keras'.")] = None,
    min_agreement: Annotated[float, typer.Option(
        "--min-agreement", help="Warn when an artefact's top-1 agreement with Keras is "
        "below this fraction.")] = 0.9,
    strict: Annotated[bool, typer.Option(
        "--strict", help="Fail (and write nothing) when an artefact is below "
        "--min-agreement.")] = False,
    json_out: JsonOpt = False,
    knobs=None,
):
    """Convert to TFLite and ONNX (float, fp16, dynamic or full int8), checked against Keras.

    Examples: 'edgekit export --int8', 'edgekit export mobilenet --alpha 0.25 --format tflite
    --quant fp16', 'edgekit export my_model.keras --int8 --calibration images/'.
    """
    from edgekit import services
    from edgekit.cli.common import warn
    from edgekit.export.pipeline import ExportOptions, export

    quants = ["int8"] if int8 and quant == "none" else _csv_list(quant, "--quant")
    if int8 and "int8" not in quants:
        quants.append("int8")
    opts = ExportOptions(formats=_csv_list(formats, "--format"), quants=quants,
                         calibration=calibration, samples=samples, method=method.lower(),
                         io=io.lower(), preprocess=preprocess.lower(), validation=validation,
                         min_agreement=min_agreement, strict=strict, out_dir=output)
    opts.validate()
    t = services.resolve_target(target, knobs)
    with progress("Exporting") as notify:
        manifest = export(t, opts, notify=notify, warn=warn)
    if json_out:
        print(json.dumps(manifest, indent=2))
        return
    from edgekit.report.export import render_export

    render_export(manifest, out)
    out.print(f"wrote {len(manifest['artifacts'])} files and manifest.json to "
              f"{manifest['out_dir']}")


def _int_list(value: str, option: str) -> list[int]:
    from edgekit.core.errors import UsageError

    try:
        return [int(v) for v in _csv_list(value, option)]
    except ValueError:
        raise UsageError(f"{option} {value}: expected comma-separated integers") from None


@app.command("bench")
@with_knobs
def bench_cmd(
    targets: Annotated[Optional[list[str]], typer.Argument(
        help="Zoo model names and/or model files (.tflite, .onnx, .keras). Default: "
             "mobilenet --alpha 0.25 --resolution 96.", show_default=False)] = None,
    runtime: Annotated[str, typer.Option(
        "--runtime", "-r", help="Comma-separated: litert, onnxruntime, keras.")
    ] = "litert,onnxruntime,keras",
    provider: Annotated[str, typer.Option(
        "--provider", "-p", help="onnxruntime execution providers, comma-separated: cpu, "
        "cuda, tensorrt, openvino, ... (must be in this onnxruntime build).")] = "cpu",
    threads: Annotated[Optional[str], typer.Option(
        "--threads", "-t", help="Comma-separated thread counts. Default: 1 and all cores."
    )] = None,
    batch: Annotated[str, typer.Option("--batch", "-b", help="Comma-separated batch sizes.")
                     ] = "1",
    runs: Annotated[int, typer.Option("--runs", help="Timed runs per setting.")] = 100,
    warmup: Annotated[int, typer.Option("--warmup", help="Untimed runs first.")] = 10,
    budget: Annotated[Optional[float], typer.Option(
        "--time-budget", help="Stop a setting's timed runs after this many seconds.")] = None,
    xnnpack: Annotated[bool, typer.Option(
        "--xnnpack/--no-xnnpack", help="LiteRT with the XNNPACK delegate (default) or "
        "the builtin kernels.")] = True,
    quant: Annotated[str, typer.Option(
        "--quant", "-q", help="For zoo/.keras models: which export to time (none, fp16, "
        "dynamic, int8).")] = "none",
    allow_fallback: Annotated[bool, typer.Option(
        "--allow-fallback", help="Accept onnxruntime falling back to another provider (the "
        "report says which one ran).")] = False,
    compare: Annotated[Optional[Path], typer.Option(
        "--compare", help="A previous 'bench --json' file: show the change per row.")] = None,
    plot: Annotated[Optional[Path], typer.Option(
        "--plot", help="Write a PNG of the latency distributions.")] = None,
    json_out: JsonOpt = False,
    knobs=None,
):
    """Time models on LiteRT, onnxruntime and Keras: p50/p90/p99, throughput, load time.

    Examples: 'edgekit bench mobilenet --alpha 0.25', 'edgekit bench model.tflite
    --threads 1,2 --runs 200', 'edgekit bench a.tflite b.onnx --json > results.json'.
    """
    from edgekit import services
    from edgekit.bench.env import environment
    from edgekit.bench.service import BenchOptions, check_providers, run_bench, subjects_for

    cores = os.cpu_count() or 1
    opts = BenchOptions(
        runtimes=_csv_list(runtime, "--runtime"), providers=_csv_list(provider, "--provider"),
        threads=_int_list(threads, "--threads") if threads else sorted({1, cores}),
        batches=_int_list(batch, "--batch"), runs=runs, warmup=warmup, budget_s=budget,
        xnnpack=xnnpack, quant=quant.lower(), allow_fallback=allow_fallback)
    opts.validate()
    check_providers(opts)
    previous = None
    if compare is not None:
        from edgekit.report.bench import load_previous

        previous = load_previous(compare)
    resolved = [services.resolve_target(t, knobs) for t in (targets or [None])]
    from edgekit.core.profiles import host_peak_gmacs

    with progress("Benchmarking") as notify:
        subjects = subjects_for(resolved, opts, notify)
        results = run_bench(subjects, opts, notify, host_peak_gmacs=host_peak_gmacs())
    data = {"schema": 1, "environment": environment(), "results": results}
    if previous is not None:
        from edgekit.report.bench import compare_rows

        compare_rows(results, previous)
    if plot:
        from edgekit.report.bench import plot_latency

        plot_latency(data, plot)
    if json_out:
        print(json.dumps(data, indent=2))
        return
    from edgekit.report.bench import render_bench

    render_bench(data, out)


@app.command("profile")
@with_knobs
def profile_cmd(
    target: TargetArg = None,
    runs: Annotated[int, typer.Option("--runs", help="Profiled runs.")] = 50,
    threads: Annotated[Optional[int], typer.Option("--threads", "-t", min=1,
                                                   help="Intra-op threads.")] = None,
    provider: Annotated[str, typer.Option("--provider", "-p", help="Execution provider.")
                        ] = "cpu",
    top: Annotated[int, typer.Option("--top", help="Rows to show.")] = 20,
    json_out: JsonOpt = False,
    knobs=None,
):
    """Per-op times of an ONNX model (onnxruntime's profiler), mapped to layers.

    By op type and, for zoo and Keras models, by layer with each layer's MACs and achieved
    GMAC/s.
    """
    from edgekit import services
    from edgekit.bench.oprofile import map_to_layers, profile_onnx
    from edgekit.core.errors import EdgekitError

    t = services.resolve_target(target, knobs)
    layers = None
    if t.format == "tflite":
        raise EdgekitError(
            "per-op profiling of .tflite is not available: LiteRT's Python API has no op "
            "profiler; use TFLite's benchmark_model --enable_op_profiling=true, or profile "
            "the model's .onnx export")
    with progress("Profiling") as notify:
        if t.format == "onnx":
            path = t.path
        else:
            from edgekit.export.pipeline import cached_export

            path = cached_export(t, "none", notify)["onnxruntime"]
            layers = services.analyze(t).to_dict()["layers"]
        notify(f"Profiling {path}")
        prof = profile_onnx(path, runs=runs, threads=threads, provider=provider)
    if layers is not None:
        prof["layers"] = map_to_layers(prof, layers)
    if json_out:
        print(json.dumps({"schema": 1, **prof}, indent=2))
        return
    from edgekit.report.bench import render_profile

    render_profile(prof, out, top)


profiles_app = typer.Typer(help="Device profiles: list, show, calibrate this host.",
                           no_args_is_help=False)
app.add_typer(profiles_app, name="profiles")


@profiles_app.callback(invoke_without_command=True)
def profiles_list(ctx: typer.Context, json_out: JsonOpt = False):
    """List the device profiles (shipped, and the user's calibrated host)."""
    if ctx.invoked_subcommand is not None:
        return
    from edgekit.core.profiles import all_profiles
    from edgekit.core.units import nbytes

    profiles = all_profiles()
    if json_out:
        print(json.dumps({"schema": 1, "profiles": [_profile_dict(p) for p in
                                                     profiles.values()]}, indent=2))
        return
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    for c in ("name", "kind", "GFLOP/s fp32", "GOP/s int8", "GB/s", "RAM", "storage"):
        table.add_column(c, justify="left" if c in ("name", "kind") else "right")
    for p in profiles.values():
        table.add_row(p.name, p.kind, f"{p.peak_gflops_fp32:g}",
                      f"{p.peak_gops_int8:g}" if p.peak_gops_int8 else "-",
                      f"{p.bandwidth_gbs:g}", nbytes(p.ram_bytes), nbytes(p.storage_bytes))
    out.print(table)
    if "host" not in profiles:
        out.print("[dim]no host profile yet: 'edgekit profiles calibrate' measures this "
                  "machine[/dim]")


def _profile_dict(p) -> dict:
    return {"name": p.name, "title": p.title, "kind": p.kind, "aliases": list(p.aliases),
            "peak_gflops_fp32": p.peak_gflops_fp32, "peak_gops_int8": p.peak_gops_int8,
            "bandwidth_gbs": p.bandwidth_gbs, "ram_bytes": p.ram_bytes,
            "storage_bytes": p.storage_bytes, "path": str(p.path)}


@profiles_app.command("show")
def profiles_show(name: Annotated[str, typer.Argument(help="Profile name or alias.")],
                  json_out: JsonOpt = False):
    """Show one profile and the file (with the source of every number) it comes from."""
    from edgekit.core.profiles import get_profile

    p = get_profile(name)
    if json_out:
        print(json.dumps(_profile_dict(p), indent=2))
        return
    out.print(f"[bold]{p.name}[/bold]: {p.title}  ({p.path})")
    out.print(p.path.read_text(), markup=False, highlight=False)


@profiles_app.command("calibrate")
def profiles_calibrate(
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", help="Where to write it. Default: ~/.config/edgekit/profiles/"
        "host.toml")] = None,
):
    """Measure this machine (GEMM GFLOP/s, copy bandwidth) and write the host profile."""
    from edgekit.bench.calibrate import calibrate
    from edgekit.core.profiles import user_dir

    path = output or user_dir() / "host.toml"
    with status("Measuring GEMM throughput and memory bandwidth…"):
        result = calibrate(path)
    out.print(f"host: {result['peak_gflops_fp32']:.1f} GFLOP/s fp32, "
              f"{result['bandwidth_gbs']:.2f} GB/s; wrote {path}")


def main(argv: Optional[list] = None) -> None:
    """Entry point: one line and an exit code for every error, unless --debug."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args or os.environ.get("EDGEKIT_DEBUG") == "1"
    command = typer.main.get_command(app)
    try:
        command.main(args=args, prog_name="edgekit", standalone_mode=False)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err.print("edgekit: interrupted")
        sys.exit(130)
    except EdgekitError as e:
        if debug:
            raise
        err.print(f"edgekit: error: {e}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(e.exit_code)
    except typer.TyperException as e:  # click usage errors: bad option, bad value
        if type(e).__name__ == "NoArgsIsHelpError":
            command.main(args=["--help"], prog_name="edgekit", standalone_mode=False)
            sys.exit(2)
        err.print(f"edgekit: error: {e.format_message()} (see 'edgekit --help')",
                  highlight=False, markup=False, soft_wrap=True)
        sys.exit(getattr(e, "exit_code", 2))
    except Exception as e:  # a bug or an unexpected library error: still one line
        if debug:
            raise
        err.print(f"edgekit: error: {type(e).__name__}: {first_line(e)} "
                  "(rerun with --debug for the traceback)",
                  highlight=False, markup=False, soft_wrap=True)
        sys.exit(1)
