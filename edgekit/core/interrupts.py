"""Interrupts, once, for every command (DESIGN.md, "Foundations").

SIGINT (Ctrl-C), SIGTERM (``kill``, a container stopping, a CI timeout) and SIGHUP (the
terminal or the ssh session closed) mean the same: stop at the next step boundary, leave
nothing half-written, exit 128 + the signal's number (130, 143, 129).

- :func:`install` (the CLI calls it first) makes the three signals raise
  :class:`Interrupted`, a ``KeyboardInterrupt``: every ``with``/``finally`` that removes a
  temporary file or folder runs for SIGTERM and SIGHUP as it does for Ctrl-C. A signal that
  is ignored when edgekit starts stays ignored (``nohup edgekit ...`` keeps running when
  the terminal closes).
- The signal is *remembered*. A library may swallow the exception (a broad ``except``, a
  finalizer, a wrapper that re-raises it as its own error); :func:`checkpoint`, called at
  every step boundary (each progress message, before each file is committed) and once more
  when the command ends, raises it again. An interrupt is never lost, whatever caught it.
- :func:`deferred` holds a signal back for a short block that must not be cut in two (a
  commit of several files, a clean-up): the signal is remembered and raised at its end.

Standard library only.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
NAMES = {signal.SIGINT: "Ctrl-C (SIGINT)", signal.SIGTERM: "SIGTERM",
         signal.SIGHUP: "SIGHUP, the terminal closed"}
# what the signals do when nobody handles them: where they still do that, edgekit handles them
DEFAULTS = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL,
            signal.SIGHUP: signal.SIG_DFL}


class Interrupted(KeyboardInterrupt):
    """A signal that stops the command: exit 128 + its number."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(NAMES.get(signum, f"signal {signum}"))
        self.signum = int(signum)

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


_seen: int | None = None     # the first signal received by this command
_deferring = 0               # depth of deferred() blocks
_active = False              # a command is running: between install() and its restore()
_installed: set[int] = set()   # the signals install() handles, for reclaim()


def seen() -> int | None:
    """The signal received since :func:`install` (None: none)."""
    return _seen


def _handler(signum, frame) -> None:
    global _seen
    if _seen is None:
        _seen = signum
    if _deferring or _in_finalizer(frame):
        return          # raised at the end of the block, or at the next checkpoint
    raise Interrupted(_seen)


def _in_finalizer(frame) -> bool:
    """Is the signal landing in a ``__del__``? An exception raised there is dropped (and
    would cut the finalizer short); the next checkpoint raises it instead."""
    return frame is not None and frame.f_code.co_name == "__del__"


def _unraisable(previous: Callable) -> Callable:
    def hook(unraisable) -> None:
        if _seen is not None and isinstance(unraisable.exc_value, KeyboardInterrupt):
            return      # remembered: the next checkpoint raises it
        previous(unraisable)

    return hook


def install() -> Callable[[], None]:
    """Make SIGINT, SIGTERM and SIGHUP stop the command by :class:`Interrupted` (where
    their handling is Python's default: a test harness' own is kept, an ignored signal stays
    ignored). Returns a function that restores what was there."""
    global _seen, _deferring, _active
    _seen, _deferring, _active = None, 0, True
    saved: dict = {}
    for signum in SIGNALS:
        try:
            current = signal.getsignal(signum)
            if current is DEFAULTS[signum] or current is _handler:
                signal.signal(signum, _handler)
                saved[signum] = current
        except ValueError:      # not the main thread: nothing to install
            pass
    _installed.clear()
    _installed.update(saved)
    hook = sys.unraisablehook
    sys.unraisablehook = _unraisable(hook)

    def restore() -> None:
        global _seen, _deferring, _active
        _installed.clear()
        for signum, handler in saved.items():
            signal.signal(signum, handler)
        sys.unraisablehook = hook
        _seen, _deferring, _active = None, 0, False   # the command is over: nothing
                                                      # of it may stop what runs next
    return restore


def reclaim() -> None:
    """Put edgekit's handlers back where a library replaced them (ray.init installs a
    Python SIGTERM handler that exits 1, and its core worker a C++ one that prints a
    stack): each signal that :func:`install` handles gets edgekit's handler again."""
    for signum in _installed:
        try:
            signal.signal(signum, _handler)
        except ValueError:      # not the main thread
            pass


def checkpoint() -> None:
    """A step boundary: raise the interrupt received so far, if any (one that a library
    swallowed included)."""
    if _active and _seen is not None and not _deferring:
        raise Interrupted(_seen)


@contextmanager
def deferred() -> Iterator[None]:
    """A block that a signal must not cut in two (a commit, a clean-up): a signal that
    arrives during it is raised when it ends."""
    global _deferring
    _deferring += 1
    try:
        yield
    finally:
        _deferring -= 1
    checkpoint()


def quiet_after() -> None:
    """The command is stopping: further signals are remembered only (a second Ctrl-C
    must not cut the clean-up or the last line short)."""
    global _deferring
    _deferring += 1
