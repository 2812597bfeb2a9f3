"""`edgekit sweep`: variant × minimalistic × α × resolution × quantization of a zoo model
(the axes it has), the Pareto front, the best config for a device. The options are read
here, once, into the sweep's frozen plan (services.sweep_plan.SweepSpec), which is checked
before any work and is all the layers below receive."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from edgekit.cli.app import app
from edgekit.cli.common import csv_list, float_list, int_list, out, print_json, progress, wrote
from edgekit.cli.options import JsonOpt, choices_metavar
from edgekit.core import choices as C
from edgekit.services.sweep_ray import CONNECT_BOUND_S


def _size(value: Optional[str], option: str) -> Optional[int]:
    from edgekit.core.errors import UsageError
    from edgekit.core.units import parse_size

    if value is None:
        return None
    try:
        return parse_size(value, option)
    except ValueError as e:
        raise UsageError(str(e)) from None


# long: twenty options, one a line; the work is in services.sweep and report.sweep
@app.command("sweep")
def sweep_cmd(
    model: Annotated[str, typer.Argument(
        help="A zoo model with a width multiplier or variants, and a resolution: mobilenet, "
             "mobilenet_v2 (α × resolution), mobilenet_v3 (variant × minimalistic × α × "
             "resolution), efficientnet_lite, mobilenet_v4 (variant).")
    ] = "mobilenet",
    variant: Annotated[Optional[str], typer.Option(
        "--variant", metavar="V,...", help="Variants, comma-separated (mobilenet_v3: "
        "small,large, default large; efficientnet_lite: 0..4; mobilenet_v4: "
        "conv_small,conv_medium). Default for a model without --alpha: every variant.",
        show_default=False)] = None,
    minimalistic: Annotated[Optional[str], typer.Option(
        "--minimalistic", metavar="BOOL,...", help="mobilenet_v3: its minimalistic form "
        "(no squeeze-excite, hard-swish or 5x5 kernels), off or on or both: false, true, "
        "true,false. Default: false.", show_default=False)] = None,
    alpha: Annotated[Optional[str], typer.Option(
        "--alpha", "-a", metavar="A,...", help="Width multipliers, comma-separated "
        "(models with one). Default: 0.25,0.5,0.75,1.0.", show_default=False)] = None,
    resolution: Annotated[Optional[str], typer.Option(
        "--resolution", metavar="PX,...", help="Input resolutions, comma-separated. "
        "Default: 128,160,192,224, or each variant's own for efficientnet_lite and "
        "mobilenet_v4.", show_default=False)] = None,
    quant: Annotated[str, typer.Option(
        "--quant", "-q", metavar=choices_metavar(C.Quant, several=True),
        help="Quantizations, comma-separated.")] = "none,int8",
    profile: Annotated[Optional[str], typer.Option(
        "--profile", metavar="NAME", help="Device profile for estimated latency and "
        "flash/RAM fits (see 'edgekit profiles'; its latency table when it has one).",
        show_default=False)] = None,
    runtime: Annotated[Optional[str], typer.Option(
        "--runtime", "-r", metavar="[litert|onnxruntime],...", help="Time each config "
        "on these runtimes (here, or on --device). Default: no timing.",
        show_default=False)] = None,
    device: Annotated[Optional[str], typer.Option(
        "--device", "-d", metavar="NAME|ssh://[user@]host[:port]", help="Time on this "
        "device (see 'edgekit devices') instead of this machine.", show_default=False)
    ] = None,
    threads: Annotated[int, typer.Option(
        "--threads", "-t", min=1, max=C.MAX_THREADS, help="Threads for the timing.")] = 1,
    runs: Annotated[int, typer.Option(
        "--runs", min=1, max=C.MAX_RUNS, help="Timed runs per config and runtime.")] = 50,
    xnnpack: Annotated[bool, typer.Option(
        "--xnnpack/--no-xnnpack", help="LiteRT with XNNPACK (default) or builtin kernels.")
    ] = True,
    validation: Annotated[Optional[Path], typer.Option(
        "--validation", metavar="FILE.npz", help="Labelled images ('x': N×H×W×C, 0..255, "
        "any size; 'y': class indices): each config's file is scored on them, resized to "
        "its resolution, and that accuracy drives the front.", show_default=False)] = None,
    max_latency: Annotated[Optional[float], typer.Option(
        "--max-latency", metavar="MS", help="Latency limit in ms (measured, else "
        "estimated).", show_default=False)] = None,
    max_ram: Annotated[Optional[str], typer.Option(
        "--max-ram", metavar="SIZE", help="Peak activation RAM limit, e.g. 512KiB.",
        show_default=False)] = None,
    max_flash: Annotated[Optional[str], typer.Option(
        "--max-flash", metavar="SIZE", help="Model file size limit, e.g. 2MiB.",
        show_default=False)] = None,
    executor: Annotated[str, typer.Option(
        "--executor", metavar="[local|ray]", help="Where builds, exports and fidelity "
        "checks run: this process, or Ray tasks (pip install 'edgekit[ray]'). Timing "
        "always runs one at a time per device.")] = "local",
    ray_address: Annotated[Optional[str], typer.Option(
        "--ray-address", metavar="ADDRESS", help="A running Ray cluster ('auto', "
        "'HOST:6379', 'ray://HOST:10001'), given up on after --ray-timeout. Its nodes "
        "need edgekit installed, share nothing with this machine but Ray, and each keeps "
        "its own export cache. Default: a local Ray started for the sweep.",
        show_default=False)] = None,
    ray_timeout: Annotated[Optional[str], typer.Option(
        "--ray-timeout", metavar="SECONDS", help="How long connecting to --ray-address may "
        f"take before it is given up on with one line (default {CONNECT_BOUND_S}).",
        show_default=False)] = None,
    workers: Annotated[Optional[int], typer.Option(
        "--workers", metavar="N", help="CPUs of the local Ray (default: all cores).",
        show_default=False, min=1, max=1024)] = None,
    output: Annotated[Path, typer.Option(
        "--output", "-o", metavar="DIR", help="Folder for the store (sweep.jsonl), "
        "sweep.json, sweep.csv and pareto.png. A rerun resumes from its store.")
    ] = Path("sweep-out"),
    json_out: JsonOpt = False,
):
    """Sweep a zoo model over its variants × minimalistic × α × resolution × quantization
    (the axes it has): analysis, export, fidelity,
    published top-1, estimate and measured latency; the Pareto front and the best config
    within --max-latency / --max-ram / --max-flash.

    Examples: 'edgekit sweep mobilenet --profile stm32h7 -o sweep-out',
    'edgekit sweep mobilenet --alpha 0.25,0.5 --resolution 96,128 --quant int8
    --runtime litert --max-latency 5', 'edgekit sweep efficientnet_lite --variant 0,1,2
    --quant none,int8', 'edgekit sweep mobilenet_v3 --variant small,large --minimalistic
    true,false --alpha 1.0 --resolution 224', 'edgekit sweep ... --executor ray'.
    """
    from edgekit.core import interrupts
    from edgekit.core.files import check_output_folder, check_writable, note_input
    from edgekit.report.sweep import plot_pareto, render_sweep, write_csv
    from edgekit.services.sweep import SweepSpec, sweep

    spec = SweepSpec(      # the plan, frozen: parsed here once
        model=model, variants=csv_list(variant, "--variant") if variant is not None else None,
        minimalistic=csv_list(minimalistic, "--minimalistic")
        if minimalistic is not None else None,
        alphas=float_list(alpha, "--alpha") if alpha is not None else None,
        resolutions=int_list(resolution, "--resolution") if resolution is not None else None,
        quants=C.many(C.Quant, quant, "--quant"), profile=profile,
        runtimes=C.many(C.Runtime, runtime, "--runtime") if runtime else [],
        device=device, threads=threads, runs=runs, xnnpack=xnnpack, validation=validation,
        max_latency_ms=max_latency, max_ram_bytes=_size(max_ram, "--max-ram"),
        max_flash_bytes=_size(max_flash, "--max-flash"), executor=executor,
        ray_address=ray_address, ray_timeout=ray_timeout, workers=workers, out_dir=output)
    paths = {"json": output / "sweep.json", "csv": output / "sweep.csv",
             "plot": output / "pareto.png"}
    if validation is not None:
        note_input(validation)    # a result is never written onto it
    check_output_folder(output)   # before the first build: the folder and each result
    for kind, path in paths.items():
        check_writable(path, figure=kind == "plot")
    plan = spec.validate()        # the checked plan, configs and all; before any work
    with progress("Sweeping") as notify:
        doc = sweep(plan, notify)
    from edgekit.core.documents import SWEEP

    interrupts.checkpoint()
    with interrupts.deferred():   # the three results together, never a part of them
        SWEEP.write(paths["json"], doc, indent=1)   # the document's home: core/documents
        write_csv(doc, paths["csv"])
        plot_pareto(doc, paths["plot"])
    if json_out:
        print_json(doc)
    else:
        render_sweep(doc, out)
    for p in paths.values():
        wrote(p)
    if doc["failed"]:       # the finished rows are written and stored; the rerun retries
        from edgekit.core.errors import EdgekitError

        f = doc["failed"][0]
        raise EdgekitError(f"{len(doc['failed'])} of {len(doc['failed']) + len(doc['rows'])} "
                           f"rows failed (first: {f['id']} on {f['where']}: {f['reason']}); "
                           "rerun the same command to retry them")
