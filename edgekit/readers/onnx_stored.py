"""The stored tensors of an ONNX file, checked before anything counts them: each holds the
data its dims declare (a tensor declaring 2^31+1 elements over 4 bytes is a broken file,
not 8 GiB of weights), external data is read from files inside the model's folder that
are registered as inputs of the command (no output may land on them), no further than
the sizes the tensors declare, and not at all for a tensor past the read limit
(its file holds what it declares; the evaluator never needs its numbers) unless the whole
model is asked for (export runs it from bytes); onnx's own external-data loader, which
opens what the file names unbounded, is never used. Local functions that call themselves
are refused."""

from __future__ import annotations

import math
import os
from pathlib import Path

from edgekit.core.errors import ModelFileError, first_line
from edgekit.core.reading import MODEL_LIMIT, file_kind, open_input
from edgekit.readers.onnx_values import subgraphs

SUB_BYTE_BITS = {"int4": 4, "uint4": 4, "float4_e2m1fn": 4, "int2": 2, "uint2": 2}
READ_LIMIT = 1 << 28        # bytes of one tensor's external data read into memory


def _graph_tensors(graph):
    from onnx import AttributeProto

    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for n in graph.node:
        yield from _node_tensors(n, AttributeProto)
        for _, g in subgraphs(n):
            yield from _graph_tensors(g)


def _node_tensors(node, AttributeProto):
    for a in node.attribute:
        if a.type == AttributeProto.TENSOR:
            yield a.t
        elif a.type == AttributeProto.TENSORS:
            yield from a.tensors
        elif a.type == AttributeProto.SPARSE_TENSOR:
            yield a.sparse_tensor.values
            yield a.sparse_tensor.indices


def stored_tensors(model):
    """Every TensorProto the model stores: initializers (sparse ones as their values and
    indices), Constant and other attribute tensors, in subgraphs and local functions."""
    from onnx import AttributeProto

    yield from _graph_tensors(model.graph)
    for f in model.functions:
        for n in f.node:
            yield from _node_tensors(n, AttributeProto)
            for _, g in subgraphs(n):
                yield from _graph_tensors(g)


def _element(t) -> tuple[str, int | None]:
    """(element type name, bits per element; None for strings and unknown types)."""
    from edgekit.readers.onnx_values import elem_name

    name = elem_name(t.data_type)
    if name in SUB_BYTE_BITS:
        return name, SUB_BYTE_BITS[name]
    if name in ("string", "undefined"):
        return name, None
    import numpy as np

    return name, np.dtype(name).itemsize * 8


