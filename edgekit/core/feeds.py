"""``--inputs FILE.npz``: a model's input values, keyed by input name (numpy only; the file
is read without pickle, so loading it never runs code from it).

The file is read bounded, by construction: opened by the one reader of user files
(core/reading.py: registered as an input of the command, a regular file of at most
4 GiB), then every member's declared sizes are checked *before anything is inflated*: the
zip header's size of the member, the .npy header's element type and shape, and their
agreement; the arrays together may hold at most :data:`FEEDS_LIMIT` bytes. A 7 MB file
that would inflate to 2 GB is refused by what it declares, in one line.

What the file declares is known before anything is inflated (:class:`StoredArrays`'s
``headers``), so that a command compares it with the model's inputs first (:func:`declared`:
the readers and runtimes check names, element types and shapes on it); an array is inflated
only when it is asked for, after those checks.
"""

from __future__ import annotations

import math
import os
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekit.core.errors import UsageError, first_line
from edgekit.core.reading import ARRAYS_LIMIT, GiB, open_input, size_text

FEEDS_LIMIT = 1 * GiB        # the arrays of one --inputs file, inflated (declared sizes)
DATA_LIMIT = 4 * GiB         # a data set's arrays (--calibration, --validation), inflated
MAX_ARRAYS = 4096
_HEADER_LIMIT = 64 * 1024    # an .npy header (numpy writes a few hundred bytes)


def feeds_npz(feeds: dict[str, np.ndarray]) -> bytes:
    """The .npz bytes of ``feeds`` (what a board loads back with :func:`load_feeds`)."""
    import io

    buf = io.BytesIO()
    np.savez(buf, **feeds)
    return buf.getvalue()


class _Refused(Exception):
    """Why the file is not a readable .npz of input values (the text after the file)."""


@dataclass(frozen=True)
class ArrayHeader:
    """What an .npy header declares of its array (nothing inflated): its shape and element
    type, and where its data starts in a lone .npy file."""

    shape: tuple
    dtype: np.dtype
    fortran: bool = False
    offset: int = 0

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize


class StoredArrays(Mapping):
    """The arrays of one .npz (or lone .npy) file by name, read bounded: what every array
    declares is known at once (:attr:`headers`, checked against the file and the limit
    when the file was opened); an array is inflated when it is first asked for
    (``arrays[name]``), from the same file (opened again by the one reader: a file that
    changed since is refused). ``finite``: a float array holding NaN or infinity is one
    line when it is inflated (--inputs)."""

    def __init__(self, path: Path, what: str, headers: dict[str, ArrayHeader],
                 identity: tuple, lone_npy: bool = False, finite: bool = False):
        self.path, self.what, self.headers = path, what, headers
        self._identity, self._lone_npy, self._finite = identity, lone_npy, finite
        self._arrays: dict[str, np.ndarray] = {}

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self.headers:
            raise KeyError(name)
        if name not in self._arrays:
            self._arrays[name] = self._inflate(name)
        return self._arrays[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.headers)

    def __len__(self) -> int:
        return len(self.headers)

    def __repr__(self) -> str:
        return f"StoredArrays({self.path}: {', '.join(self.headers)})"

    def _inflate(self, name: str) -> np.ndarray:
        label = f"{self.what} {self.path}"
        with open_input(self.path, self.what, ARRAYS_LIMIT) as f:
            if _identity(f) != self._identity:
                raise UsageError(f"{label}: the file changed while edgekit was reading it")
            try:
                if self._lone_npy:
                    array = _read_npy_data(f, self.headers[name])
                else:
                    with zipfile.ZipFile(f) as z:
                        array = _inflate(z, z.getinfo(f"{name}.npy"), self.headers[name])
            except _Refused as e:
                raise UsageError(f"{label}: {e}") from None
            except Exception as e:  # zip errors (a CRC, a truncated member)
                raise UsageError(f"{label}: not a readable .npz of named arrays "
                                 f"({first_line(e)})") from None
        if self._finite and array.dtype.kind == "f" and not np.isfinite(array).all():
            raise UsageError(f"{label}: array {name!r} holds NaN or infinity")
        return array


