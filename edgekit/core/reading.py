"""One way to open a user's file for reading, for every command (DESIGN.md, "Foundations":
reading a user file).

:func:`open_input` is the only way edgekit opens a file a user named or keeps (a model and
its external data, ``--inputs``, calibration and validation data, devices.toml, device
profiles, latency tables, manifests, stores, report inputs). It

- registers the file as an input of the running command (:func:`note_input`), so no output
  of the command can be written onto it by any spelling, link, hard link or descriptor;
- opens it once and checks what was opened (not what the name pointed at a moment before):
  a regular file, not a folder, a FIFO or a device (``/dev/zero``, an endless pipe), of at
  most ``limit`` bytes;
- hands back a binary handle; :func:`read_input` and :func:`read_input_text` read it whole,
  never more than the limit (a file that grows while it is read is refused too).

Every refusal is one line naming the file (as ``what`` labels it) and why. Standard library
only.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import BinaryIO

from edgekit.core.errors import UsageError
from edgekit.core.inputs import note_input

MiB = 1 << 20
GiB = 1 << 30

# The stated limits (README: "Files edgekit reads"): a file past its kind's limit is refused
# before it is read.
SETTINGS_LIMIT = 1 * MiB          # devices.toml, a device profile
DOCUMENT_LIMIT = 256 * MiB        # a JSON document edgekit wrote (report inputs, manifests, ...)
ARRAYS_LIMIT = 4 * GiB            # an .npz/.npy file (compressed), --inputs, data sets
MODEL_LIMIT = 64 * GiB            # a model file or its external data


class InputFileError(UsageError):
    """A user's file that cannot be read as one: missing, not a regular file, too large."""


def size_text(n: int) -> str:
    """'1 MiB', '2.5 GiB', '312 bytes': a limit or a size, as an error line shows it."""
    for unit, size in (("GiB", GiB), ("MiB", MiB), ("KiB", 1 << 10)):
        if n >= size:
            v = n / size
            return f"{v:.0f} {unit}" if v == int(v) else f"{v:.1f} {unit}"
    return f"{n} bytes"


def file_kind(mode: int) -> str:
    """What a file that is not a regular one is, from its ``st_mode``."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _why(e: OSError) -> str:
    return {errno.ENOENT: "file not found", errno.EACCES: "permission denied",
            errno.ELOOP: "its symbolic links form a loop",
            errno.ENAMETOOLONG: "file name too long", errno.ENOTDIR:
            "a part of the path is not a folder", errno.EISDIR: "is a folder, not a file",
            }.get(e.errno, e.strerror or str(e))


def open_input(path, what: str = "", limit: int = DOCUMENT_LIMIT) -> BinaryIO:
    """``path`` opened for reading in binary, after it is registered as an input of the
    command and checked to be a regular file of at most ``limit`` bytes; one line
    (an :class:`InputFileError`, exit 2) otherwise. ``what`` labels the file in errors
    ('--inputs', 'profile'). The caller closes the handle (``with open_input(...) as f``)."""
    label = f"{what} {path}".strip() if what else str(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)  # O_NONBLOCK: a FIFO with no writer does not hang open()
    except (OSError, ValueError) as e:
        why = _why(e) if isinstance(e, OSError) else "not a file name"
        raise InputFileError(f"{label}: {why}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InputFileError(f"{label}: is {file_kind(st.st_mode)}, not a regular file")
        if st.st_size > limit:
            raise InputFileError(f"{label}: {size_text(st.st_size)}, more than the "
                                 f"{size_text(limit)} edgekit reads for this kind of file")
        os.set_blocking(fd, True)
        note_input(path)   # the file opened: no output of this command may land on it
        handle = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    return handle


def read_input(path, what: str = "", limit: int = DOCUMENT_LIMIT) -> bytes:
    """The bytes of a user's file (:func:`open_input`'s checks), never more than ``limit``
    read (a file that grew past it since it was checked is refused)."""
    label = f"{what} {path}".strip() if what else str(path)
    with open_input(path, what, limit) as f:
        try:   # to its size (read(limit + 1) would allocate the limit: 64 GiB for a model)
            size = os.fstat(f.fileno()).st_size
            data = f.read(min(size, limit) + 1)
            while size < len(data) <= limit:     # it grew since: on, up to the limit
                more = f.read(min(1 << 24, limit + 1 - len(data)))
                if not more:
                    break
                data += more
        except OSError as e:
            raise InputFileError(f"{label}: {_why(e)}") from None
    if len(data) > limit:
        raise InputFileError(f"{label}: more than the {size_text(limit)} edgekit reads for "
                             "this kind of file")
    return data


def read_input_text(path, what: str = "", limit: int = DOCUMENT_LIMIT,
                    kind: str = "text") -> str:
    """A user's file as UTF-8 text (:func:`read_input`); one line when it is not UTF-8
    (``kind`` names what the file should be: 'JSON', 'TOML')."""
    label = f"{what} {path}".strip() if what else str(path)
    data = read_input(path, what, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputFileError(f"{label}: not UTF-8 text (not a {kind} file)") from None
