"""An ONNX model's external data is read by the one reader (core.reading.open_input), from
inside the model's folder only, no further than its tensors declare, for analysis and for
a whole model (export runs the float original from bytes) alike: a location that leaves
the folder ('../x', an absolute path, a link out), a file shorter than its tensor, or a
FIFO is one line, and nothing outside the folder is ever opened (every open recorded)."""

import builtins
import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import edgekit.readers.onnx_stored as stored
from edgekit.core import files as F
from edgekit.core.errors import EdgekitError, UsageError
from edgekit.readers.onnx_file import load_onnx

pytestmark = pytest.mark.usefixtures("fresh_inputs")   # tests/unit/conftest.py

W = np.arange(64, dtype=np.float32).reshape(4, 16)


@pytest.fixture
def opened(monkeypatch):
    """Every path opened (builtins.open, os.open: what onnx's loader and the one reader
    use), resolved."""
    seen: list[str] = []
    real_open, real_os_open = builtins.open, os.open

    def record(path):
        if isinstance(path, (str, bytes, os.PathLike)):
            seen.append(os.path.realpath(os.fsdecode(path)))

    def open_(file, *a, **k):
        record(file)
        return real_open(file, *a, **k)

    def os_open(path, *a, **k):
        record(path)
        return real_os_open(path, *a, **k)

    monkeypatch.setattr(builtins, "open", open_)
    monkeypatch.setattr(os, "open", os_open)
    return seen


@pytest.fixture(autouse=True)
def no_onnx_loader(monkeypatch):
    """onnx's own external-data loader opens what a file names, unbounded: never used."""
    import onnx.external_data_helper as helper_module

    def refuse(*a, **k):
        raise AssertionError("onnx's external data loader was called")

    monkeypatch.setattr(helper_module, "load_external_data_for_model", refuse)
    monkeypatch.setattr(helper_module, "load_external_data_for_tensor", refuse)


def _model(folder, location: str, offset: int = 0, length: int | None = None):
    """m.onnx in ``folder``: y = x @ w, w (4x16 float32, 256 bytes) kept at ``location``."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    w = numpy_helper.from_array(W, "w")
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    w.external_data.add(key="location", value=location)
    w.external_data.add(key="offset", value=str(offset))
    if length is not None:
        w.external_data.add(key="length", value=str(length))
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")],
                              "g", [x], [y], [w])
    path = folder / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


@pytest.fixture
def layout(tmp_path):
    """tmp/model/ (the model's folder) and tmp/secret.data beside it: W's bytes, a file
    the model must never reach."""
    folder = tmp_path / "model"
    folder.mkdir()
    secret = tmp_path / "secret.data"
    secret.write_bytes(W.tobytes())
    return folder, secret


def _case(name, folder, secret):
    if name == "parent":
        return _model(folder, "../secret.data"), "outside the model's folder"
    if name == "nested parent":
        (folder / "sub").mkdir()
        return _model(folder, "sub/../../secret.data"), "outside the model's folder"
    if name == "absolute":
        return _model(folder, str(secret)), "outside the model's folder"
    if name == "link out":
        (folder / "w.data").symlink_to(secret)
        return _model(folder, "w.data"), "outside the model's folder"
    if name == "linked folder out":
        (folder / "d").symlink_to(secret.parent)
        return _model(folder, "d/secret.data"), "outside the model's folder"
    if name == "short":
        (folder / "w.data").write_bytes(W.tobytes()[:200])
        return _model(folder, "w.data"), "but 'w.data' holds 200 bytes from offset 0"
    if name == "past its end":
        (folder / "w.data").write_bytes(W.tobytes())
        return _model(folder, "w.data", offset=100, length=256), \
            "but 'w.data' holds 156 bytes from offset 100"
    if name == "fifo":
        os.mkfifo(folder / "w.data")
        return _model(folder, "w.data"), "'w.data', is a FIFO (named pipe), not a regular file"
    if name == "missing":
        return _model(folder, "w.data"), "'w.data', is missing"
    if name == "folder":
        (folder / "w.data").mkdir()
        return _model(folder, "w.data"), "'w.data', is a folder, not a regular file"
    if name == "device link":
        (folder / "w.data").symlink_to("/dev/zero")
        return _model(folder, "w.data"), "outside the model's folder"
    raise AssertionError(name)


CASES = ["parent", "nested parent", "absolute", "link out", "linked folder out", "short",
         "past its end", "fifo", "missing", "folder", "device link"]


@pytest.mark.parametrize("whole", [False, True], ids=["analysis", "whole model"])
@pytest.mark.parametrize("name", CASES)
def test_external_data_out_of_bounds_is_one_line_and_never_opened(layout, opened, name,
                                                                   whole):
    folder, secret = layout
    path, said = _case(name, folder, secret)
    opened.clear()
    with pytest.raises(EdgekitError) as e:
        load_onnx(path, whole=whole)
    assert said in str(e.value) and "\n" not in str(e.value), str(e.value)
    assert str(path) in str(e.value)
    outside = [p for p in opened if not p.startswith(os.path.realpath(folder) + os.sep)]
    assert outside == [], outside


@pytest.mark.parametrize("whole", [False, True], ids=["analysis", "whole model"])
def test_external_data_inside_the_folder_is_read_and_registered(layout, opened, whole):
    folder, _ = layout
    (folder / "w.data").write_bytes(b"#" * 8 + W.tobytes())
    path = _model(folder, "w.data", offset=8)
    (w,) = load_onnx(path, whole=whole).graph.initializer
    assert np.array_equal(numpy_helper.to_array(w), W)
    assert os.path.realpath(folder / "w.data") in opened
    with pytest.raises(UsageError, match="it is an input of this command"):
        F.write_text(folder / "w.data", "x")


def test_a_tensor_past_the_read_limit_is_read_whole_only_for_a_whole_model(
        layout, opened, monkeypatch):
    """Past the read limit (here 64 bytes for a 256-byte tensor; in use 256 MiB) the data
    stays in its file for analysis; a whole model (export's float original) reads it
    through the one reader, never onnx's loader."""
    monkeypatch.setattr(stored, "READ_LIMIT", 64)
    folder, _ = layout
    (folder / "w.data").write_bytes(W.tobytes())
    path = _model(folder, "w.data")
    (w,) = load_onnx(path).graph.initializer
    assert w.data_location == TensorProto.EXTERNAL and not w.raw_data
    opened.clear()
    (w,) = load_onnx(path, whole=True).graph.initializer
    assert w.data_location == TensorProto.DEFAULT and not w.external_data
    assert np.array_equal(numpy_helper.to_array(w), W)
    assert os.path.realpath(folder / "w.data") in opened
