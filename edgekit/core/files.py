"""One way to write a file, for every command (DESIGN.md, "Foundations").

``write_output(path, write)`` and ``output_file(path)`` are the only ways edgekit writes a
file a user named or will read. They

- refuse to write onto any input of the running command (``note_input``, from
  :mod:`edgekit.core.inputs` and found here too, remembers each one where user files are
  resolved or loaded), compared by resolved path and by device/inode,
  so a hard link or another spelling of an input is refused too;
- write through a symbolic link (a chain, or a dangling one) to its target: the link stays;
- write in place (opened, no rename, no chmod) into what is not a regular file: a FIFO, a
  character device (``/dev/null``), ``/dev/stdout``, ``/dev/fd/N``; ``-`` is stdout where
  the caller allows it (one text/JSON output);
- write a regular file atomically: a temporary file with a short name (``.ek-XXXXXXXX.part``,
  so that any legal target name fits NAME_MAX) beside the target, renamed onto it; a
  failure (a full disk included: exit 1, "no space left on FOLDER") leaves the old file as
  it was and no temporary file;
- commit nothing after Ctrl-C or SIGTERM (:mod:`edgekit.core.interrupts`: a checkpoint
  before each rename), and never leave a temporary file whatever moment a signal lands.

``move_output`` commits a file finished in a staging folder by the same rules (export's
artefacts); ``append_line`` adds a line to a log edgekit keeps. The rest of the foundation
lives beside it, and is found here too (the names every command imports from here):
where an output goes and the checks before any work (``check_writable``,
``check_output_folder``: :mod:`edgekit.core.output_checks`), temporary folders
(``temp_folder``, ``scratch_file``: :mod:`edgekit.core.temp_folders`), a file's hash
(:mod:`edgekit.core.hashing`) and the inputs of the command (:mod:`edgekit.core.inputs`).
"""

from __future__ import annotations

import errno
import os
import stat
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from edgekit.core import interrupts
from edgekit.core.hashing import sha256_file  # noqa: F401
from edgekit.core.inputs import forget_inputs, note_input, refuse_inputs  # noqa: F401
from edgekit.core.output_checks import (  # noqa: F401
    FIGURE_FORMATS,
    PLAIN_NAME,
    STDOUT,
    check_output_folder,
    check_writable,
    current_umask,
    descriptor_of,
    figure_format,
    is_stdout,
    output_kind,
    plain_name,
    target_kind,
    writable_target,
    write_failed,
    write_target,
)
from edgekit.core.temp_folders import scratch_file, temp_folder  # noqa: F401

TEMP_PREFIX, TEMP_SUFFIX = ".ek-", ".part"    # 17 characters whatever the target's name


def _stream(path: Path, mode: str, open_kw: dict):
    """An open file for a target that is written in place, and whether to close it."""
    if is_stdout(path) or descriptor_of(path) in (1, 2):
        text = sys.stderr if descriptor_of(path) == 2 else sys.stdout
        text.flush()
        return (text if "b" not in mode else text.buffer), False
    fd = descriptor_of(path)
    if fd is not None:
        return os.fdopen(os.dup(fd), mode, **open_kw), True
    return open(path, mode, **open_kw), True


def _new_mode(target: Path) -> int:
    """The permission bits of the written file: the replaced file's, else the umask's."""
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        return 0o666 & ~current_umask()


def _prepare(path: Path, stdout: bool) -> tuple[str, Path]:
    """(kind, the file written) after every check, creating missing folders."""
    check_writable(path, stdout=stdout)
    target = write_target(path)
    kind = target_kind(target) if not (is_stdout(path) or descriptor_of(path) is not None) \
        else "stream"
    if kind == "file":
        writable_target(target, create_parent=target == path)
    return kind, target


def write_output(path, write: Callable, mode: str = "wb", *, stdout: bool = False,
                 **open_kw) -> None:
    """Call ``write(file)`` to produce the output ``path`` by the rules of this module:
    never onto an input, through links, in place into what is not a regular file, ``-``
    for stdout when ``stdout``, atomically (temporary file and rename) otherwise."""
    path = Path(path)
    kind, target = _prepare(path, stdout)
    if kind == "stream":
        try:
            f, close = _stream(path, mode, open_kw)
            try:
                write(f)
                f.flush()
            finally:
                if close:
                    f.close()
        except OSError as e:
            raise write_failed(path, e, path) from None
        return
    with _replacing(path, target) as (fd, _), os.fdopen(fd, mode, **open_kw) as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())   # a full disk shows here, not after the rename


