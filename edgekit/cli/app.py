"""The Typer application and its root options; the commands live in one module per group."""

import os
from typing import Annotated

import typer

from edgekit import __version__
from edgekit.cli.common import out

app = typer.Typer(
    name="edgekit",
    help="Build, analyze, export and benchmark CNNs for phones, boards and microcontrollers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool):
    if value:
        out.print(f"edgekit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show Python tracebacks on errors "
                                                        "(here or after the command; or set "
                                                        "EDGEKIT_DEBUG=1).")] = False,
):
    if debug:
        os.environ["EDGEKIT_DEBUG"] = "1"
