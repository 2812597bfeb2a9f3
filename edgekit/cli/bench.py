"""`edgekit bench` and `edgekit profile`: latency, and per-op times."""

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from edgekit.cli.app import app
from edgekit.cli.common import int_list, out, print_json, progress
from edgekit.cli.knobs import with_knobs
from edgekit.cli.options import JsonOpt, TargetArg
from edgekit.core.choices import Quant, Runtime, listing

TargetsOpt = Annotated[Optional[list[str]], typer.Argument(
    help="Zoo model names and/or model files (.tflite, .onnx, .keras). Default: "
         "mobilenet --alpha 0.25 --resolution 96.", show_default=False)]
RuntimeOpt = Annotated[str, typer.Option(
    "--runtime", "-r", help=f"Comma-separated: {listing(Runtime)}.")
]
ProviderOpt = Annotated[str, typer.Option(
    "--provider", "-p", help="onnxruntime execution providers, comma-separated: cpu, "
    "cuda, tensorrt, openvino, ... (must be in this onnxruntime build).")]
ThreadsOpt = Annotated[Optional[str], typer.Option(
    "--threads", "-t", help="Comma-separated thread counts. Default: 1 and all cores."
)]
BatchesOpt = Annotated[str, typer.Option("--batch", "-b", help="Comma-separated batch sizes.")
                 ]
BudgetOpt = Annotated[Optional[float], typer.Option(
    "--time-budget", help="Stop a setting's timed runs after this many seconds.")]
XnnpackOpt = Annotated[bool, typer.Option(
    "--xnnpack/--no-xnnpack", help="LiteRT with the XNNPACK delegate (default) or "
    "the builtin kernels.")]
QuantOpt = Annotated[str, typer.Option(
    "--quant", "-q", help=f"For zoo/.keras models: which export to time ({listing(Quant)})."
)]
AllowFallbackOpt = Annotated[bool, typer.Option(
    "--allow-fallback", help="Accept onnxruntime falling back to another provider (the "
    "report says which one ran).")]
CompareOpt = Annotated[Optional[Path], typer.Option(
    "--compare", help="A previous 'bench --json' file: show the change per row.")]
PlotOpt = Annotated[Optional[Path], typer.Option(
    "--plot", help="Write a PNG of the latency distributions.")]


@app.command("bench")
@with_knobs
def bench_cmd(
    targets: TargetsOpt = None,
    runtime: RuntimeOpt = "litert,onnxruntime,keras",
    provider: ProviderOpt = "cpu",
    threads: ThreadsOpt = None,
    batch: BatchesOpt = "1",
    runs: Annotated[int, typer.Option("--runs", help="Timed runs per setting.")] = 100,
    warmup: Annotated[int, typer.Option("--warmup", help="Untimed runs first.")] = 10,
    budget: BudgetOpt = None,
    xnnpack: XnnpackOpt = True,
    quant: QuantOpt = "none",
    allow_fallback: AllowFallbackOpt = False,
    compare: CompareOpt = None,
    plot: PlotOpt = None,
    json_out: JsonOpt = False,
    knobs=None,
):
    """Time models on LiteRT, onnxruntime and Keras: p50/p90/p99, throughput, load time.

    Examples: 'edgekit bench mobilenet --alpha 0.25', 'edgekit bench model.tflite
    --threads 1,2 --runs 200', 'edgekit bench a.tflite b.onnx --json > results.json'.
    """
    from edgekit.bench.run import BenchOptions
    from edgekit.report import bench as R
    from edgekit.services.bench import bench
    from edgekit.services.targets import resolve_target

    cores = os.cpu_count() or 1
    opts = BenchOptions(
        runtimes=runtime, providers=[p.strip() for p in provider.split(",") if p.strip()],
        threads=int_list(threads, "--threads") if threads else sorted({1, cores}),
        batches=int_list(batch, "--batch"), runs=runs, warmup=warmup, budget_s=budget,
        xnnpack=xnnpack, quant=quant, allow_fallback=allow_fallback)
    opts.validate()
    previous = R.load_previous(compare) if compare is not None else None
    resolved = [resolve_target(t, knobs) for t in (targets or [None])]
    with progress("Benchmarking") as notify:
        data = bench(resolved, opts, notify)
    if previous is not None:
        R.compare_rows(data["results"], previous)
    if plot:
        R.plot_latency(data, plot)
    if json_out:
        print_json(data)
    else:
        R.render_bench(data, out)


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
    from edgekit.services.profile import op_profile
    from edgekit.services.targets import resolve_target

    t = resolve_target(target, knobs)
    with progress("Profiling") as notify:
        prof = op_profile(t, runs=runs, threads=threads, provider=provider, notify=notify)
    if json_out:
        print_json(prof)
        return
    from edgekit.report.bench import render_profile

    render_profile(prof, out, top)