def declared(values) -> dict:
    """{name: what has ``.shape``, ``.dtype``, ``.size``} of given input values without
    inflating them: a :class:`StoredArrays`' headers, a plain dict's arrays themselves.
    What a model's inputs are compared with before any value is read."""
    if isinstance(values, StoredArrays):
        return dict(values.headers)
    return dict(values or {})


def load_feeds(path: Path | str | None, what: str = "--inputs",
               limit: int = FEEDS_LIMIT) -> StoredArrays | dict:
    """{input name: array} from an .npz file (``np.savez(path, image=..., state=...)``);
    {} when no file is given. One line for a file that is not a readable .npz of numeric
    or boolean arrays, or whose arrays declare more than ``limit`` bytes. The arrays are
    inflated when asked for (:class:`StoredArrays`): compare :func:`declared` with the
    model first."""
    if path is None:
        return {}
    feeds = load_arrays(path, what, limit, finite=True)
    for name, header in feeds.headers.items():
        if header.dtype.kind not in "biuf":
            raise UsageError(f"{what} {path}: array {name!r} is {header.dtype}; input "
                             "values must be numbers or booleans")
    return feeds


def load_arrays(path: Path | str, what: str, limit: int = DATA_LIMIT,
                npy: bool = False, finite: bool = False) -> StoredArrays:
    """{name: array} of an .npz file (a lone .npy too, as {'': array}, when ``npy``), read
    bounded: registered as an input, a regular file, every array's declared size checked
    before it is inflated, at most ``limit`` bytes of arrays. One line naming ``what``
    (the option) and the file otherwise. Data sets (--calibration, --validation) and
    --inputs alike. The headers are read now, each array when it is asked for."""
    path = Path(path)
    label = f"{what} {path}"
    with open_input(path, what, ARRAYS_LIMIT) as f:
        try:
            headers, lone = _read_headers(f, limit, npy)
        except _Refused as e:
            raise UsageError(f"{label}: {e}") from None
        except UsageError:
            raise
        except Exception as e:  # zip and format errors (a CRC, a truncated member)
            raise UsageError(f"{label}: not a readable .npz of named arrays "
                             f"({first_line(e)})") from None
        identity = _identity(f)
    if not headers:
        raise UsageError(f"{label}: the file holds no arrays")
    return StoredArrays(path, what, headers, identity, lone, finite)


def _identity(f) -> tuple:
    st = os.fstat(f.fileno())
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def _not_a_zip(head: bytes) -> str:
    if head.startswith(np.lib.format.MAGIC_PREFIX):
        return ("is an .npy file (one unnamed array); --inputs takes an .npz of arrays "
                "keyed by input name: np.savez(path, input_name=array)")
    if head[:1] == b"\x80" or head[:2] in (b"(d", b"(l", b"}q", b"]q"):
        return ("is a Python pickle, not an .npz; edgekit never loads pickles: save the "
                "arrays with np.savez(path, input_name=array)")
    return "not an .npz (not a zip archive of .npy arrays keyed by input name)"


def _read_headers(f, limit: int, npy: bool = False) -> tuple[dict[str, ArrayHeader], bool]:
    """({name: header}, whether the file is a lone .npy), every size checked."""
    head = f.read(8)
    f.seek(0)
    if npy and head.startswith(np.lib.format.MAGIC_PREFIX):
        return {"": _npy_header(f, limit)}, True
    if not zipfile.is_zipfile(f):
        if npy and not head.startswith(np.lib.format.MAGIC_PREFIX[:1]) and \
                not head.startswith(b"\x80"):
            raise _Refused("not an .npy array or an .npz of arrays")
        raise _Refused(_not_a_zip(head))
    f.seek(0)
    with zipfile.ZipFile(f) as z:
        members = z.infolist()
        if len(members) > MAX_ARRAYS:
            raise _Refused(f"holds {len(members)} files; at most {MAX_ARRAYS} arrays")
        return _declared(z, members, limit), False


