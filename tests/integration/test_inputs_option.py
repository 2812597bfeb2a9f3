"""--inputs FILE.npz on analyze, bench and profile: the same values, the same sizes, one
line for values that do not fit the model."""

import json
import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper


@pytest.fixture
def model(tmp_path):
    """x: [N, 16] -> MatMul 16x8; a scalar int64 'steps' decides a Loop's trip count."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 16])
    steps = helper.make_tensor_value_info("steps", TensorProto.INT64, [])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    body = helper.make_graph(
        [helper.make_node("Identity", ["cin"], ["cout"]),
         helper.make_node("MatMul", ["h", "w2"], ["h2"], name="step")], "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cin", TensorProto.BOOL, []),
         helper.make_tensor_value_info("h", TensorProto.FLOAT, None)],
        [helper.make_tensor_value_info("cout", TensorProto.BOOL, []),
         helper.make_tensor_value_info("h2", TensorProto.FLOAT, None)])
    nodes = [helper.make_node("MatMul", ["x", "w"], ["a"], name="mm"),
             helper.make_node("Loop", ["steps", "T", "a"], ["y"], name="loop", body=body)]
    inits = [numpy_helper.from_array(np.ones((16, 8), np.float32), "w"),
             numpy_helper.from_array(np.ones((8, 8), np.float32) / 8, "w2"),
             numpy_helper.from_array(np.array(True), "T")]
    graph = helper.make_graph(nodes, "g", [x, steps], [y], inits)
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    feeds = tmp_path / "feeds.npz"
    np.savez(feeds, x=np.ones((512, 16), np.float32), steps=np.array(3, np.int64))
    return path, feeds


def test_analyze_bench_and_profile_use_the_given_values(cli, model):
    path, feeds = model
    a = json.loads(cli("analyze", path, "--inputs", feeds, "--json").out)
    assert a["model"]["input_shapes"] == {"x": "512x16", "steps": ""}
    macs = {r["name"]: r["macs"] for r in a["layers"]}
    assert macs["mm"] == 512 * 16 * 8 and macs["loop/body/step"] == 3 * 512 * 8 * 8
    b = cli("bench", path, "--inputs", feeds, "--runs", "5", "--warmup", "1", "--json")
    assert b.code == 0, b.err
    row = json.loads(b.out)["results"][0]
    assert row["input_shapes"]["x"] == "512x16"
    p = cli("profile", path, "--inputs", feeds, "--runs", "5", "--warmup", "1", "--json")
    assert p.code == 0, p.err
    assert json.loads(p.out)["input_shapes"]["x"] == "512x16"


@pytest.mark.parametrize("arrays, command, expected", [
    ({"z": np.ones((1, 16), np.float32)}, "analyze", "no input 'z'"),
    ({"z": np.ones((1, 16), np.float32)}, "bench", "no input 'z'"),
    ({"x": np.ones((1, 16), np.float64)}, "analyze", "is float32, the file gives float64"),
    ({"x": np.ones((1, 16), np.float64)}, "profile", "is float32, the file gives float64"),
    ({"x": np.ones((1, 17), np.float32)}, "bench", "fixed size 16 at position 1, 17"),
    ({"x": np.ones((2, 2, 16), np.float32)}, "analyze", "has 2 dimensions"),
    ({"x": np.full((1, 16), np.nan, np.float32)}, "bench", "NaN or infinity"),
])
def test_values_that_do_not_fit_are_one_line(cli, model, tmp_path, arrays, command,
                                             expected):
    path, _ = model
    np.savez(tmp_path / "bad.npz", **arrays)
    r = cli(command, path, "--inputs", tmp_path / "bad.npz")
    errors = [x for x in r.err_lines if x.startswith("edgekit: error:")]
    assert r.code == 2 and len(errors) == 1 and expected in errors[0], r.err
    assert "Traceback" not in r.err


def test_inputs_are_for_onnx_files_here(cli, model, tmp_path):
    _, feeds = model
    r = cli("bench", "lenet5", "--inputs", feeds, "--runtime", "keras")
    assert r.code == 2 and "is not one" in r.err
    (tmp_path / "x.npz").write_bytes(b"not a zip")
    r = cli("analyze", model[0], "--inputs", tmp_path / "x.npz")
    assert r.code == 2 and "not an .npz (not a zip archive" in r.err


def _numeric_types() -> list[int]:
    """Every ONNX element type numpy (with ml_dtypes) can hold."""
    out = []
    for t in TensorProto.DataType.values():
        try:
            if helper.tensor_dtype_to_np_dtype(t).kind != "O":    # not text
                out.append(t)
        except (KeyError, ValueError, TypeError):
            pass
    return out


@pytest.mark.parametrize("elem", _numeric_types(),
                         ids=lambda t: TensorProto.DataType.Name(t))
def test_every_element_type_onnxruntime_takes_is_named_as_onnx_does(tmp_path, elem):
    # the runtime layer reads an input's type from onnxruntime; it must be the type the
    # file declares (and analyze checks --inputs against), for every type, or bench and
    # profile refuse the very arrays analyze accepted (a bool input was called float32)
    import onnxruntime as ort

    from edgekit.runtimes.onnxrt import OnnxRunner

    value = helper.make_tensor_value_info("x", elem, [2, 3])
    out = helper.make_tensor_value_info("y", elem, [2, 3])
    model = helper.make_model(helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])], "g", [value], [out]),
        opset_imports=[helper.make_opsetid("", 21)])
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    try:
        runner = OnnxRunner(path)
    except Exception as e:   # a type this onnxruntime has no kernel for
        pytest.skip(f"onnxruntime {ort.__version__} does not take it: {str(e)[:80]}")
    assert runner.inputs[0].dtype == helper.tensor_dtype_to_np_dtype(elem).name


def test_a_boolean_input_is_fed_as_given(cli, tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    m = helper.make_tensor_value_info("mask", TensorProto.BOOL, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    zero = numpy_helper.from_array(np.zeros((1, 4), np.float32), "zero")
    model = helper.make_model(helper.make_graph(
        [helper.make_node("Where", ["mask", "x", "zero"], ["y"])], "g", [x, m], [y], [zero]),
        opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "masked.onnx"
    onnx.save(model, path)
    np.savez(tmp_path / "in.npz", x=np.ones((1, 4), np.float32),
             mask=np.array([[True, False, True, False]]))
    for command in ("analyze", "bench", "profile"):
        r = cli(command, path, "--inputs", tmp_path / "in.npz", "--runs", "2", "--json") \
            if command != "analyze" else cli(command, path, "--inputs", tmp_path / "in.npz")
        assert r.code == 0, (command, r.err)


@pytest.mark.parametrize("command", ["analyze", "bench", "profile"])
def test_a_wrong_size_names_the_array_given_not_an_input_shape(cli, model, tmp_path,
                                                                command):
    """The shape of an --inputs array that contradicts the model is named as that array
    (the user gave no --input-shape)."""
    path, _ = model
    np.savez(tmp_path / "bad.npz", x=np.ones((1, 17), np.float32))
    r = cli(command, path, "--inputs", tmp_path / "bad.npz")
    errors = [x for x in r.err_lines if x.startswith("edgekit: error:")]
    assert r.code == 2 and len(errors) == 1, r.err
    assert "--inputs array 'x' (1x17): input 'x' has a fixed size 16 at position 1, 17 " \
           "given" in errors[0] and "--input-shape" not in errors[0]


@pytest.mark.parametrize("command", ["bench", "profile"])
def test_timing_zero_items_is_one_line_not_a_throughput(cli, model, tmp_path, command):
    path, _ = model
    np.savez(tmp_path / "empty.npz", x=np.ones((0, 16), np.float32),
             steps=np.array(3, np.int64))
    r = cli(command, path, "--inputs", tmp_path / "empty.npz", "--runs", "2", "--json")
    assert r.code == 2 and r.out == "", r.out
    assert [x for x in r.err_lines if x.strip()] == [
        "edgekit: error: --inputs: array 'x' is 0x16 and holds no items; timing needs at "
        "least one"], r.err


@pytest.mark.parametrize("command", ["analyze", "bench", "profile"])
def test_an_inputs_folder_or_fifo_says_so(cli, model, tmp_path, command):
    path, _ = model
    (tmp_path / "folder.npz").mkdir()
    os.mkfifo(tmp_path / "fifo.npz")
    for name, said in (("folder.npz", "a folder"), ("fifo.npz", "a FIFO (named pipe)")):
        r = cli(command, path, "--inputs", tmp_path / name)
        assert r.code == 2 and f"{name}: is {said}, not a regular file" in r.err, r.err


def test_an_inputs_file_that_declares_2_gib_is_refused_unread(cli, model, tmp_path):
    """A zip member that says it inflates to 2 GiB (a 7 MB bomb's kind) is refused by
    its declared size with the default limit, before a byte of it is inflated."""
    import struct
    import zipfile

    path, _ = model
    bomb = tmp_path / "bomb.npz"
    with zipfile.ZipFile(bomb, "w") as z:
        z.writestr("x.npy", b"\0" * 64)
    data = bytearray(bomb.read_bytes())
    central = data.rindex(b"PK\x01\x02")
    data[central + 24:central + 28] = struct.pack("<I", 2**31)   # uncompressed size
    bomb.write_bytes(bytes(data))
    for command in ("analyze", "bench"):
        r = cli(command, path, "--inputs", bomb)
        assert r.code == 2 and [x for x in r.err_lines if x.strip()] == [
            f"edgekit: error: --inputs {bomb}: its arrays declare 2 GiB or more once "
            "uncompressed, more than the 1 GiB edgekit reads for --inputs"], r.err


@pytest.mark.parametrize("command", ["analyze", "bench", "profile"])
def test_values_that_cannot_fit_are_refused_by_what_they_declare(cli, model, tmp_path,
                                                                 command):
    """Through the CLI: an --inputs x declared 8x2^24 (512 MiB) for an input [N, 16] is one
    line, and the command allocates a few MiB (the same command with values that fit runs
    first, so that the imports are done)."""
    import tracemalloc

    from tests.unit.test_feeds_declared import stored_zeros

    path, feeds = model
    args = ["--runs", "2", "--warmup", "1"] if command != "analyze" else []
    assert cli(command, path, "--inputs", feeds, *args).code == 0
    stored_zeros(tmp_path / "wrong.npz", "x", (8, 1 << 24), np.float32)
    tracemalloc.start()
    try:
        r = cli(command, path, "--inputs", tmp_path / "wrong.npz", *args)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert r.code == 2 and [x for x in r.err_lines if x.startswith("edgekit: error:")] == [
        "edgekit: error: --inputs array 'x' (8x16777216): input 'x' has a fixed size 16 at "
        "position 1, 16777216 given"], r.err
    assert peak < 8 << 20, f"{peak / 2**20:.1f} MiB allocated"
