"""`edgekit bench`: latency. Its options are declared here and shared with `edgekit
profile` (cli/profile.py): they mean the same thing on both (threads, batch, runs, warm-up,
provider, quantization, input shape, plot)."""

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from edgekit.cli.app import app
from edgekit.cli.common import int_list, out, print_json, progress, warn, wrote
from edgekit.cli.knobs import with_knobs
from edgekit.cli.options import (
    InputShapeOpt,
    InputsOpt,
    Int8Opt,
    JsonOpt,
    PlotOpt,
    ReportOpt,
    WeightsOpt,
    batch_list,
    choices_metavar,
    provider_list,
    quant_choice,
    warmup_count,
)
from edgekit.core import choices as C

TargetsOpt = Annotated[Optional[list[str]], typer.Argument(
    help="Zoo model names and/or model files (.tflite, .onnx, .keras). Default: "
         "mobilenet --alpha 0.25 --resolution 96.", show_default=False)]
RuntimeOpt = Annotated[Optional[str], typer.Option(
    "--runtime", "-r", metavar=choices_metavar(C.Runtime, several=True),
    help="Runtimes to time, comma-separated. Default: all three here; on a --device, "
    "those of LiteRT and onnxruntime it has.", show_default=False)]
ProviderOpt = Annotated[str, typer.Option(
    "--provider", "-p", metavar="NAME,...", help="onnxruntime execution providers, "
    "comma-separated: cpu, cuda, tensorrt, openvino, ... (must be in the onnxruntime "
    "that runs the model: this machine's, or the --device's).")]
ThreadsOpt = Annotated[Optional[str], typer.Option(
    "--threads", "-t", metavar="N,...", help=f"Thread counts, comma-separated, 1 to "
    f"{C.MAX_THREADS}. Default: 1 and all cores (bench), the runtime's own (profile).",
    show_default=False)]
BatchesOpt = Annotated[Optional[str], typer.Option(
    "--batch", "-b", metavar="N,...", help=f"Batch sizes, comma-separated, 1 to "
    f"{C.MAX_BATCH:,}. Default: 1, or the batch of --input-shape.", show_default=False)]
RunsOpt = Annotated[int, typer.Option(
    "--runs", min=1, max=C.MAX_RUNS, help="Timed (profiled) runs per setting.")]
WarmupOpt = Annotated[int, typer.Option(
    "--warmup", min=0, max=C.MAX_WARMUP, help="Untimed runs first.")]
BenchWarmupOpt = Annotated[str, typer.Option(
    "--warmup", metavar="N|auto", help="Untimed runs first: a count, or 'auto' (windows "
    "of 10 runs until the median changes by less than 5 %, at most 60 s).")]
DeviceOpt = Annotated[Optional[str], typer.Option(
    "--device", "-d", metavar="NAME|ssh://[user@]host[:port]", help="Run on this device "
    "(see 'edgekit devices') instead of this machine: the files are copied there and timed "
    "with its runtimes.", show_default=False)]
CoresOpt = Annotated[Optional[str], typer.Option(
    "--cores", metavar="N,...", help="Pin the timing to these CPU cores (e.g. 2,3: the "
    "big cores of a big.LITTLE board).", show_default=False)]
CooldownOpt = Annotated[float, typer.Option(
    "--cooldown", metavar="SECONDS", help="Between settings, wait up to this long for the "
    "temperature to come back to where it started (the whole time on a machine without "
    "a sensor).")]
MinDurationOpt = Annotated[Optional[float], typer.Option(
    "--min-duration", metavar="SECONDS", help="MLPerf's rule: at least --runs runs and at "
    "least this many seconds per setting; p90 is the headline.", show_default=False)]
BudgetOpt = Annotated[Optional[float], typer.Option(
    "--time-budget", metavar="SECONDS", help="Stop a setting's timed runs after this "
    f"many seconds (0.001 to {C.MAX_SECONDS:g}).", show_default=False)]
XnnpackOpt = Annotated[bool, typer.Option(
    "--xnnpack/--no-xnnpack", help="LiteRT with the XNNPACK delegate (default) or "
    "the builtin kernels.")]
QuantOpt = Annotated[str, typer.Option(
    "--quant", "-q", metavar=choices_metavar(C.Quant),
    help="For zoo/.keras models: which export to run.")]
AllowFallbackOpt = Annotated[bool, typer.Option(
    "--allow-fallback", help="Accept onnxruntime falling back to another provider (the "
    "report says which one ran).")]
CompareOpt = Annotated[Optional[Path], typer.Option(
    "--compare", help="A previous 'bench --json' file: show the change per row.")]
