"""Temporary folders, the one way edgekit makes them (DESIGN.md, "Foundations"): gone when
their block ends, however it ends (an error, Ctrl-C, SIGTERM: the removal is not cut
short by a second signal); and scratch files inside them (a child process's log)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from edgekit.core import interrupts
from edgekit.core.output_checks import plain_name


def scratch_file(folder: Path, name: str):
    """A new file opened for reading and writing (``w+``) inside a folder made by
    :func:`temp_folder` (a child process's log): gone with the folder."""
    folder = Path(folder)
    if folder not in _TEMP_FOLDERS:
        raise ValueError(f"scratch_file: {folder} is not a folder of temp_folder")
    return open(folder / plain_name(name, "scratch file"), "w+")


_TEMP_FOLDERS: set[Path] = set()   # the folders temp_folder made, until they are gone


@contextmanager
def temp_folder(prefix: str = "edgekit-", dir=None) -> Iterator[Path]:
    """A temporary folder (in $TMPDIR, or ``dir``) that is gone when the block ends,
    however it ends: an error, Ctrl-C or SIGTERM (the removal is not cut short by a
    second signal). Every temporary folder of edgekit is made here."""
    import shutil

    folder = None
    try:
        with interrupts.deferred():
            folder = Path(tempfile.mkdtemp(prefix=prefix, dir=dir))
            _TEMP_FOLDERS.add(folder)
        yield folder
    finally:
        with interrupts.deferred():
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
                _TEMP_FOLDERS.discard(folder)
