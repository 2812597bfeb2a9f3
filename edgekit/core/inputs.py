"""The inputs of the running command, remembered so that no output of it is ever written
onto one of them (DESIGN.md, "Foundations": writing a file). Every place that resolves or
loads a user's file calls :func:`note_input`; :mod:`edgekit.core.files` refuses to write onto
any of them, by any spelling, link or hard link."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from edgekit.core.errors import UsageError

_inputs: dict[tuple[int, int], str] = {}    # (st_dev, st_ino) -> the input as named
_input_paths: dict[str, str] = {}           # resolved path -> the input as named


def note_input(path) -> None:
    """Remember that the running command reads ``path``: no output of it may be written
    onto that file (by any spelling, link or hard link). Folders and devices are not
    recorded (nothing is written onto a folder; ``/dev/stdin`` is not a file)."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return
    if stat.S_ISDIR(st.st_mode) or stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        return
    _inputs[(st.st_dev, st.st_ino)] = str(path)
    _input_paths[os.path.realpath(path)] = str(path)


def forget_inputs() -> None:
    """A new command starts: none of its files are known yet (the CLI calls this)."""
    _inputs.clear()
    _input_paths.clear()


def forget_input(path) -> None:
    """``path`` is no longer an input of the running command: a file of edgekit's own that
    it read in order to rewrite it whole (devices.toml after 'devices add')."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        st = None
    if st is not None:
        _inputs.pop((st.st_dev, st.st_ino), None)
    _input_paths.pop(os.path.realpath(path), None)


def input_named(path: Path, descriptor: int | None = None) -> str | None:
    """The input ``path`` would overwrite, as the user named it, or None. A path that names
    an open ``descriptor`` (/dev/stdout, /dev/fd/N, /proc/self/fd/N) is compared by the
    device and inode of the file that descriptor has open."""
    if descriptor is None:
        named = _input_paths.get(os.path.realpath(path))
        if named is not None and os.path.exists(named):
            return named
    try:
        st = os.stat(path) if descriptor is None else os.fstat(descriptor)
    except (OSError, ValueError):
        return None
    named = _inputs.get((st.st_dev, st.st_ino))
    if named is None:
        return None
    try:  # the input is still that file (not a deleted one whose inode was reused)
        now = os.stat(named)
    except OSError:
        return None
    return named if (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino) else None


def refuse_inputs(path: Path, descriptor: int | None = None) -> None:
    """One line when writing ``path`` (or the open ``descriptor`` it names) would land on
    an input of the running command."""
    named = input_named(path, descriptor)
    if named is not None:
        same = "" if os.path.abspath(named) == os.path.abspath(path) else f" ({named})"
        raise UsageError(f"cannot write {path}: it is an input of this command{same}; "
                         "edgekit never overwrites its inputs, give another file name")
