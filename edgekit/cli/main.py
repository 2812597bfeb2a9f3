"""edgekit's command line: the entry point and its error handling. Each command group is a
module of its own (analyze/build, export, bench/profile, models/profiles); they register
on the app when imported here. Heavy imports (TensorFlow, onnxruntime) happen inside
commands."""

import os
import sys
from typing import Optional

import typer

from edgekit.cli import analyze, bench, catalog, export  # noqa: F401  (registers commands)
from edgekit.cli.app import app
from edgekit.cli.common import err
from edgekit.core.errors import EdgekitError, first_line


def _error(message: str) -> None:
    err.print(f"edgekit: error: {message}", highlight=False, markup=False, soft_wrap=True)


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
        _error(str(e))
        sys.exit(e.exit_code)
    except typer.TyperException as e:  # click usage errors: bad option, bad value
        if type(e).__name__ == "NoArgsIsHelpError":
            command.main(args=["--help"], prog_name="edgekit", standalone_mode=False)
            sys.exit(2)
        _error(f"{e.format_message()} (see 'edgekit --help')")
        sys.exit(getattr(e, "exit_code", 2))
    except Exception as e:  # a bug or an unexpected library error: still one line
        if debug:
            raise
        _error(f"{type(e).__name__}: {first_line(e)} (rerun with --debug for the traceback)")
        sys.exit(1)
