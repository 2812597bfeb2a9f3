"""`edgekit models` and `edgekit profiles`: the zoo and the device profiles."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from edgekit.cli.app import app
from edgekit.cli.common import out, print_json
from edgekit.cli.options import JsonOpt


@app.command("models")
def models_cmd(json_out: JsonOpt = False):
    """List the zoo: names, families, knobs with defaults, papers (--json: and the published
    ImageNet figures of each model, with their sources)."""
    from edgekit.report.catalog import models_json, render_models
    from edgekit.zoo import registry

    entries = list(registry.REGISTRY.values())
    if json_out:
        from edgekit.zoo.published import rows_for

        doc = models_json(entries)
        for m in doc["models"]:     # each figure with its source (the zoo's published.json)
            m["published"] = rows_for(m["name"])
        print_json(doc)
    else:
        render_models(entries, out)


profiles_app = typer.Typer(help="Device profiles: list, show, calibrate this host.",
                           no_args_is_help=False)
app.add_typer(profiles_app, name="profiles")


@profiles_app.callback(invoke_without_command=True)
def profiles_list(ctx: typer.Context, json_out: JsonOpt = False):
    """List the device profiles (shipped, and the user's calibrated host)."""
    if ctx.invoked_subcommand is not None:
        return
    from edgekit.core.device_profiles import all_profiles
    from edgekit.report.catalog import profiles_json, render_profiles

    profiles = all_profiles()
    if json_out:
        print_json(profiles_json(profiles.values()))
    else:
        render_profiles(profiles, out)


@profiles_app.command("show")
def profiles_show(name: Annotated[str, typer.Argument(help="Profile name or alias.")],
                  json_out: JsonOpt = False):
    """Show one profile and the file (with the source of every number) it comes from."""
    from edgekit.core.device_profiles import get_profile
    from edgekit.report.catalog import render_profile_file

    p = get_profile(name)
    if json_out:
        print_json(p.to_dict())
    else:
        from edgekit.core.reading import SETTINGS_LIMIT, read_input_text

        render_profile_file(p, read_input_text(p.path, "profile", SETTINGS_LIMIT, "TOML"),
                            out)


@profiles_app.command("calibrate")
def profiles_calibrate(
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", help="Where to write it. Default: ~/.config/edgekit/profiles/"
        "host.toml, or NAME.toml for --device NAME")] = None,
    device: Annotated[Optional[str], typer.Option(
        "--device", "-d", metavar="NAME|ssh://[user@]host[:port]", help="Measure this "
        "device with its own runtime (fp32 and int8 fully-connected layer, copy bandwidth) "
        "and write its profile; 'analyze --profile NAME' then estimates from it.",
        show_default=False)] = None,
    threads: Annotated[Optional[int], typer.Option(
        "--threads", "-t", min=1, max=1024, help="Threads (default: all the machine's "
        "cores).", show_default=False)] = None,
    json_out: JsonOpt = False,
    lut_from: Annotated[Optional[Path], typer.Option(
        "--lut-from", metavar="TABLE", help="Also adapt this latency table (a .lut.json "
        "measured on another machine) to this one or --device: time --lut-sample kernels "
        "of each kernel type and nine models per dtype whole, scale the rest by kernel type "
        "(LitePred-style) and write NAME.lut.json beside the profiles, which 'analyze "
        "--profile NAME' uses.", show_default=False)] = None,
    lut_sample: Annotated[int, typer.Option(
        "--lut-sample", min=1, max=100, help="Kernels timed per kernel type for "
        "--lut-from (more: closer to a full table; 48 took 12 s here against 78 s for "
        "the full table).")] = 48,
):
    """Measure this machine, or a device (--device), with the runtime that runs the models
    (an fp32 and an int8 fully-connected layer in LiteRT; a large copy for the memory
    bandwidth) and write its profile; with --lut-from, adapt a latency table too."""
    return _calibrate_device(device, output, threads, json_out, lut_from, lut_sample)


def _calibrate_device(device: str | None, output: Path | None, threads: int | None,
                      json_out: bool, lut_from: Path | None = None,
                      lut_sample: int = 48) -> None:
    from edgekit.cli.common import progress
    from edgekit.core.records import SCHEMA_VERSION
    from edgekit.services.calibrate import calibrate_device, calibrate_host, calibrate_table

    if output is not None:
        from edgekit.core.files import check_writable

        check_writable(output)
    if lut_from is not None:     # a bad table, or no place to write it, fails first
        from edgekit.core.inputs import note_input
        from edgekit.core.lut import Table
        from edgekit.services.lut import Grid, check_table

        note_input(lut_from)
        Table.load(lut_from)
        check_table(Grid(models=[]), device, None, None)
    from edgekit.cli.common import warn
    from edgekit.runtimes.env import threads_beyond_cores

    if device is None and (note := threads_beyond_cores(threads)):
        warn(note)              # before the measurement: this machine's cores are known
    with progress(f"Calibrating {device or 'this machine'}") as notify:
        m = (calibrate_host(output, notify, threads) if device is None
             else calibrate_device(device, output, notify, threads))
        if lut_from is not None:
            from edgekit.runtimes.measure import Method

            t = calibrate_table(lut_from, lut_sample, Method(runs=30, warmup=10),
                                device=device, threads=threads, notify=notify)
            m["latency_table"] = {k: t[k] for k in ("path", "seconds", "adapted")}
    if device is not None and (note := threads_beyond_cores(
            threads, m["fingerprint"].get("usable_cores"))):
        warn(note)              # a board's cores: known once it answered
    if json_out:
        print_json({"schema": SCHEMA_VERSION, **m})
        return
    from edgekit.report.user_text import styled

    out.print(styled(f"{m['name']}: {m['peak_gflops_fp32']:.4g} GFLOP/s fp32, "
                     f"{m['peak_gops_int8']:.4g} GOP/s int8 ({m['runtime']}, {m['threads']} "
                     f"threads), {m['bandwidth_gbs']:.4g} GB/s; wrote {m['path']}"),
              soft_wrap=True)
    if lut_from is not None:
        t = m["latency_table"]
        out.print(styled(f"latency table adapted from {lut_from.name}: "
                         f"{t['adapted']['kernels_measured']} kernels and "
                         f"{t['adapted']['models_measured']} models timed in "
                         f"{t['seconds']:.0f} s; wrote {t['path']}"), soft_wrap=True)
