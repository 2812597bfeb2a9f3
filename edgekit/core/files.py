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
artefacts); ``temp_folder`` is the one way to make a temporary folder (gone however the
block ends); ``check_writable`` and ``check_output_folder`` refuse, before any work, an
output that could not be written.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import os
import re
import stat
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from edgekit.core import interrupts
from edgekit.core.errors import OS_ERRORS, EdgekitError, UsageError, first_line, quoted
from edgekit.core.inputs import forget_inputs, note_input, refuse_inputs  # noqa: F401
from edgekit.core.numbers import read_number

STDOUT = "-"
TEMP_PREFIX, TEMP_SUFFIX = ".ek-", ".part"    # 17 characters whatever the target's name

# ---- where a write goes ---------------------------------------------------------------------

def is_stdout(path) -> bool:
    return path is not None and str(path) == STDOUT


_FD = re.compile(r"^/(?:dev|proc/self)/fd/([0-9]{1,9})$")   # ASCII digits only
_STD = {"/dev/stdin": 0, "/dev/stdout": 1, "/dev/stderr": 2}


def _descriptor(path: Path) -> int | None:
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
    if _descriptor(path) is not None:
        return "descriptor"
    return {"stream": "in place", "folder": "folder", "file": "atomic"}[_kind(_resolve(path))]


def _resolve(path: Path) -> Path:
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


def _kind(path: Path) -> str:
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


def _worded(check: Callable) -> Callable:
    """A check of an output path whose ``OSError`` (a 256-byte name, a 5,000-byte path:
    ``Path.is_dir`` and ``os.stat`` raise ENAMETOOLONG; the path may come from a file, not
    an option) becomes one line in words (``_failed``)."""
    @functools.wraps(check)
    def checked(path, *args, **kwargs):
        try:
            return check(path, *args, **kwargs)
        except OSError as e:
            raise _failed(Path(path), e, Path(path).parent) from None
    return checked


@_worded
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


@_worded
def check_writable(path: Path, figure: bool = False, stdout: bool = False) -> Path:
    """Fail early, creating nothing, when a file cannot be written at ``path``: it is an
    input of the command (so far), a folder, or the nearest existing folder above it is a
    file (for a figure: a suffix that names no image format); ``-`` unless ``stdout``.
    What the system refuses to even look at is one line in words (``_worded``)."""
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
    fd = _descriptor(path)
    if fd is not None:   # compared with the inputs by the file the descriptor has open
        refuse_inputs(path, fd)
        return path
    refuse_inputs(path)
    target = _resolve(path)
    kind = _kind(target)
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


@_worded
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


# ---- writing --------------------------------------------------------------------------------

_USAGE_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOENT, errno.ENOTDIR,
                 errno.EISDIR, errno.ENAMETOOLONG, errno.ELOOP, errno.EEXIST}


def _failed(path: Path, e: OSError, folder) -> EdgekitError:
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


def _stream(path: Path, mode: str, open_kw: dict):
    """An open file for a target that is written in place, and whether to close it."""
    if is_stdout(path) or _descriptor(path) in (1, 2):
        text = sys.stderr if _descriptor(path) == 2 else sys.stdout
        text.flush()
        return (text if "b" not in mode else text.buffer), False
    fd = _descriptor(path)
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
    target = _resolve(path)
    kind = _kind(target) if not (is_stdout(path) or _descriptor(path) is not None) \
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
            raise _failed(path, e, path) from None
        return
    parent = target.parent if str(target.parent) else Path(".")
    tmp = None
    try:
        with interrupts.deferred():   # a temporary file exists only inside this try
            fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=parent)
        with os.fdopen(fd, mode, **open_kw) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())   # a full disk shows here, not after the rename
        os.chmod(tmp, _new_mode(target))   # mkstemp makes 0600
        interrupts.checkpoint()            # nothing is committed after an interrupt
        os.replace(tmp, target)
    except BaseException as e:
        _discard(tmp)
        if isinstance(e, OSError):
            raise _failed(path, e, parent) from None
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
    parent = target.parent if str(target.parent) else Path(".")
    tmp = None
    try:
        with interrupts.deferred():
            fd, name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX + suffix,
                                        dir=parent)
            tmp = Path(name)
            os.close(fd)
        yield tmp
        os.chmod(tmp, _new_mode(target))
        interrupts.checkpoint()            # nothing is committed after an interrupt
        os.replace(tmp, target)
    except BaseException as e:
        _discard(tmp)
        if isinstance(e, OSError):
            raise _failed(path, e, parent) from None
        raise


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
                raise _failed(path, e, target.parent) from None
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
    target = _resolve(path)
    if _kind(target) == "file":
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
                    if _kind(target) == "file":
                        os.fsync(f.fileno())
            except OSError:
                if _kind(target) == "file":     # a full disk: no cut line is left
                    f.truncate(start)
                raise
    except OSError as e:
        raise _failed(path, e, target.parent) from None


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


def sha256_file(path: Path) -> str:
    """SHA-256 of a file's content, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
