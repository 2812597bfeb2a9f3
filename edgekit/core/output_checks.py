"""Where an output goes and whether it can be written (DESIGN.md, "Foundations": writing a
file), told before any work and before every write by :mod:`edgekit.core.files`, the one
writer: ``-`` (stdout), an open descriptor (``/dev/stdout``, ``/dev/fd/N``,
``/proc/self/fd/N``), what is not a regular file (written in place), a folder (refused),
a regular file or nothing yet (written atomically); never one of the command's inputs
(:mod:`edgekit.core.inputs`). :func:`check_writable` and :func:`check_output_folder`
refuse, creating nothing, an output that could not be written; :func:`write_failed` words
a failed write in one line. Writes nothing."""

from __future__ import annotations

import errno
import functools
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path

from edgekit.core.errors import OS_ERRORS, EdgekitError, UsageError, first_line, quoted
from edgekit.core.inputs import refuse_inputs
from edgekit.core.numbers import read_number

STDOUT = "-"


def is_stdout(path) -> bool:
    return path is not None and str(path) == STDOUT


_FD = re.compile(r"^/(?:dev|proc/self)/fd/([0-9]{1,9})$")   # ASCII digits only
_STD = {"/dev/stdin": 0, "/dev/stdout": 1, "/dev/stderr": 2}


def descriptor_of(path: Path) -> int | None:
    """The open descriptor a path names (/dev/stdout, /dev/fd/N, /proc/self/fd/N, or a link
    to one of them), or None: written through the descriptor, not reopened (reopening a
    redirected stdout would truncate the file the shell opened)."""
    text = str(path)
    for _ in range(40):   # the kernel's limit of links followed
        text = os.path.normpath(os.path.abspath(text))
        if text in _STD:
            return _STD[text]
        m = _FD.match(text)
        if m:
            return read_number(m.group(1), text, 0, integer=True)
        try:
            link = os.readlink(text)
        except (OSError, ValueError):
            return None
        text = os.path.join(os.path.dirname(text), link)
    return None


def output_kind(path) -> str:
    """How ``write_output`` would write ``path``: 'stdout', 'descriptor', 'in place' (not a
    regular file: FIFO, device), 'folder' (refused) or 'atomic' (a regular file or nothing
    yet: temporary file and rename). Writes nothing."""
    path = Path(path)
    if is_stdout(path):
        return "stdout"
    if descriptor_of(path) is not None:
        return "descriptor"
    kind = target_kind(write_target(path))
    return {"stream": "in place", "folder": "folder", "file": "atomic"}[kind]


def write_target(path: Path) -> Path:
    """The file a write to ``path`` lands in: the end of its symbolic links (a dangling
    link's target included), in its real folder."""
    if not os.path.islink(path):
        return path
    try:
        target = Path(os.path.realpath(path, strict=False))
        if os.path.islink(target):   # still a link: a loop
            raise OSError(errno.ELOOP, "loop")
    except OSError:
        raise UsageError(f"cannot write {path}: its symbolic links form a loop") from None
    return target


def target_kind(path: Path) -> str:
    """'stream' (exists, not a regular file: written in place), 'folder', or 'file' (a
    regular file or nothing yet: written atomically), of a path that is neither stdout
    nor a descriptor (callers tell those first)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "file"
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise UsageError(f"cannot write {path}: its symbolic links form a loop") from None
        return "file"
    if stat.S_ISDIR(st.st_mode):
        return "folder"
    return "file" if stat.S_ISREG(st.st_mode) else "stream"


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def worded(check: Callable) -> Callable:
    """A check of an output path whose ``OSError`` (a 256-byte name, a 5,000-byte path:
    ``Path.is_dir`` and ``os.stat`` raise ENAMETOOLONG; the path may come from a file, not
    an option) becomes one line in words (``write_failed``)."""
    @functools.wraps(check)
    def checked(path, *args, **kwargs):
        try:
            return check(path, *args, **kwargs)
        except OSError as e:
            raise write_failed(Path(path), e, Path(path).parent) from None
    return checked


@worded
def writable_target(path: Path, create_parent: bool = True) -> Path:
    """The folder a new file ``path`` goes into, created if missing; one line when the path
    is a folder or the folder cannot be made."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"cannot write {path}: it is a folder; give a file name")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        if not create_parent or parent.exists():
            raise UsageError(f"cannot write {path}: {parent} is not a folder")
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UsageError(f"cannot write {path}: cannot create {parent} "
                             f"({e.strerror})") from None
    return parent


