"""--inputs arrays are compared with the model's inputs by what the file declares (the
.npy headers: names, element types, shapes) before any of them is inflated: a file whose
arrays would inflate to 512 MiB but cannot fit the model is one line, having allocated a
few KiB. Both places that check given values: the ONNX reader (analyze, bench's MACs) and
the runtimes' call inputs (bench, profile); and export's calibration and validation arrays
(one input, several inputs)."""

import re
import tracemalloc
import zipfile

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgekit.core.errors import UsageError
from edgekit.core.feeds import StoredArrays, declared, load_feeds
from edgekit.readers.onnx_reader import read_onnx
from edgekit.runtimes.tensors import IOSpec, call_inputs

pytestmark = pytest.mark.usefixtures("fresh_inputs")   # tests/unit/conftest.py

BIG = (8, 1 << 24)          # 512 MiB of float32
CHUNK = 1 << 24


def stored_zeros(path, name: str, shape: tuple, dtype) -> None:
    """A real .npz member of ``shape`` zeros, written in chunks (never held whole)."""
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
              "fortran_order": False, "shape": shape}
    left = int(np.prod(shape)) * np.dtype(dtype).itemsize
    zeros = bytes(CHUNK)
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED, compresslevel=1) as z, \
            z.open(f"{name}.npy", "w", force_zip64=True) as m:
        np.lib.format.write_array_header_1_0(m, header)
        while left:
            n = min(left, CHUNK)
            m.write(zeros[:n])
            left -= n


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """m.onnx: x [N, 16] float32 -> MatMul 16x8; wrong.npz declares x as 8x2^24 (512 MiB);
    float64.npz declares x of another type (64 MiB), other.npz an input the model lacks."""
    folder = tmp_path_factory.mktemp("declared")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 16])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")],
                              "g", [x], [y],
                              [numpy_helper.from_array(np.ones((16, 8), np.float32), "w")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]),
              folder / "m.onnx")
    stored_zeros(folder / "wrong.npz", "x", BIG, np.float32)
    stored_zeros(folder / "float64.npz", "x", (1 << 19, 16), np.float64)   # the right shape
    stored_zeros(folder / "other.npz", "steps", (1 << 23,), np.float64)
    np.savez(folder / "right.npz", x=np.arange(32, dtype=np.float32).reshape(2, 16))
    return folder


class _Runner:
    """What call_inputs reads of a runtime adapter (onnxruntime's for m.onnx)."""
    label = "m.onnx"
    inputs = [IOSpec("x", (None, 16), "float32", symbols=("N", None))]


def _read_onnx(folder, feeds):
    return read_onnx(folder / "m.onnx", None, None, feeds)


def _call_inputs(folder, feeds):
    return call_inputs(_Runner(), (), None, feeds)


def test_calibration_arrays_that_cannot_fit_are_refused_before_they_are_inflated(files):
    from edgekit.export.multi_io import ModelIO, from_npz
    from edgekit.export.samples import from_array

    io = ModelIO(["x"], [(16,)], ["y"])
    for read, said in ((lambda p: from_array(p, (16,), 10), "samples have shape (16777216,)"),
                       (lambda p: from_npz(p, io, 10), "has samples of shape (16777216,)")):
        tracemalloc.start()
        try:
            with pytest.raises(UsageError, match=re.escape(said)):
                read(files / "wrong.npz")
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 8 << 20, f"{peak / 2**20:.1f} MiB allocated before the refusal"


@pytest.mark.parametrize("check", [_read_onnx, _call_inputs], ids=["analyze", "runtime"])
@pytest.mark.parametrize("name, said", [
    ("wrong.npz", "--inputs array 'x' (8x16777216): input 'x' has a fixed size 16 at "
                  "position 1, 16777216 given"),
    ("float64.npz", "is float32, the file gives float64"),
    ("other.npz", "no input 'steps'"),
])
def test_values_that_cannot_fit_are_refused_before_they_are_inflated(files, check, name,
                                                                     said):
    tracemalloc.start()   # reading the file and checking it, together
    try:
        feeds = load_feeds(files / name)
        with pytest.raises(UsageError) as e:
            check(files, feeds)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert isinstance(feeds, StoredArrays)
    assert max(h.nbytes for h in declared(feeds).values()) >= 64 << 20
    assert said in str(e.value) and "\n" not in str(e.value), str(e.value)
    assert peak < 8 << 20, f"{peak / 2**20:.1f} MiB allocated before the refusal"


def test_values_that_fit_are_inflated_when_used(files):
    feeds = load_feeds(files / "right.npz")
    bound, arrays, batch = _call_inputs(files, feeds)
    assert bound == {"x": (2, 16)} and batch == 2
    assert np.array_equal(arrays[0], np.arange(32, dtype=np.float32).reshape(2, 16))
    records, _, info = _read_onnx(files, feeds)
    assert [r.macs for r in records if r.name == "mm"] == [2 * 16 * 8]
    assert info["input_shapes"] == {"x": "2x16"}


def test_a_file_changed_after_its_headers_were_read_is_refused(files, tmp_path):
    p = tmp_path / "in.npz"
    np.savez(p, x=np.ones((2, 16), np.float32))
    feeds = load_feeds(p)
    np.savez(p, x=np.zeros((2, 16), np.float32), y=np.ones(3))
    with pytest.raises(UsageError, match="changed while edgekit was reading it"):
        feeds["x"]