def _declared(z: zipfile.ZipFile, members, limit: int) -> dict[str, ArrayHeader]:
    """{name: header}, every size checked, nothing inflated past the .npy headers."""
    out: dict = {}
    total = 0
    for info in members:
        if info.is_dir():
            continue
        if not info.filename.endswith(".npy"):
            raise _Refused(f"member {info.filename!r} is not an .npy array")
        name = info.filename[:-len(".npy")]
        if name in out:
            raise _Refused(f"array {name!r} is stored twice")
        total += info.file_size
        if total > limit:
            raise _Refused(f"its arrays declare {size_text(total)} or more once "
                           f"uncompressed, more than the {size_text(limit)} edgekit "
                           "reads for --inputs")
        with z.open(info) as m:
            shape, fortran, dtype = _header(m, name)
            nbytes = math.prod(shape) * dtype.itemsize
            if m.tell() + nbytes != info.file_size:
                raise _Refused(f"array {name!r} declares {'x'.join(map(str, shape))} "
                               f"{dtype} ({size_text(nbytes)}), its member holds "
                               f"{size_text(max(0, info.file_size - m.tell()))}")
        out[name] = ArrayHeader(shape, dtype, fortran)
    return out


def _npy_header(f, limit: int) -> ArrayHeader:
    """A lone .npy file's header, checked against the file's size and the limit."""
    shape, fortran, dtype = _header(f, "")
    nbytes = math.prod(shape) * dtype.itemsize
    size = os.fstat(f.fileno()).st_size
    if nbytes > limit:
        raise _Refused(f"its array declares {size_text(nbytes)}, more than the "
                       f"{size_text(limit)} edgekit reads for it")
    if f.tell() + nbytes != size:
        raise _Refused(f"its header declares {'x'.join(map(str, shape))} {dtype} "
                       f"({size_text(nbytes)}), the file holds "
                       f"{size_text(max(0, size - f.tell()))}")
    return ArrayHeader(shape, dtype, fortran, f.tell())


def _read_npy_data(f, header: ArrayHeader) -> np.ndarray:
    f.seek(header.offset)
    buf = bytearray(header.nbytes)
    if f.readinto(buf) != header.nbytes:
        raise _Refused("it is shorter than its header declares")
    return np.frombuffer(buf, dtype=header.dtype).reshape(
        header.shape, order="F" if header.fortran else "C")


def _header(m, name: str):
    """(shape, Fortran order, dtype) from an .npy member's header; refuses what is not an
    array of numbers or booleans (pickled objects first of all)."""
    fmt = np.lib.format
    label = f"array {name!r}" if name else "its array"
    try:
        version = fmt.read_magic(m)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(m, _HEADER_LIMIT)
        elif version == (2, 0):
            shape, fortran, dtype = fmt.read_array_header_2_0(m, _HEADER_LIMIT)
        else:
            raise ValueError(f"an .npy format version {version} that holds no plain numbers")
    except ValueError as e:
        raise _Refused(f"{label}: not an .npy array ({first_line(e)})") from None
    if dtype.hasobject:
        raise _Refused(f"{label} holds pickled Python objects (dtype object); "
                       "edgekit never loads pickles: input values must be numbers or "
                       "booleans")
    if dtype.kind not in "biufcSU" or dtype.fields is not None or \
            dtype.subdtype is not None:
        raise _Refused(f"{label} is {dtype}; arrays of numbers, booleans or text only")
    return tuple(shape), fortran, dtype


def _inflate(z: zipfile.ZipFile, info, header: ArrayHeader) -> np.ndarray:
    """One member's array, inflated into a buffer of its declared size (read no further;
    the archive's checksum is checked at the end)."""
    nbytes = header.nbytes
    buf = bytearray(nbytes)
    view = memoryview(buf)
    with z.open(info) as m:
        np.lib.format.read_magic(m)
        m.seek(info.file_size - nbytes)
        filled = 0
        while filled < nbytes:
            n = m.readinto(view[filled:])
            if not n:
                raise _Refused(f"array {info.filename[:-4]!r} is shorter than it declares")
            filled += n
        m.read(1)   # at the end: zipfile checks the CRC
    array = np.frombuffer(buf, dtype=header.dtype)
    return array.reshape(header.shape, order="F" if header.fortran else "C")