@worded
def check_writable(path: Path, figure: bool = False, stdout: bool = False) -> Path:
    """Fail early, creating nothing, when a file cannot be written at ``path``: it is an
    input of the command (so far), a folder, or the nearest existing folder above it is a
    file (for a figure: a suffix that names no image format); ``-`` unless ``stdout``.
    What the system refuses to even look at is one line in words (``worded``)."""
    path = Path(path)
    if is_stdout(path):
        if not stdout:
            raise UsageError(f"cannot write {'a plot' if figure else 'this output'} to "
                             "stdout ('-'); give a file name (./- for a file named '-')")
        return path
    if path.is_dir():
        raise UsageError(f"cannot write {path}: it is a folder; give a file name")
    if figure:
        figure_format(path)
    fd = descriptor_of(path)
    if fd is not None:   # compared with the inputs by the file the descriptor has open
        refuse_inputs(path, fd)
        return path
    refuse_inputs(path)
    target = write_target(path)
    kind = target_kind(target)
    if kind == "folder":
        raise UsageError(f"cannot write {path}: it is a folder; give a file name")
    if kind == "stream":
        if not os.access(target, os.W_OK):
            raise UsageError(f"cannot write {path}: permission denied")
        return path
    parent = target.parent if str(target.parent) else Path(".")
    if target != path and not parent.is_dir():
        raise UsageError(f"cannot write {path}: it links to {target}, whose folder "
                         "does not exist")
    _check_folder(parent, f"cannot write {path}")
    return path


def _check_folder(folder: Path, what: str) -> Path:
    """The nearest existing folder at or above ``folder`` (where new files and folders
    would be made) must be a folder that this process can write into."""
    while not os.path.lexists(folder) and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise UsageError(f"{what}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        why = "read-only file system" if _read_only(folder) else "permission denied"
        raise UsageError(f"{what}: {folder} is not writable ({why})")
    return folder


def _read_only(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


@worded
def check_output_folder(folder) -> Path:
    """Fail early, creating nothing, when an output folder (``export -o``, ``sweep -o``)
    cannot be written: it is a file, or the folder (or the nearest existing one above it,
    where it would be made) is not writable. Every command with an output folder calls it
    before its first build, export or measurement."""
    if is_stdout(folder):
        raise UsageError("cannot write an output folder to stdout ('-'); give a folder name "
                         "(./- for a folder named '-')")
    folder = Path(folder)
    if os.path.lexists(folder) and not folder.is_dir():
        raise UsageError(f"output folder {folder} is a file, not a writable folder")
    what = f"output folder {folder} is not a writable folder" if folder.is_dir() else \
        f"cannot create output folder {folder}"
    _check_folder(folder, what)
    return folder


PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def plain_name(name: str, option: str) -> str:
    """A name that becomes one file name in a folder of edgekit's (``--lut-name``): a
    profile's name (letters, digits, '.', '_', '-'; not hidden, no folder part, no '..');
    one line otherwise."""
    if not isinstance(name, str) or not PLAIN_NAME.fullmatch(name) or ".." in name:
        raise UsageError(f"{option} {name!r}: expected a plain name of letters, digits, "
                         "'.', '_' and '-' (at most 64, no folder part)")
    return name


FIGURE_FORMATS = ("png", "pdf", "svg")


def figure_format(path: Path) -> str:
    """The image format a plot path names by its suffix (png, pdf, svg), or one line."""
    fmt = Path(path).suffix.lower().lstrip(".")
    if fmt not in FIGURE_FORMATS:
        raise UsageError(f"cannot write a plot to {path}: the file name must end in "
                         f"{', '.join('.' + f for f in FIGURE_FORMATS)}")
    return fmt


# ---- a write that failed, in words ------------------------------------------------------

_USAGE_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOENT, errno.ENOTDIR,
                 errno.EISDIR, errno.ENAMETOOLONG, errno.ELOOP, errno.EEXIST}


def write_failed(path: Path, e: OSError, folder) -> EdgekitError:
    """One line for a write that failed, the reason in words (``core.errors.OS_ERRORS``), a
    long path shortened around '…': a full disk is exit 1 and says so."""
    shown = quoted(path) if len(str(path)) > 200 else path
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return EdgekitError(f"cannot write {shown}: no space left on {folder}; "
                            "nothing was written")
    reason = OS_ERRORS.get(e.errno, (None,))[0] or e.strerror or first_line(e)
    if e.errno in _USAGE_ERRNOS:
        return UsageError(f"cannot write {shown}: {reason}")
    return EdgekitError(f"cannot write {shown}: {reason}")
