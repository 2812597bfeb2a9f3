"""edgekit's command line: the entry point and its error handling. Each command group is a
module of its own (analyze/build, export, bench, profile, models/profiles); they register
on the app when imported (``_app``). Heavy imports (TensorFlow, onnxruntime) happen inside
commands. This module imports nothing but the standard library at its top: ``main``
installs the SIGINT/SIGTERM handlers first, so that a signal during the imports of the
CLI itself is already one line and exit 130/143."""

import os
import signal
import sys
from typing import Optional

from edgekit.core.errors import EdgekitError, first_line

_METAVARS = {bool: "", int: "N", float: "X", str: "TEXT"}


def _tidy_help(command) -> None:
    """Placeholders a person reads in --help ('N', 'PATH', 'TEXT'; nothing after a flag)
    instead of Python type names ('<int>', '<list[str]>', '<bool>')."""
    for sub in getattr(command, "commands", {}).values():
        _tidy_help(sub)
    made = command.get_help_option

    def help_option(ctx, made=made):  # the -h/--help flag is made per context
        option = made(ctx)
        if option is not None:
            option.metavar = ""
        return option

    command.get_help_option = help_option
    for param in command.params:
        if param.metavar is not None:
            continue
        annotation = getattr(param.type_descriptor, "annotation", None)
        if getattr(param, "is_flag", False) or annotation is bool:
            param.metavar = ""
        elif param.param_type_name == "argument":
            param.metavar = param.name.upper().rstrip("S") + ("..." if param.nargs != 1
                                                              else "")
            param.display_type_rich = lambda ctx: None  # the name says it already
        elif "Path" in str(annotation):
            param.metavar = "PATH"
        else:
            param.metavar = _METAVARS.get(annotation, "TEXT")


def _numbers(command, declared=None) -> None:
    """Every int and float option of every command reads its value through
    core.numbers.read_number (options.Number) before Typer sees it: NaN, infinity and values
    out of range are one line naming the option, for options added later too. Typer's
    min=/max= become the range; without them an option is never negative."""
    from edgekit.cli.options import Number, number_options

    declared = number_options() if declared is None else declared
    for sub in getattr(command, "commands", {}).values():
        _numbers(sub, declared)
    for param in command.params:
        number = _number_of(param, declared, Number)
        if number is None:
            continue
        param.edgekit_number = number
        param.process_value = _reading(param.process_value, number, param)


def _number_of(param, declared, Number):
    descriptor = getattr(param, "type_descriptor", None)
    kind = getattr(descriptor, "annotation", None)
    if kind not in (int, float) or getattr(param, "is_flag", False):
        return None
    flag = max(param.opts, key=len) if param.opts else param.name
    if flag in declared:
        return declared[flag]
    info = descriptor.parameter_info
    return Number(0 if info.min is None else info.min, info.max, integer=kind is int)


def _reading(process_value, number, param):
    def process(ctx, value):
        if value is not None:
            value = number.convert(value, param, ctx)
        return process_value(ctx, value)

    return process


def _app():
    """The Typer app with every command group registered (importing a group registers it)."""
    from edgekit.cli import (  # noqa: F401  (registers the commands)
        analyze,
        bench,
        catalog,
        devices,
        export,
        profile,
        report,
        sweep,
    )
    from edgekit.cli.app import app

    return app


def cli_command():
    """The click command of the whole app, as edgekit runs it (tidy help, Number options)."""
    import typer

    command = typer.main.get_command(_app())
    _tidy_help(command)
    _numbers(command)
    return command


def _error(message: str) -> None:
    from edgekit.cli.common import err

    err.print(f"edgekit: error: {message}", highlight=False, markup=False, soft_wrap=True)


def _interrupted() -> None:
    """The one way a command stops for SIGINT or SIGTERM: one line, exit 130 or 143."""
    from edgekit.cli.common import err
    from edgekit.core import interrupts

    interrupts.quiet_after()   # a second Ctrl-C does not cut this short
    signum = interrupts.seen() or signal.SIGINT
    name = interrupts.NAMES.get(signum, f"signal {signum}")
    err.print(f"edgekit: interrupted ({name}); nothing half-written was left behind",
              highlight=False, markup=False, soft_wrap=True)
    sys.exit(128 + signum)


def main(argv: Optional[list] = None) -> None:
    """Entry point: one line and an exit code for every error, unless --debug. SIGINT and
    SIGTERM stop the command through core.interrupts: an interrupt that a library
    swallowed still stops it (exit 130/143), at the next step boundary or at the end."""
    from edgekit.core import interrupts

    restore = interrupts.install()   # first: before the CLI's own imports
    try:
        from edgekit.core.files import forget_inputs

        forget_inputs()   # a new command: its inputs are noted as they are resolved
        _main(argv)
        interrupts.checkpoint()   # swallowed on the way and never re-raised: still honoured
    except KeyboardInterrupt:
        _interrupted()
    except BaseException as e:
        if interrupts.seen() is not None and not (isinstance(e, SystemExit)
                                                  and e.code in (130, 143)):
            _interrupted()   # an error caused by the interrupt (a library wrapped it)
        raise
    finally:
        if argv is not None:   # in-process (tests): put back what was there; a console
            restore()          # run keeps its handlers until the interpreter is gone


def _main(argv: Optional[list]) -> None:
    import typer

    from edgekit.core import interrupts

    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args or os.environ.get("EDGEKIT_DEBUG") == "1"
    command = cli_command()
    try:
        code = command.main(args=args, prog_name="edgekit", standalone_mode=False)
        if code == 130:  # Typer turns Ctrl-C into Exit(130) and, unstandalone, returns it
            raise KeyboardInterrupt
        if isinstance(code, int) and not isinstance(code, bool) and code:
            sys.exit(code)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        _interrupted()
    except EdgekitError as e:
        interrupts.checkpoint()   # an error that an interrupt caused is the interrupt
        if debug:
            raise
        _error(str(e))
        sys.exit(e.exit_code)
    except typer.TyperException as e:  # click usage errors: bad option, bad value
        interrupts.checkpoint()
        if type(e).__name__ == "NoArgsIsHelpError":
            command.main(args=["--help"], prog_name="edgekit", standalone_mode=False)
            sys.exit(2)
        ctx = getattr(e, "ctx", None)
        where = ctx.command_path if ctx is not None else "edgekit"
        _error(f"{e.format_message()} (see '{where} --help')")
        sys.exit(getattr(e, "exit_code", 2))
    except Exception as e:  # a bug or an unexpected library error: still one line
        interrupts.checkpoint()
        if debug:
            raise
        _error(f"{type(e).__name__}: {first_line(e)} (rerun with --debug for the traceback)")
        sys.exit(1)
