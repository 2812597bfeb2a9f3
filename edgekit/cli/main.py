"""edgekit's command line: the entry point and its error handling. Each command group is a
module of its own (analyze/build, export, bench, profile, models/profiles); they register
on the app when imported (``_app``). Heavy imports (TensorFlow, onnxruntime) happen inside
commands. This module imports nothing but the standard library at its top: ``main``
installs the SIGINT/SIGTERM/SIGHUP handlers first, so that a signal during the imports of
the CLI itself is already one line and exit 130/143/129.

Every error is one line (``core.errors.one_line``: control characters escaped, never Rich
markup), an ``OSError`` that no command worded is named in words with its path
(``core.errors.os_error``), a closed stdout ends the command quietly (exit 141, as
coreutils), and ``--debug`` is accepted anywhere before ``--``."""

import os
import signal
import sys
from typing import Optional

from edgekit.core.errors import (
    NAME_MAX,
    PATH_MAX,
    EdgekitError,
    OutputClosed,
    UsageError,
    closed_output,
    first_line,
    one_line,
    os_error,
    quoted,
)

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


def _paths(command) -> None:
    """Every path option and argument of every command (``Path`` or a list of them) is
    checked before Typer sees it: an empty name, a name of more than 255 bytes or a path of
    4,096 bytes or more (which no file system takes) is one usage line naming the option,
    before any work, for options added later too."""
    for sub in getattr(command, "commands", {}).values():
        _paths(sub)
    for param in command.params:
        kind = str(getattr(getattr(param, "type_descriptor", None), "annotation", ""))
        if "Path" in kind:
            param.process_value = _checking_paths(param.process_value, param)


def _checking_paths(process_value, param):
    def process(ctx, value):
        if value is not None:
            for one in (value if isinstance(value, (list, tuple)) else [value]):
                check_path_name(one, _option_name(param))
        return process_value(ctx, value)

    return process


def _option_name(param) -> str:
    return max(param.opts, key=len) if param.opts else param.name.upper()


def check_path_name(value, option: str) -> None:
    """One usage line for a path that no system call could take: empty, a name longer than
    NAME_MAX bytes, a path of PATH_MAX bytes or more, a NUL byte."""
    text = str(value) if not isinstance(value, bytes) else os.fsdecode(value)
    if text == "":
        raise UsageError(f"{option}: the file name is empty")
    if "\x00" in text:
        raise UsageError(f"{option} {quoted(text)}: a file name cannot hold a NUL byte")
    raw = os.fsencode(text)
    if len(raw) >= PATH_MAX:
        raise UsageError(f"{option} {quoted(text)}: path too long ({len(raw):,} bytes; "
                         f"at most {PATH_MAX - 1:,})")
    longest = max(raw.split(b"/"), key=len)
    if len(longest) > NAME_MAX:
        raise UsageError(f"{option} {quoted(text)}: file name too long (a name of "
                         f"{len(longest):,} bytes; at most {NAME_MAX} in a path)")


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
    _paths(command)
    return command


def _say(line: str) -> None:
    """One line on stderr, exactly as given: no markup, no emoji, never wrapped; nothing
    when stderr itself is gone (a closed terminal after SIGHUP)."""
    from edgekit.cli.common import err

    try:
        err.print(line, highlight=False, markup=False, emoji=False, soft_wrap=True)
    except (OSError, ValueError):
        pass


def _error(message: str) -> None:
    _say(f"edgekit: error: {one_line(message)}")


def _interrupted() -> None:
    """The one way a command stops for SIGINT, SIGTERM or SIGHUP: one line, exit 128 + the
    signal's number (130, 143, 129)."""
    from edgekit.core import interrupts

    interrupts.quiet_after()   # a second Ctrl-C does not cut this short
    signum = interrupts.seen() or signal.SIGINT
    name = interrupts.NAMES.get(signum, f"signal {signum}")
    _say(f"edgekit: interrupted ({name}); nothing half-written was left behind")
    if _CONSOLE and "ray._raylet" in sys.modules:
        _leave_without_finalizing(128 + signum)
    sys.exit(128 + signum)


_CONSOLE = False    # main() runs as the edgekit command (not in-process, as tests run it)


