"""`edgekit export` of Keras models with several inputs and outputs (a two-input, three-head
network trained here on scikit-learn's digits), and of a fully convolutional model whose
output is N x 1 x 1 x C. Every per-output figure is checked against the file run
independently (LiteRT's signature runner, onnxruntime by output name) and numpy."""

import json

import numpy as np
import pytest

from tools.train_digits import train_digits_multihead

pytestmark = pytest.mark.slow
HEADS = ["label", "box", "landmarks"]


def sqnr(ref, got):
    ref, got = np.asarray(ref, np.float64), np.asarray(got, np.float64)
    return 10 * np.log10(np.sum(ref ** 2) / np.sum((ref - got) ** 2))


@pytest.fixture(scope="module")
def multihead(tmp_path_factory):
    """(folder, test arrays, manifest, Keras' outputs on the test digits)."""
    from edgekit._tf import keras
    from edgekit.cli.main import main

    d = tmp_path_factory.mktemp("multihead")
    train, test = train_digits_multihead(d / "mh.keras")
    np.savez(d / "calib.npz", digits=train["digits"], profile=train["profile"])
    np.savez(d / "val.npz", digits=test["digits"], profile=test["profile"],
             y_label=test["y_label"])
    try:
        main(["export", str(d / "mh.keras"), "--quant", "none,int8", "-n", "128",
              "--calibration", str(d / "calib.npz"), "--validation", str(d / "val.npz"),
              "-o", str(d / "out"), "--json"])
    except SystemExit as e:
        assert e.code in (0, None)
    manifest = json.loads((d / "out" / "manifest.json").read_text())
    model = keras.saving.load_model(d / "mh.keras")
    refs = [np.asarray(v) for v in model.predict([test["digits"], test["profile"]],
                                                 verbose=0)]
    return d, test, manifest, refs


