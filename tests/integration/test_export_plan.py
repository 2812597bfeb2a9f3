"""`edgekit export`'s options parsed once into a frozen plan: bad combinations are one
usage line (exit 2) before any model is built, and a model without parameters exports."""

import dataclasses
import json

import numpy as np
import pytest

SMALL = ["mobilenet", "--alpha", "0.25", "--resolution", "32"]


@pytest.mark.parametrize("args, message", [
    (["-o", "-"], "-o -: export writes a folder"),
    (["--max-drop", "2"], "--max-drop set the target of --keep-float auto"),
    (["--min-sqnr", "20"], "--min-sqnr set the target of --keep-float auto"),
    (["--keep-float", "conv1", "--min-sqnr", "20"], "add --keep-float auto"),
    (["--keep-float", " , "], "--keep-float: give layer names"),
])
def test_a_bad_plan_is_one_usage_line(cli, tmp_path, args, message):
    r = cli("export", *SMALL, "--int8", *args)
    assert r.code == 2, r.err
    assert len(r.err_lines) == 1 and message in r.err, r.err
    assert list(tmp_path.iterdir()) == []


def test_the_plan_is_parsed_once_and_frozen():
    from edgekit.export.options import DEFAULT_MAX_DROP, ExportOptions

    plan = ExportOptions(formats="onnx,TFLITE", quants="int8", keep_float=" auto ",
                         min_sqnr=20.0)
    assert plan.formats == ["onnx", "tflite"] and plan.keep_float == "auto"
    assert plan.drop_allowed == DEFAULT_MAX_DROP
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.keep_float = ["conv1"]
    names = ExportOptions(quants=["int8"], keep_float="conv1, conv2")
    assert names.keep_float == ["conv1", "conv2"]


def test_a_model_without_parameters_exports(tmp_path, cli, keras):
    """No weights: the size ratio to fp32 weights has no value; the table says so
    instead of failing after the files were written."""
    inp = keras.Input((6, 6, 2))
    out = keras.layers.GlobalAveragePooling2D()(keras.layers.ReLU()(inp))
    keras.Model(inp, out).save(tmp_path / "noparams.keras")
    np.save(tmp_path / "x.npy", np.random.default_rng(0).normal(size=(8, 6, 6, 2)))
    r = cli("export", tmp_path / "noparams.keras", "--format", "onnx", "--calibration",
            tmp_path / "x.npy", "-o", tmp_path / "out")
    assert r.code == 0, r.err
    art = json.loads((tmp_path / "out" / "manifest.json").read_text())["artifacts"][0]
    assert art["size_ratio_to_fp32_weights"] is None
    assert "—" in r.out
    assert art["fidelity"]["cosine"] == pytest.approx(1.0, abs=1e-6)
