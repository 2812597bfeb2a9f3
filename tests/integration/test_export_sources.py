"""`edgekit export` of a SavedModel folder (TFLite converter and tf2onnx from its serving
signature) and of a float .tflite (ai-edge-quantizer), both made here from a digits CNN
trained in the test; each artefact's figures checked against the file run here (LiteRT,
onnxruntime) and numpy, with the Keras model's own outputs as the float reference."""

import json

import numpy as np
import pytest

from tools.train_digits import train_digits_cnn

pytestmark = pytest.mark.slow


def sqnr(ref, got):
    ref, got = np.asarray(ref, np.float64), np.asarray(got, np.float64)
    return 10 * np.log10(np.sum(ref ** 2) / np.sum((ref - got) ** 2))


def litert(path, x, dtype=np.float32):
    """The file's first output, run as a user runs it (LiteRT's default kernels), read as
    ``dtype`` and dequantized."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path))
    it.allocate_tensors()
    d, o = it.get_input_details()[0], it.get_output_details()[0]
    outs = []
    for i in range(len(x)):
        v = x[i:i + 1]
        scale, zp = d["quantization"]
        if scale:
            v = np.clip(np.round(v / scale + zp), -128, 127)
        it.set_tensor(d["index"], v.astype(d["dtype"]))
        it.invoke()
        y = it.get_tensor(o["index"]).astype(dtype)
        scale, zp = o["quantization"]
        outs.append((y - zp) * scale if scale else y)
    return np.concatenate(outs)


def onnxrt(path, x):
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """(folder with digits.keras, sm/ (its SavedModel), digits.tflite (float), train.npz,
    test.npz; the Keras model's outputs on the test digits; the labels)."""
    from edgekit._tf import keras, tf

    d = tmp_path_factory.mktemp("sources")
    x_tr, _, x_te, y_te = train_digits_cnn(d / "digits.keras", epochs=8)
    x_te, y_te = x_te[:200], y_te[:200]
    np.savez(d / "train.npz", x=x_tr[:300])
    np.savez(d / "test.npz", x=x_te, y=y_te)
    model = keras.saving.load_model(d / "digits.keras")
    model.export(d / "sm", verbose=False)
    (d / "digits.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    (d / "dynamic.tflite").write_bytes(converter.convert())    # int8 weights
    return d, np.asarray(model.predict(x_te, verbose=0)), x_te, y_te


def test_saved_model_to_tflite_and_onnx(digits, cli):
    d, ref, x, y = digits
    r = cli("export", d / "sm", "--quant", "none,int8", "--calibration", d / "train.npz",
            "--validation", d / "test.npz", "-o", d / "sm_out")
    assert r.code == 0, r.err
    manifest = json.loads((d / "sm_out" / "manifest.json").read_text())
    assert manifest["model"]["format"] == "savedmodel"
    arts = {(a["format"], a["quant"]): a for a in manifest["artifacts"]}
    assert set(arts) == {("tflite", "none"), ("tflite", "int8"), ("onnx", "none"),
                         ("onnx", "int8")}
    keras_acc = float(np.mean(ref.argmax(1) == y))
    for (fmt, quant), a in arts.items():
        got = (litert if fmt == "tflite" else onnxrt)(d / "sm_out" / a["file"], x)
        f = a["fidelity_outputs"][0]
        if quant == "none":
            assert f["sqnr_db"] == "inf" or f["sqnr_db"] > 90
        else:
            assert f["sqnr_db"] == pytest.approx(sqnr(ref, got), abs=0.1), a["file"]
            assert f["accuracy"] >= keras_acc - 0.03


def test_float_tflite_to_int8_by_ai_edge_quantizer(digits, cli):
    d, ref, x, y = digits
    r = cli("export", d / "digits.tflite", "--quant", "dynamic,int8", "--calibration",
            d / "train.npz", "--validation", d / "test.npz", "-o", d / "tfl_out")
    assert r.code == 0, r.err
    manifest = json.loads((d / "tfl_out" / "manifest.json").read_text())
    float_ref = litert(d / "digits.tflite", x)       # the reference: the float file itself
    assert sqnr(ref, float_ref) > 90
    for a in manifest["artifacts"]:
        assert a["quantization"]["tool"].startswith("ai-edge-quantizer")
        got = litert(d / "tfl_out" / a["file"], x)
        f = a["fidelity_outputs"][0]
        assert f["sqnr_db"] == pytest.approx(sqnr(float_ref, got), abs=0.1), a["file"]
        assert f["top1_agreement"] >= 0.9
    int8 = next(a for a in manifest["artifacts"] if a["quant"] == "int8")
    assert int8["inputs"][0]["dtype"] == "int8"
    assert int8["bytes"] < 0.6 * (d / "digits.tflite").stat().st_size


def test_float_tflite_without_a_signature(digits, cli, tmp_path):
    # the digits file with its signature taken out (as older converters and some tools
    # write them): exported like the signed one (a signature is given to a temporary
    # copy for ai-edge-quantizer): the same int8 file, so the same outputs and figures
    import flatbuffers
    from ai_edge_litert import schema_py_generated as S

    d, ref, x, y = digits
    model = S.ModelT.InitFromObj(S.Model.GetRootAs((d / "digits.tflite").read_bytes(), 0))
    assert model.signatureDefs
    model.signatureDefs = []
    b = flatbuffers.Builder(1 << 20)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    (tmp_path / "nosig.tflite").write_bytes(b.Output())
    outs = {}
    for name, src in (("signed", d / "digits.tflite"), ("nosig", tmp_path / "nosig.tflite")):
        r = cli("export", src, "--int8", "--calibration", d / "train.npz", "--validation",
                d / "test.npz", "-o", tmp_path / name)
        assert r.code == 0, r.err
        manifest = json.loads((tmp_path / name / "manifest.json").read_text())
        (a,) = manifest["artifacts"]
        outs[name] = (litert(tmp_path / name / a["file"], x), a["fidelity_outputs"][0])
    assert np.array_equal(outs["signed"][0], outs["nosig"][0])
    assert outs["nosig"][1]["sqnr_db"] == pytest.approx(outs["signed"][1]["sqnr_db"], abs=1e-6)
    assert outs["nosig"][1]["sqnr_db"] == pytest.approx(
        sqnr(litert(tmp_path / "nosig.tflite", x), outs["nosig"][0]), abs=0.1)


def test_bad_sources_are_one_line(digits, cli, tmp_path):
    from edgekit._tf import tf

    d = digits[0]
    module = tf.Module()
    module.v = tf.Variable(1.0)
    tf.saved_model.save(module, str(tmp_path / "nosig"), signatures={})
    r = cli("export", tmp_path / "nosig", "--quant", "none", "--calibration",
            d / "train.npz", "-o", tmp_path / "o")
    assert r.code == 2 and len(r.err_lines) == 1 and "no serving signature" in r.err, r.err
    r = cli("export", d / "digits.tflite", "--quant", "fp16", "--calibration",
            d / "train.npz", "-o", tmp_path / "o")
    assert r.code == 2 and "ai-edge-quantizer makes int8" in r.err
    r = cli("export", d / "dynamic.tflite", "--int8", "--calibration",
            d / "train.npz", "-o", tmp_path / "o")
    assert r.code == 2 and "is already quantized" in r.err
    r = cli("export", d / "digits.tflite", "--format", "onnx", "--int8")
    assert r.code == 2 and "a float TFLite source is exported to tflite" in r.err
    assert not (tmp_path / "o").exists()
