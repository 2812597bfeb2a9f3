"""``--inputs FILE.npz``: a model's input values, keyed by input name (numpy only; the file
is read without pickle, so loading it never runs code from it).

The file is read bounded, by construction: opened by the one reader of user files
(core/reading.py: registered as an input of the command, a regular file of at most
4 GiB), then every member's declared sizes are checked *before anything is inflated*: the
zip header's size of the member, the .npy header's element type and shape, and their
agreement; the arrays together may hold at most :data:`FEEDS_LIMIT` bytes. A 7 MB file
that would inflate to 2 GB is refused by what it declares, in one line.
"""

from __future__ import annotations

import math
import zipfile
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


def load_feeds(path: Path | str | None, what: str = "--inputs",
               limit: int = FEEDS_LIMIT) -> dict[str, np.ndarray]:
    """{input name: array} from an .npz file (``np.savez(path, image=..., state=...)``);
    {} when no file is given. One line for a file that is not a readable .npz of numeric
    or boolean arrays, or whose arrays declare more than ``limit`` bytes."""
    if path is None:
        return {}
    feeds = load_arrays(path, what, limit)
    for name, value in feeds.items():
        if value.dtype.kind not in "biuf":
            raise UsageError(f"{what} {path}: array {name!r} is {value.dtype}; input "
                             "values must be numbers or booleans")
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            raise UsageError(f"{what} {path}: array {name!r} holds NaN or infinity")
    return feeds


def load_arrays(path: Path | str, what: str, limit: int = DATA_LIMIT,
                npy: bool = False) -> dict[str, np.ndarray]:
    """{name: array} of an .npz file (a lone .npy too, as {'': array}, when ``npy``), read
    bounded: registered as an input, a regular file, every array's declared size checked
    before it is inflated, at most ``limit`` bytes of arrays. One line naming ``what``
    (the option) and the file otherwise. Data sets (--calibration, --validation) and
    --inputs alike."""
    path = Path(path)
    label = f"{what} {path}"
    with open_input(path, what, ARRAYS_LIMIT) as f:
        try:
            arrays = _read_npz(f, limit, npy)
        except _Refused as e:
            raise UsageError(f"{label}: {e}") from None
        except UsageError:
            raise
        except Exception as e:  # zip and format errors (a CRC, a truncated member)
            raise UsageError(f"{label}: not a readable .npz of named arrays "
                             f"({first_line(e)})") from None
    if not arrays:
        raise UsageError(f"{label}: the file holds no arrays")
    return arrays


def _not_a_zip(head: bytes) -> str:
    if head.startswith(np.lib.format.MAGIC_PREFIX):
        return ("is an .npy file (one unnamed array); --inputs takes an .npz of arrays "
                "keyed by input name: np.savez(path, input_name=array)")
    if head[:1] == b"\x80" or head[:2] in (b"(d", b"(l", b"}q", b"]q"):
        return ("is a Python pickle, not an .npz; edgekit never loads pickles: save the "
                "arrays with np.savez(path, input_name=array)")
    return "not an .npz (not a zip archive of .npy arrays keyed by input name)"


def _read_npz(f, limit: int, npy: bool = False) -> dict[str, np.ndarray]:
    head = f.read(8)
    f.seek(0)
    if npy and head.startswith(np.lib.format.MAGIC_PREFIX):
        return {"": _read_npy(f, limit)}
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
        declared = _declared(z, members, limit)
        return {name: _inflate(z, info, shape, dtype, fortran)
                for name, (info, shape, dtype, fortran) in declared.items()}


def _declared(z: zipfile.ZipFile, members, limit: int) -> dict:
    """{name: (member, shape, dtype, Fortran order)}, every size checked, nothing inflated
    past the .npy headers."""
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
        out[name] = (info, shape, dtype, fortran)
    return out


def _read_npy(f, limit: int) -> np.ndarray:
    """A lone .npy file's array: its header checked against the file's size and the
    limit before the data is read."""
    import os

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
    buf = bytearray(nbytes)
    if f.readinto(buf) != nbytes:
        raise _Refused("it is shorter than its header declares")
    return np.frombuffer(buf, dtype=dtype).reshape(shape, order="F" if fortran else "C")


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


def _inflate(z: zipfile.ZipFile, info, shape: tuple, dtype, fortran: bool) -> np.ndarray:
    """One member's array, inflated into a buffer of its declared size (read no further;
    the archive's checksum is checked at the end)."""
    nbytes = math.prod(shape) * dtype.itemsize
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
    array = np.frombuffer(buf, dtype=dtype)
    return array.reshape(shape, order="F" if fortran else "C")
