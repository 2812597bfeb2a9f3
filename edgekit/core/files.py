"""Atomic file writes: a failed or interrupted write leaves no partial file behind."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from edgekit.core.errors import UsageError, first_line


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


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


def check_writable(path: Path, figure: bool = False) -> Path:
    """Fail early, creating nothing, when a file cannot be written at ``path``: it is a
    folder, or the nearest existing folder above it is a file (for a figure: a suffix
    that names no image format)."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"cannot write {path}: it is a folder; give a file name")
    if figure:
        figure_format(path)
    parent = path.parent if str(path.parent) else Path(".")
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(f"cannot write {path}: {parent} is not a folder")
    return path


FIGURE_FORMATS = ("png", "pdf", "svg")


def figure_format(path: Path) -> str:
    """The image format a plot path names by its suffix (png, pdf, svg), or one line."""
    fmt = Path(path).suffix.lower().lstrip(".")
    if fmt not in FIGURE_FORMATS:
        raise UsageError(f"cannot write a plot to {path}: the file name must end in "
                         f"{', '.join('.' + f for f in FIGURE_FORMATS)}")
    return fmt


def atomic_write(path: Path, write: Callable, mode: str = "wb", **open_kw) -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it into place."""
    path = Path(path)
    parent = writable_target(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=parent)
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror}") from None
    try:
        with os.fdopen(fd, mode, **open_kw) as f:
            write(f)
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes 0600; honour the umask
        os.replace(tmp, path)
    except BaseException as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise UsageError(f"cannot write {path}: {e.strerror or first_line(e)}") from None
        raise


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` (same suffix) that is renamed into place on success
    and removed on failure; for writers that need a file name (Keras ``save``)."""
    path = Path(path)
    parent = writable_target(path)
    if not os.access(parent, os.W_OK):
        raise UsageError(f"cannot write {path}: folder {parent} is not writable")
    tmp = parent / f".{path.stem}.{os.getpid()}.part{path.suffix}"
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException as e:
        if tmp.exists():
            tmp.unlink()
        if isinstance(e, OSError):
            raise UsageError(f"cannot write {path}: {e.strerror or first_line(e)}") from None
        raise


def sha256_file(path: Path) -> str:
    """SHA-256 of a file's content, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()



def config_dir() -> Path:
    """edgekit's folder of user settings: $XDG_CONFIG_HOME/edgekit (~/.config/edgekit)."""
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "edgekit"