def tflite_outputs(path, test):
    """Every head of a .tflite file by its signature's names (output_k is Keras' k-th
    output), int8 inputs quantized and outputs dequantized here."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path))
    run = it.get_signature_runner("serving_default")
    feeds = {}
    for name, d in run.get_input_details().items():
        scale, zp = d["quantization"]
        v = test[name].astype(np.float32)
        if scale:
            v = np.clip(np.round(v / scale + zp), -128, 127)
        feeds[name] = v.astype(d["dtype"])
    outs = {}
    for i in range(len(test["digits"])):
        got = run(**{k: v[i:i + 1] for k, v in feeds.items()})
        for k, v in got.items():
            outs.setdefault(k, []).append(v)
    result = []
    for k in range(3):
        d = run.get_output_details()[f"output_{k}"]
        scale, zp = d["quantization"]
        v = np.concatenate(outs[f"output_{k}"]).astype(np.float32)
        result.append((v - zp) * scale if scale else v)
    return result


def onnx_outputs(path, test):
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(HEADS, {"input_0": test["digits"], "input_1": test["profile"]})


def test_every_head_of_every_file_is_figured_against_its_own_run(multihead):
    d, test, manifest, refs = multihead
    assert [o["name"] for o in manifest["outputs"]] == HEADS
    assert [i["name"] for i in manifest["inputs"]] == ["digits", "profile"]
    assert len(manifest["artifacts"]) == 4
    for a in manifest["artifacts"]:
        run = tflite_outputs if a["format"] == "tflite" else onnx_outputs
        got = run(d / "out" / a["file"], test)
        figs = {f["output"]: f for f in a["fidelity_outputs"]}
        assert list(figs) == HEADS
        for name, ref, out in zip(HEADS, refs, got, strict=True):
            assert figs[name]["sqnr_db"] == pytest.approx(sqnr(ref, out), abs=0.05), \
                (a["file"], name)
            assert figs[name]["max_abs_err"] == pytest.approx(
                float(np.max(np.abs(ref - out))), rel=0.05, abs=1e-6)
        if a["quant"] == "none":   # heads in the wrong order would be far apart
            assert all(f["sqnr_db"] == "inf" or f["sqnr_db"] > 80 for f in figs.values())
        worst = min(figs.values(), key=lambda f: float(f["sqnr_db"]))
        assert a["worst_output"] == worst["output"] == a["fidelity"]["output"]


def test_top1_only_on_the_classification_head_and_int8_keeps_the_accuracy(multihead):
    _, test, manifest, refs = multihead
    keras_acc = float(np.mean(refs[0].argmax(1) == test["y_label"]))
    assert manifest["validation"]["keras_accuracy_per_output"]["label"] == \
        pytest.approx(keras_acc)
    assert keras_acc > 0.7
    for a in manifest["artifacts"]:
        figs = {f["output"]: f for f in a["fidelity_outputs"]}
        assert figs["box"]["top1_agreement"] is None
        assert figs["landmarks"]["top1_agreement"] is None
        assert figs["label"]["kind"] == "classification"
        assert figs["label"]["accuracy"] >= keras_acc - 0.03, a["file"]
        assert figs["label"]["top1_agreement"] >= 0.95
        assert a["fidelity_ok"]


def test_the_table_names_each_head_and_the_worst(multihead, cli):
    d, _, manifest, _ = multihead
    r = cli("export", d / "mh.keras", "--format", "onnx", "--quant", "none",
            "--validation", d / "val.npz", "-o", d / "again")
    assert r.code == 0, r.err
    for name in HEADS:
        assert name in r.out
    assert "(worst)" in r.out


@pytest.mark.parametrize("arrays, message", [
    ({"digits": (4, 8, 8, 1)}, "no array for input profile"),
    ({"digits": (4, 8, 8, 1), "profile": (3, 8)}, "input profile has 3 rows"),
    ({"digits": (4, 8, 8, 1), "profile": (4, 8), "y_scores": (4,)},
     "labels y_scores name no output"),
])
def test_bad_data_for_several_inputs_is_one_line(multihead, cli, tmp_path, arrays, message):
    d = multihead[0]
    np.savez(tmp_path / "bad.npz", **{k: np.zeros(s, np.float32) for k, s in arrays.items()})
    r = cli("export", d / "mh.keras", "--int8", "--calibration", tmp_path / "bad.npz",
            "-o", tmp_path / "o")
    assert r.code == 2 and len(r.err_lines) == 1 and message in r.err, r.err
    assert not (tmp_path / "o").exists()


def test_fully_convolutional_output_with_validation(tmp_path, cli, keras):
    """An N x 1 x 1 x C output: the manifest's Keras accuracy is numpy's on the
    flattened output (it used to fail after every artefact was checked)."""
    L = keras.layers
    inp = keras.Input((8, 8, 1))
    h = L.Conv2D(8, 3, activation="relu", padding="same")(inp)
    out = L.Conv2D(10, 8, activation="softmax", name="scores")(h)
    model = keras.Model(inp, out)
    model.save(tmp_path / "fcn.keras")
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, (40, 8, 8, 1)).astype(np.float32)
    y = rng.integers(0, 10, 40)
    np.savez(tmp_path / "val.npz", x=x, y=y)
    r = cli("export", tmp_path / "fcn.keras", "--format", "onnx", "--validation",
            tmp_path / "val.npz", "-o", tmp_path / "out")
    assert r.code == 0, r.err
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    expected = np.mean(np.asarray(model.predict(x, verbose=0)).reshape(40, -1).argmax(1) == y)
    assert manifest["validation"]["keras_accuracy"] == pytest.approx(expected)


def test_per_layer_of_a_three_head_model(tmp_path, keras):
    """One input, three heads: every head's layers get a row in both formats, each a
    pairing the float file confirmed (none contradicted: no row near 0 dB)."""
    from edgekit.cli.main import main

    L = keras.layers
    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 1), name="digits")
    h = L.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(inp)
    h = L.Conv2D(16, 3, padding="same", activation="relu", name="conv2")(h)
    h = L.GlobalAveragePooling2D(name="gap")(h)
    heads = [L.Dense(10, activation="softmax", name="label")(h), L.Dense(4, name="box")(h),
             L.Dense(4, name="landmarks")(h)]
    keras.Model(inp, heads).save(tmp_path / "heads.keras")
    x = np.random.default_rng(0).uniform(0, 1, (40, 8, 8, 1)).astype(np.float32)
    np.savez(tmp_path / "x.npz", x=x)
    try:
        main(["export", str(tmp_path / "heads.keras"), "--int8", "--per-layer",
              "--calibration", str(tmp_path / "x.npz"), "-o", str(tmp_path / "o"), "--json"])
    except SystemExit as e:
        assert e.code in (0, None)
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    for a in manifest["artifacts"]:
        layers = {r["layer"]: r for r in a["per_layer"]}
        assert {"conv1", "conv2", "box", "landmarks", "label"} <= set(layers), a["file"]
        assert all(r["sqnr_db"] > 15 for r in a["per_layer"]), a["file"]
