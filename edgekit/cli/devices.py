"""`edgekit devices`: the boards edgekit reaches over SSH (list, add, remove, check)."""

from typing import Annotated, Optional

import typer

from edgekit.cli.app import app
from edgekit.cli.common import out, print_json, progress
from edgekit.cli.options import JsonOpt
from edgekit.report.user_text import styled

devices_app = typer.Typer(help="Devices reached over SSH: list, add, remove, check.",
                          no_args_is_help=False)
app.add_typer(devices_app, name="devices")

NameArg = Annotated[str, typer.Argument(help="The device's name, as --device takes it.")]


@devices_app.callback(invoke_without_command=True)
def devices_list(ctx: typer.Context, json_out: JsonOpt = False):
    """List the devices (~/.config/edgekit/devices.toml)."""
    if ctx.invoked_subcommand is not None:
        return
    from edgekit.core.devices import load_devices, registry_path
    from edgekit.report.devices import render_devices

    devices = load_devices()
    if json_out:
        from edgekit.core.records import SCHEMA_VERSION

        print_json({"schema": SCHEMA_VERSION, "path": str(registry_path()),
                    "devices": [d.to_dict() for d in devices.values()]})
    else:
        render_devices(devices, registry_path(), out)


@devices_app.command("add")
def devices_add(
    name: NameArg,
    url: Annotated[str, typer.Argument(help="ssh://[user@]host[:port]; a host alias from "
                                            "~/.ssh/config works too.")],
    python: Annotated[str, typer.Option(
        "--python", help="The board's Python interpreter: an absolute path, a name on its "
        "PATH, or '~/venv/bin/python' (quoted: '~/' is the board's home).")] = "python3",
    ssh_option: Annotated[Optional[list[str]], typer.Option(
        "--ssh-option", "-o", metavar="KEY=VALUE", help="Passed to ssh as -o KEY=VALUE "
        "(repeat it), e.g. IdentityFile=~/.ssh/pi.", show_default=False)] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace a device of that name.")]
    = False,
):
    """Add a device (nothing is installed on it; 'devices check' tries the connection)."""
    from edgekit.core.devices import make_device
    from edgekit.services.remote import add

    device = make_device(name, url, python, ssh_option or [])
    path = add(device, force=force)
    out.print(styled(f"added {name} ({device.url}) to {path}; try it: edgekit devices check "
                     f"{name}"), soft_wrap=True)


@devices_app.command("remove")
def devices_remove(name: NameArg):
    """Remove a device from the list."""
    from edgekit.core.devices import remove_device

    path = remove_device(name)
    out.print(styled(f"removed {name} from {path}"), soft_wrap=True)


@devices_app.command("check")
def devices_check(
    name: Annotated[str, typer.Argument(help="A device name or ssh://[user@]host[:port].")],
    json_out: JsonOpt = False,
):
    """Connect, copy edgekit's runtime layer, and show what the device is and can run."""
    from edgekit.core.records import SCHEMA_VERSION
    from edgekit.report.devices import render_check
    from edgekit.services.remote import check

    with progress(f"Checking {name}") as notify:
        data = {"schema": SCHEMA_VERSION, **check(name, notify)}
    if json_out:
        print_json(data)
    else:
        render_check(data, out)
