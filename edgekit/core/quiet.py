"""Silence native libraries that print to the process's stdout/stderr file descriptors."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager


@contextmanager
def _quiet_fd(fd: int, name: str):
    """Silence both the file descriptor (native code) and the Python stream ``sys.<name>``
    (Python ``print``, which may not be fd-backed, e.g. under pytest)."""
    if os.environ.get("EDGEKIT_DEBUG") == "1":
        yield
        return
    from edgekit.core.interrupts import deferred

    stream = getattr(sys, name)
    stream.flush()
    saved = devnull = sink = None
    try:
        with deferred():   # a signal never leaves the descriptor silenced (its line unseen)
            saved = os.dup(fd)
            devnull = os.open(os.devnull, os.O_WRONLY)
            sink = open(os.devnull, "w")
            os.dup2(devnull, fd)
            setattr(sys, name, sink)
        yield
    finally:
        with deferred():
            setattr(sys, name, stream)
            if sink is not None:
                sink.close()
            if saved is not None:
                os.dup2(saved, fd)
                os.close(saved)
            if devnull is not None:
                os.close(devnull)


def quiet_stderr():
    """Send stderr to /dev/null for the block (kept when EDGEKIT_DEBUG=1)."""
    return _quiet_fd(2, "stderr")


def quiet_stdout():
    """Send stdout to /dev/null for the block: converters that print progress."""
    return _quiet_fd(1, "stdout")


def discard_stdout() -> None:
    """stdout's reader went away (a closed pipe): what is still buffered, and anything
    written after, goes to /dev/null, so that Python's own flush at exit does not fail again
    ('Exception ignored ... BrokenPipeError', exit 120). Nothing where ``sys.stdout`` is not
    a real descriptor (a test's capture)."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)