def _leave_without_finalizing(code: int) -> None:
    """Exit now, past the interpreter's finalization: an interrupt that cut ray.init short
    can leave Ray's core worker to crash it (SIGSEGV, exit -11 instead of 130, after the
    line above). Everything edgekit owns is done by now: Ray shut down and its processes
    waited for (sweep_ray.connected), temporary folders removed, outputs moved or not."""
    from edgekit.core import children

    children.stop_all()     # what atexit would have done
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def _output_closed() -> None:
    """stdout's reader went away: no message (there is no one to read it; coreutils say
    nothing either), exit 141 (128 + SIGPIPE)."""
    from edgekit.core.quiet import discard_stdout

    discard_stdout()
    raise OutputClosed()


def _with_debug(args: list) -> tuple[list, bool]:
    """``--debug`` anywhere before ``--`` (the catch-all line says "rerun with --debug":
    a user adds it at the end), as the root option Typer knows."""
    end = args.index("--") if "--" in args else len(args)
    found = "--debug" in args[:end]
    if not found:
        return args, False
    return ["--debug"] + [a for a in args[:end] if a != "--debug"] + args[end:], True


def main(argv: Optional[list] = None) -> None:
    """Entry point: one line and an exit code for every error, unless --debug. SIGINT,
    SIGTERM and SIGHUP stop the command through core.interrupts: an interrupt that a library
    swallowed still stops it (exit 130/143/129), at the next step boundary or at the end.
    A closed stdout ends it quietly (exit 141)."""
    global _CONSOLE
    from edgekit.core import interrupts

    _CONSOLE = argv is None
    restore = interrupts.install()   # first: before the CLI's own imports
    debug = os.environ.get("EDGEKIT_DEBUG")     # --debug sets it for this command
    try:
        from edgekit.cli.common import fit_consoles
        from edgekit.core.files import forget_inputs

        forget_inputs()   # a new command: its inputs are noted as they are resolved
        fit_consoles()
        _main(argv)
        interrupts.checkpoint()   # swallowed on the way and never re-raised: still honoured
    except KeyboardInterrupt:
        _interrupted()
    except OutputClosed:
        _output_closed()          # (raised by the console): stdout to /dev/null too
    except BaseException as e:
        if interrupts.seen() is not None and not (isinstance(e, SystemExit)
                                                  and e.code in (129, 130, 143)):
            _interrupted()   # an error caused by the interrupt (a library wrapped it)
        if closed_output(e):
            _output_closed()
        raise
    finally:
        if argv is not None:   # in-process (tests): put back what was there; a console
            restore()          # run keeps its handlers until the interpreter is gone
            if debug is None:
                os.environ.pop("EDGEKIT_DEBUG", None)
            else:
                os.environ["EDGEKIT_DEBUG"] = debug


def _main(argv: Optional[list]) -> None:
    import typer

    from edgekit.cli.common import naming_stdout
    from edgekit.core import interrupts

    args, debug = _with_debug(list(sys.argv[1:] if argv is None else argv))
    debug = debug or os.environ.get("EDGEKIT_DEBUG") == "1"
    command = cli_command()
    try:
        code = command.main(args=args, prog_name="edgekit", standalone_mode=False)
        with naming_stdout():
            sys.stdout.flush()    # a closed or full stdout shows here, not at Python's exit
        if code == 130:  # Typer turns Ctrl-C into Exit(130) and, unstandalone, returns it
            raise KeyboardInterrupt
        if isinstance(code, int) and not isinstance(code, bool) and code:
            sys.exit(code)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        _interrupted()
    except Exception as e:
        if closed_output(e):     # before --debug: a closed pipe is no error to trace
            _output_closed()
        interrupts.checkpoint()   # an error that an interrupt caused is the interrupt
        if isinstance(e, typer.TyperException):   # click usage errors: option, value
            if type(e).__name__ == "NoArgsIsHelpError":
                command.main(args=["--help"], prog_name="edgekit", standalone_mode=False)
                sys.exit(2)
            ctx = getattr(e, "ctx", None)
            where = ctx.command_path if ctx is not None else "edgekit"
            _error(f"{e.format_message()} (see '{where} --help')")
            sys.exit(getattr(e, "exit_code", 2))
        if debug:
            raise
        message, code = _worded(e)
        _error(message)
        sys.exit(code)


def _worded(e: Exception) -> tuple[str, int]:
    """An error's one line and exit code: edgekit's own as raised; an ``OSError`` no
    command worded (a path or the machine), in words with its path; anything else (a bug or
    an unexpected library error) by its type and first line."""
    if isinstance(e, EdgekitError):
        return str(e), e.exit_code
    if isinstance(e, OSError) and e.errno is not None:   # a library's own: catch-all
        worded = os_error(e)
        return str(worded), worded.exit_code
    return f"{type(e).__name__}: {first_line(e)} (rerun with --debug for the traceback)", 1