def _declared(t) -> tuple[int, str, int | None]:
    """(elements its dims declare, element type, bytes of raw data they take or None)."""
    name, bits = _element(t)
    n = math.prod(t.dims)
    return n, name, None if bits is None else -(-n * bits // 8)


def _what(t, n: int, name: str, size: int | None) -> str:
    from edgekit.core.units import nbytes

    shown = f" ({nbytes(size)})" if size is not None else ""
    return f"tensor {t.name!r} declares {n:,} {name} elements{shown}"


def _field_count(t, name: str, n: int) -> tuple[int, int]:
    """(values its typed field holds, values it should hold)."""
    from onnx import helper

    try:
        field = helper.tensor_dtype_to_field(t.data_type)
    except Exception:  # an element type the installed onnx has no field for
        return 0, 0
    held = len(getattr(t, field))
    if name in SUB_BYTE_BITS:
        return held, -(-n * SUB_BYTE_BITS[name] // 8)
    if name.startswith("complex"):
        return held, 2 * n
    return held, n


def check_data(t, path: Path) -> None:
    """A stored tensor holds the data its dims declare."""
    from onnx import TensorProto

    if any(d < 0 for d in t.dims):
        raise ModelFileError(f"cannot read ONNX model {path}: tensor {t.name!r} has a "
                             f"negative dimension ({list(t.dims)})")
    n, name, size = _declared(t)
    if t.data_location == TensorProto.EXTERNAL or size is None:
        return
    if t.HasField("raw_data"):
        if len(t.raw_data) != size:
            raise ModelFileError(f"cannot read ONNX model {path}: {_what(t, n, name, size)} "
                                 f"but holds {len(t.raw_data):,} bytes")
        return
    held, want = _field_count(t, name, n)
    if held != want:
        raise ModelFileError(f"cannot read ONNX model {path}: {_what(t, n, name, size)} "
                             f"but holds {held:,} values")


def _data_file(t, entries: dict, path: Path) -> tuple[Path, str]:
    """(the external data file of tensor ``t``, its location as written): a relative
    path inside the model's folder, no '..', no link out of it; one line otherwise."""
    where = entries.get("location", "")
    folder = Path(os.path.abspath(path)).parent     # as onnx and onnxruntime take it
    outside = ModelFileError(f"cannot read ONNX model {path}: tensor {t.name!r} keeps its "
                             f"data at {where!r}, outside the model's folder")
    if not where or "\0" in where or os.path.isabs(where) or \
            ".." in Path(where).parts:
        raise outside
    file = folder / where
    if Path(folder.resolve()) not in Path(file.resolve()).parents:   # a link out of it
        raise outside
    if not file.is_file():
        what = f"is {file_kind(file.stat().st_mode)}, not a regular file" \
            if file.exists() else "is missing"
        raise ModelFileError(f"cannot read ONNX model {path}: the external data file of "
                             f"tensor {t.name!r}, {where!r}, {what}")
    return file, where


def _external(t, path: Path, whole: bool = False) -> None:
    """Read a tensor's external data: its file inside the model's folder, opened by the one
    reader (registered as an input, a regular file within the model limit), holding at
    least the bytes the tensor declares at its offset; no more read. A tensor
    larger than :data:`READ_LIMIT` stays in its file unless ``whole`` (its dims are all
    that counting it needs; a run from bytes needs its data)."""
    from onnx import TensorProto

    entries = {e.key: e.value for e in t.external_data}
    n, name, size = _declared(t)
    file, where = _data_file(t, entries, path)
    try:
        offset = int(entries.get("offset", 0) or 0)
        length = int(entries["length"]) if entries.get("length") else None
    except ValueError as e:
        raise ModelFileError(f"cannot read ONNX model {path}: tensor {t.name!r}: "
                             f"{first_line(e)}") from e
    if offset < 0 or (length is not None and length < 0):
        raise ModelFileError(f"cannot read ONNX model {path}: tensor {t.name!r}: its "
                             f"external data offset or length is negative")
    if size is not None and length is not None and length != size:
        raise ModelFileError(f"cannot read ONNX model {path}: {_what(t, n, name, size)} "
                             f"but its external data is {length:,} bytes long")
    limit = MODEL_LIMIT if whole else READ_LIMIT
    with open_input(file, f"external data of ONNX tensor {t.name!r}", MODEL_LIMIT) as f:
        st = os.fstat(f.fileno())
        now = os.stat(file.resolve())
        if (st.st_dev, st.st_ino) != (now.st_dev, now.st_ino):    # swapped since checked
            raise ModelFileError(f"cannot read ONNX model {path}: the external data file "
                                 f"of tensor {t.name!r}, {where!r}, changed while read")
        want = size if size is not None else (     # a type of no fixed size: its length
            length if length is not None else max(st.st_size - offset, 0))
        have = st.st_size - offset
        if have < want:
            shown = _what(t, n, name, size) if size is not None else \
                f"tensor {t.name!r} declares {want:,} bytes of external data"
            raise ModelFileError(f"cannot read ONNX model {path}: {shown} but {where!r} "
                                 f"holds {max(have, 0):,} bytes from offset {offset:,}")
        if want > limit:
            if size is None:
                raise ModelFileError(f"cannot read ONNX model {path}: tensor {t.name!r} "
                                     f"keeps {want:,} bytes of {name} data, more than "
                                     f"edgekit reads for a tensor of no fixed size")
            return
        f.seek(offset)
        data = f.read(want)   # one buffer of the size checked above, no further
    if len(data) != want:
        raise ModelFileError(f"cannot read ONNX model {path}: {_what(t, n, name, size)} "
                             f"but {where!r} held {len(data):,} bytes from offset {offset:,}")
    t.raw_data = data
    t.data_location = TensorProto.DEFAULT
    del t.external_data[:]


def load_stored_data(model, path: Path, whole: bool = False) -> None:
    """Check every stored tensor of a model loaded without its external data, and read
    that data (see the module's docstring); ``whole``: every tensor's data, however large
    (a model run from bytes: export's float original), still through the one reader."""
    from onnx import TensorProto

    for t in stored_tensors(model):
        if t.data_location == TensorProto.EXTERNAL:
            check_data(t, path)
            _external(t, path, whole)
            if t.data_location == TensorProto.EXTERNAL:
                continue     # left in its file: checked against it above
        check_data(t, path)


def check_functions(model, path: Path) -> None:
    """A local function that calls itself, directly or through others, cannot be
    expanded (onnx's inliner refuses it): a broken file."""
    defined = {(f.domain, f.name): f for f in model.functions}
    calls = {key: {(n.domain, n.op_type) for n in f.node if (n.domain, n.op_type) in defined}
             for key, f in defined.items()}

    done: set = set()

    def visit(key, trail):
        if key in trail:
            loop = " -> ".join(f"{d}::{op}" for d, op in trail[trail.index(key):] + [key])
            raise ModelFileError(f"cannot read ONNX model {path}: its local functions "
                                 f"call themselves ({loop})")
        if key in done:
            return
        for callee in sorted(calls.get(key, ())):
            visit(callee, trail + [key])
        done.add(key)

    for key in sorted(defined):
        visit(key, [])
