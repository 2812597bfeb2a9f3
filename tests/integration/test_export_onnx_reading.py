"""A float ONNX given to export is read by the one ONNX loader (readers.onnx_file, through
core.reading): the file and its external data are inputs of the command (no output lands
on them), and a broken file is one line that names the user's file, never a temporary
copy of it or '<memory>'."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper


def _model(nodes, weight, functions=()):
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4, 8, 8])],
        [numpy_helper.from_array(weight, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("local", 1)],
                              functions=list(functions))
    model.ir_version = 8
    return model


def _conv(src="x", out="c"):
    return helper.make_node("Conv", [src, "w"], [out], pads=[1, 1, 1, 1])


W = np.random.default_rng(0).normal(0, 0.3, (4, 3, 3, 3)).astype(np.float32)
LOOP = helper.make_function("local", "Again", ["a"], ["b"],
                            [helper.make_node("Again", ["a"], ["b"], domain="local")],
                            [helper.make_opsetid("", 17), helper.make_opsetid("local", 1)])
BROKEN = {
    "a cycle": lambda: _model([helper.make_node("Add", ["x", "z"], ["a"]), _conv("a"),
                               helper.make_node("Relu", ["c"], ["y"]),
                               helper.make_node("Identity", ["a"], ["z"])], W),
    "an input nothing produces": lambda: _model(
        [helper.make_node("Add", ["x", "ghost"], ["a"]), _conv("a", "y")], W),
    "weights of the wrong shape": lambda: _model(
        [_conv("x", "y")], np.ones((4, 5, 3, 3), np.float32)),
    "a local function calling itself": lambda: _model(
        [helper.make_node("Again", ["x"], ["a"], domain="local"), _conv("a", "y")], W,
        [LOOP]),
}


@pytest.mark.parametrize("broken", BROKEN)
def test_a_broken_onnx_is_one_line_naming_the_users_file(tmp_path, cli, broken):
    path = tmp_path / "user model.onnx"
    onnx.save(BROKEN[broken](), path)
    r = cli("export", path, "--quant", "int8", "--calibration", "random", "-n", "4",
            "-o", tmp_path / "out")
    errors = [line for line in r.err_lines if not line.startswith(("warning:", "edgekit: "))
              or line.startswith("edgekit: error")]
    assert r.code != 0 and len(errors) == 1, r.err
    error = errors[0]
    assert str(path) in error, error
    assert "<memory>" not in error and "edgekit-" not in error and "Traceback" not in r.err
    assert not (tmp_path / "out").exists()


def test_external_data_is_an_input_of_the_export(tmp_path, cli):
    path = tmp_path / "m.onnx"
    onnx.save(_model([_conv("x", "y")], W), path, save_as_external_data=True,
              location="m.onnx.data", size_threshold=0)
    data = (tmp_path / "m.onnx.data").read_bytes()
    assert len(data) == W.nbytes                       # the weights are in the data file
    r = cli("export", path, "--quant", "none", "--calibration", "random", "-n", "4",
            "-o", tmp_path / "out", "--report", tmp_path / "m.onnx.data")
    assert r.code == 2, r.err
    assert "m.onnx.data" in r.err_lines[-1] and "input" in r.err_lines[-1], r.err
    assert (tmp_path / "m.onnx.data").read_bytes() == data       # the weights are intact
    r = cli("export", path, "--quant", "none", "--calibration", "random", "-n", "4",
            "-o", tmp_path / "out", "--json")
    assert r.code == 0, r.err
    # the float artefact is the user's graph with its external weights read in: exact
    art = onnx.load(tmp_path / "out" / "m_fp32.onnx")
    assert np.array_equal(numpy_helper.to_array(art.graph.initializer[0]), W)


def test_a_quantizer_failure_names_the_users_file(tmp_path, cli):
    """An IR 3 file whose weights are not graph inputs: onnxruntime runs it, its quantizer
    refuses it ('Input w is undefined'); the line says which file it was."""
    model = _model([_conv("x", "y")], W)
    model.opset_import[0].version, model.ir_version = 7, 3
    path = tmp_path / "old.onnx"
    onnx.save(model, path)
    r = cli("export", path, "--quant", "dynamic", "--calibration", "random", "-n", "4",
            "-o", tmp_path / "out")
    assert r.code == 1, r.err
    assert r.err_lines[-1].startswith(f"edgekit: error: {path}: onnx dynamic conversion "
                                      "failed: "), r.err
    assert "edgekit-onnx-" not in r.err


def test_a_temporary_copy_in_a_quantizer_error_is_the_users_file(tmp_path, monkeypatch):
    from edgekit.export import converters, onnx_source

    def failing(content, quant, calib, method):
        raise converters.ConversionError(
            f"onnx int8 conversion failed: cannot read {tmp_path}/edgekit-onnx-a1b2/pre.onnx")

    monkeypatch.setattr(converters, "quantize_onnx", failing)
    with pytest.raises(converters.ConversionError) as e:
        onnx_source.quantize_source(b"", tmp_path / "user.onnx", "int8", None, "minmax")
    user = tmp_path / "user.onnx"
    assert str(e.value) == f"{user}: onnx int8 conversion failed: cannot read {user}"
