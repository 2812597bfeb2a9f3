"""Consoles and small helpers shared by the commands."""

import os
import re
import sys
import time
from contextlib import contextmanager

from rich.console import Console

from edgekit.core.errors import one_line


def _width(stream) -> int | None:
    """A terminal's own width (or COLUMNS, when it is a sane width: 20 to 100,000);
    piped or redirected output is not wrapped at 80 columns: long layer names and TOML
    comments stay whole lines."""
    columns = os.environ.get("COLUMNS")
    if columns:
        from edgekit.core.numbers import NumberError, read_number

        try:     # rich would print nothing at all at COLUMNS=0
            read_number(columns, "COLUMNS", 20, 100_000, integer=True)
            return None
        except NumberError:
            return 80 if stream.isatty() else 10_000
    return None if stream.isatty() else 10_000


class EdgekitConsole(Console):
    """Rich's console, as edgekit prints: no emoji codes (a ``:abc:`` in a name the user
    gave stays what it is), text whose brackets are not well-formed markup (a path with
    ``[/]`` in a title or a cell) printed as it is instead of failing the command, and a
    closed stdout (``| head -1``) that ends the command quietly with exit 141, as coreutils
    do (rich's own answer is a silent exit 1). A renderer that puts a name the user gave
    into its own markup escapes it (``rich.markup.escape``) or passes it as ``Text``."""

    def __init__(self, **kwargs):
        super().__init__(highlight=False, emoji=False, **kwargs)

    def render_str(self, text: str, **kwargs):
        from rich.errors import MarkupError

        try:
            return super().render_str(text, **kwargs)
        except MarkupError:
            return super().render_str(text, **{**kwargs, "markup": False})

    def _check_buffer(self) -> None:
        try:
            super()._check_buffer()
        except OSError as e:       # a full disk behind '> file': say which stream it was
            if e.filename is None and e.errno is not None:
                e.filename = "<stderr>" if self.stderr else "<stdout>"
            raise

    def on_broken_pipe(self) -> None:
        from edgekit.core.errors import OutputClosed

        self.quiet = True
        raise OutputClosed()


# Tables and results go to stdout; progress and warnings to stderr, so that
# `--json > file` stays clean.
out = EdgekitConsole(width=_width(sys.stdout))
err = EdgekitConsole(stderr=True, width=_width(sys.stderr))


def fit_consoles() -> None:
    """Each command's consoles take the width of its streams and COLUMNS as they are when
    it starts (not when this module was first imported): a second command in one process
    prints as it would in a fresh one."""
    for console, stream in ((out, sys.stdout), (err, sys.stderr)):
        console.width = _width(stream)   # None: rich reads COLUMNS and the terminal itself


@contextmanager
def status(message: str):
    """A spinner on stderr while ``message`` runs (only on a terminal)."""
    if err.is_terminal:
        with err.status(_plain(message)):
            yield
    else:
        yield


def _plain(message: str):
    """A spinner's text as it is: one line, never markup (it often names a path)."""
    from rich.text import Text

    return Text(one_line(message))


STEP = re.compile(r"^\[(\d+)/(\d+)\] ")


class _Eta:
    """Adds 'about N s left' to messages that start with '[i/n] ' (step i of n), from
    the time the steps so far took."""

    def __init__(self):
        self.start = time.monotonic()
        self.first: float | None = None

    def __call__(self, message: str) -> str:
        m = STEP.match(message)
        if not m:
            return message
        i, n = int(m.group(1)), int(m.group(2))   # not user text: edgekit's messages
        now = time.monotonic()
        if self.first is None or i <= 1:
            self.first = now
            return message
        left = (now - self.first) / (i - 1) * (n - i + 1)
        return f"{message} (about {left:.0f} s left)"


@contextmanager
def progress(message: str):
    """Progress of long work on stderr, as ``with progress(..) as notify``: a spinner
    whose text the caller updates on a terminal, plain lines otherwise (CI logs), nothing
    with EDGEKIT_QUIET=1. Messages starting '[i/n] ' get an ETA. Each message is a step
    boundary: an interrupt received so far (one a library swallowed included) stops the
    command there (core.interrupts)."""
    from edgekit.core.interrupts import checkpoint

    eta = _Eta()
    if err.is_terminal:
        with err.status(_plain(message + "…")) as spinner:
            yield _stepping(lambda m: spinner.update(_plain(eta(m) + "…")), checkpoint)
    elif os.environ.get("EDGEKIT_QUIET") == "1":
        yield _stepping(lambda m: None, checkpoint)
    else:
        yield _stepping(lambda m: err.print(f"edgekit: {one_line(eta(m))}",
                                            markup=False, soft_wrap=True), checkpoint)


def _stepping(show, checkpoint):
    def notify(message: str) -> None:
        checkpoint()
        show(message)

    return notify


def wrote(path) -> None:
    """'wrote PATH' on stderr, never wrapped (a path is copied from it); nothing for
    stdout ('-')."""
    if str(path) == "-":
        return
    err.print(f"wrote {one_line(path)}", soft_wrap=True, markup=False)


def warn(message: str) -> None:
    """'warning: MESSAGE' on stderr, one line: the message is never read as markup and its
    control characters are shown escaped (it often names a path the user gave)."""
    from rich.text import Text

    err.print(Text.assemble(("warning:", "bold yellow"), " ", one_line(message)),
              soft_wrap=True)


def print_json(data) -> None:
    """A JSON document on stdout (plain print: rich would wrap and colour it); NaN and
    infinity are refused (not JSON), loudly."""
    from edgekit.core.numbers import dumps

    with naming_stdout():
        print(dumps(data, indent=2))


@contextmanager
def naming_stdout():
    """An OSError from writing stdout (a full disk behind '> file') names '<stdout>', so
    that its one line says where it happened."""
    try:
        yield
    except OSError as e:
        if e.filename is None and e.errno is not None:
            e.filename = "<stdout>"
        raise


def csv_list(value: str, option: str) -> list:
    items = [v.strip().lower() for v in value.split(",") if v.strip()]
    if not items:
        from edgekit.core.errors import UsageError

        raise UsageError(f"{option} needs at least one value")
    return list(dict.fromkeys(items))


def int_list(value: str, option: str) -> list[int]:
    return _numbers(value, option, int, "integers")


def float_list(value: str, option: str) -> list[float]:
    return _numbers(value, option, float, "numbers")


def _numbers(value: str, option: str, kind, what: str) -> list:
    """Comma-separated numbers, each read by core.numbers.read_number (finite, not
    negative; the command checks its own range after)."""
    from edgekit.core.errors import UsageError
    from edgekit.core.numbers import NumberError, read_number

    numbers = []
    for item in csv_list(value, option):
        try:
            numbers.append(read_number(item, option, 0, None, integer=kind is int))
        except NumberError as e:
            raise UsageError(f"{option} {value}: expected comma-separated {what}; {item} is "
                             f"not {e.expected}") from None
    return numbers


def write_report(path, kind: str, doc: dict, label: str) -> None:
    """A command's own --report page: its one document, rendered as `edgekit report` would."""
    from edgekit.core.files import write_text
    from edgekit.report.html import render_page

    page = render_page([(kind, label, doc)], title=f"edgekit {label}")
    write_text(path, page)
    wrote(path)