@contextmanager
def _replacing(path: Path, target: Path, suffix: str = "") -> Iterator[tuple[int, str]]:
    """(descriptor, name) of a new temporary file beside ``target`` (its short name ends in
    ``suffix``), renamed onto ``target`` when the block ends well, with the permission bits
    of the file it replaces; gone however else the block ends, an ``OSError`` said in one
    line for ``path``. Nothing is committed after an interrupt."""
    parent = target.parent if str(target.parent) else Path(".")
    tmp = None
    try:
        with interrupts.deferred():   # a temporary file exists only inside this try
            fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX + suffix,
                                       dir=parent)
        yield fd, tmp
        os.chmod(tmp, _new_mode(target))   # mkstemp makes 0600
        interrupts.checkpoint()            # nothing is committed after an interrupt
        os.replace(tmp, target)
    except BaseException as e:
        _discard(tmp)
        if isinstance(e, OSError):
            raise write_failed(path, e, parent) from None
        raise


def _discard(tmp) -> None:
    """Remove a temporary file (not cut short by a signal)."""
    with interrupts.deferred():
        if tmp is not None and os.path.lexists(tmp):
            os.unlink(tmp)


def write_text(path, text: str, *, stdout: bool = False, encoding: str = "utf-8") -> None:
    """``write_output`` of a string."""
    write_output(path, lambda f: f.write(text), mode="w", stdout=stdout, encoding=encoding)


@contextmanager
def output_file(path) -> Iterator[Path]:
    """A file name for writers that need one (Keras ``save``), with ``path``'s suffix, that
    becomes the output ``path`` on success by the rules of ``write_output``, and is gone on
    failure."""
    import shutil

    path = Path(path)
    kind, target = _prepare(path, stdout=False)
    suffix = path.suffix if len(path.suffix) <= 16 else ""
    if kind == "stream":
        with temp_folder() as folder:
            tmp = folder / f"output{suffix}"
            yield tmp
            with open(tmp, "rb") as src:
                write_output(path, lambda f: shutil.copyfileobj(src, f))
        return
    with _replacing(path, target, suffix) as (fd, name):
        os.close(fd)
        yield Path(name)


def move_output(src: Path, path) -> None:
    """A finished file ``src`` (written in a staging folder, beside ``path`` for a rename)
    becomes the output ``path`` by the rules of :func:`write_output`: never onto an input,
    through a symbolic link to its target (the link stays), in place into what is not a
    regular file, else renamed (or copied atomically from another file system)."""
    import shutil

    path = Path(path)
    kind, target = _prepare(path, stdout=False)
    if kind == "file":
        interrupts.checkpoint()
        try:
            os.replace(src, target)
            return
        except OSError as e:
            if e.errno != errno.EXDEV:
                raise write_failed(path, e, target.parent) from None
    with open(src, "rb") as f:
        write_output(path, lambda out: shutil.copyfileobj(f, out))
    _discard(src)


def append_line(path, line: str, *, cut_at: int | None = None) -> None:
    """Append one line of text to a log edgekit keeps (the sweep store), durably (fsync
    before return): never onto an input of the command, through links, the folder made
    if missing. ``cut_at``: first cut the file to that many bytes (a last line that a
    crash left half-written), so that the new line starts on a line of its own."""
    path = Path(path)
    if "\n" in line:
        raise ValueError("append_line takes one line")
    check_writable(path)
    target = write_target(path)
    if target_kind(target) == "file":
        writable_target(target, create_parent=target == path)
    try:
        with open(target, "ab", buffering=0) as f:   # unbuffered: nothing left to flush
            if cut_at is not None and f.seek(0, os.SEEK_END) > cut_at:
                f.truncate(cut_at)
            start = f.seek(0, os.SEEK_END)
            try:
                with interrupts.deferred():     # the whole line, or none of it
                    rest = memoryview(line.encode("utf-8") + b"\n")
                    while rest:
                        rest = rest[f.write(rest):]
                    if target_kind(target) == "file":
                        os.fsync(f.fileno())
            except OSError:
                if target_kind(target) == "file":     # a full disk: no cut line is left
                    f.truncate(start)
                raise
    except OSError as e:
        raise write_failed(path, e, target.parent) from None
