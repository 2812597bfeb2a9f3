"""Silence native libraries that print to the process's stdout/stderr file descriptors."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager


@contextmanager
def _quiet_fd(fd: int, stream):
    if os.environ.get("EDGEKIT_DEBUG") == "1":
        yield
        return
    stream.flush()
    saved = os.dup(fd)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
        yield
    finally:
        stream.flush()
        os.dup2(saved, fd)
        os.close(saved)
        os.close(devnull)


def quiet_stderr():
    """Send fd 2 to /dev/null for the block (kept when EDGEKIT_DEBUG=1)."""
    return _quiet_fd(2, sys.stderr)


def quiet_stdout():
    """Send fd 1 to /dev/null for the block: converters that print progress to stdout."""
    return _quiet_fd(1, sys.stdout)