TopOpt = Annotated[int, typer.Option("--top", min=1, help="Rows to show.")]


# long: two dozen options, one a line; the work is in services.bench and _show_bench
@app.command("bench")
@with_knobs
def bench_cmd(
    targets: TargetsOpt = None,
    runtime: RuntimeOpt = None,
    provider: ProviderOpt = "cpu",
    device: DeviceOpt = None,
    threads: ThreadsOpt = None,
    cores: CoresOpt = None,
    batch: BatchesOpt = None,
    input_shape: InputShapeOpt = None,
    inputs: InputsOpt = None,
    runs: RunsOpt = 100,
    warmup: BenchWarmupOpt = "10",
    budget: BudgetOpt = None,
    min_duration: MinDurationOpt = None,
    cooldown: CooldownOpt = 0.0,
    xnnpack: XnnpackOpt = True,
    quant: QuantOpt = "none",
    int8: Int8Opt = False,
    allow_fallback: AllowFallbackOpt = False,
    compare: CompareOpt = None,
    plot: PlotOpt = None,
    json_out: JsonOpt = False,
    report: ReportOpt = None,
    weights: WeightsOpt = None,
    knobs=None,
):
    """Time models on LiteRT, onnxruntime and Keras, here or on a --device: p50/p90/p99.

    Examples: 'edgekit bench mobilenet --alpha 0.25', 'edgekit bench model.tflite
    --threads 1,2 --runs 200', 'edgekit bench a.tflite b.onnx --json > results.json',
    'edgekit bench model.tflite --device pi5 --cores 2,3 --threads 2'.
    """
    from edgekit.bench.run import BenchOptions
    from edgekit.core.feeds import load_feeds
    from edgekit.core.files import check_writable
    from edgekit.core.shapes import parse_shapes
    from edgekit.report import bench as R
    from edgekit.services.bench import bench
    from edgekit.services.targets import resolve_target

    specs = parse_shapes(input_shape)
    opts = BenchOptions(
        runtimes="litert,onnxruntime,keras" if runtime is None else runtime,
        runtimes_default=runtime is None,
        providers=provider_list(provider),
        threads=int_list(threads, "--threads") if threads else _default_threads(device),
        batches=batch_list(batch, specs), runs=runs, warmup=warmup_count(warmup),
        budget_s=budget, min_duration_s=min_duration, cooldown_s=cooldown,
        cores=int_list(cores, "--cores") if cores else None,
        xnnpack=xnnpack, quant=quant_choice(quant, int8), allow_fallback=allow_fallback,
        input_shapes=specs, feeds=load_feeds(inputs))
    opts.validate()
    previous = R.load_previous(compare) if compare is not None else None
    resolved = [resolve_target(t, knobs, weights) for t in (targets or [None])]
    if plot:   # after the inputs are known: never onto one of them
        check_writable(plot, figure=True)
    if report:
        check_writable(report)
    with progress("Benchmarking") as notify:
        data = bench(resolved, opts, notify, device=device)
    if report:
        from edgekit.cli.common import write_report

        write_report(report, "bench", data, "bench " + " ".join(t.describe()
                                                                for t in resolved))
    _show_bench(data, previous, plot, json_out)


def _show_bench(data: dict, previous, plot: Path | None, json_out: bool) -> None:
    """Compare, warn, plot and print a bench document; a board run that stopped early
    still shows its rows, then fails with the reason."""
    from edgekit.report import bench as R

    if previous is not None:
        R.compare_rows(data["results"], previous[0])
        data["compared_environment"] = R.fingerprint_changes(previous[1],
                                                             data["environment"])
    unstable = R.unstable_rows(data["results"])
    if unstable:
        warn(f"{len(unstable)} of {len(data['results'])} rows vary too much to trust "
             f"(cv > {R.MAX_CV:.0%}): {'; '.join(unstable)}; rerun with more --runs and "
             "--warmup, on an idle machine")
    for said in R.state_warnings(data["results"]):
        warn(said)
    if plot:
        R.plot_latency(data, plot)
        wrote(plot)
    if json_out:
        print_json(data)
    else:
        R.render_bench(data, out)
    if data.get("partial"):
        from edgekit.core.errors import EdgekitError

        stopped = EdgekitError(f"{data['error']} (the {len(data['results'])} finished "
                               "row(s) are above, marked partial)")
        stopped.exit_code = data.get("error_exit_code", 1)
        raise stopped


def _default_threads(device: str | None) -> list[int]:
    """1 and all of this machine's cores; for a device, empty: 1 and all of its cores (or
    of --cores), filled in once it has said how many it has."""
    return [] if device else sorted({1, os.cpu_count() or 1})
