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


# ---- --per-layer and --keep-float on the two-input, three-head model ------------------------

BRANCHES = {"conv1", "conv2", "gap", "profile_fc", "trunk", "label", "box", "landmarks"}


@pytest.fixture(scope="module")
def small(multihead):
    """32 calibration and 32 validation samples of the two-input model (per-layer and
    keep-float runs stay fast)."""
    d, test, _, _ = multihead
    train = np.load(d / "calib.npz")
    np.savez(d / "calib32.npz", digits=train["digits"][:32], profile=train["profile"][:32])
    np.savez(d / "val32.npz", digits=test["digits"][:32], profile=test["profile"][:32],
             y_label=test["y_label"][:32])
    np.savez(d / "nolabels32.npz", digits=test["digits"][:32], profile=test["profile"][:32])
    return d, {k: v[:32] for k, v in test.items()}


def _export_small(d, out, *extra):
    from edgekit.cli.main import main

    try:
        main(["export", str(d / "mh.keras"), "--int8", "--calibration", str(d / "calib32.npz"),
              "--validation", str(d / "val32.npz"), "-o", str(out), "--json", *extra])
    except SystemExit as e:
        assert e.code in (0, None)
    return json.loads((out / "manifest.json").read_text())


@pytest.fixture(scope="module")
def two_input_layers(small, tmp_path_factory):
    d = small[0]
    out = tmp_path_factory.mktemp("two-input-per-layer")
    return _export_small(d, out, "--per-layer"), out


def _keras_layer(d, name, test):
    from edgekit._tf import keras

    model = keras.saving.load_model(d / "mh.keras")
    sub = keras.Model(model.inputs, model.get_layer(name).output)
    return np.asarray(sub([test["digits"], test["profile"]]), np.float64)


def test_per_layer_of_two_inputs_has_both_branches(two_input_layers):
    """Rows for the layers on the image branch, the profile branch, the trunk and each
    head, in both formats; every pairing confirmed by the float file (none near 0 dB)."""
    manifest, _ = two_input_layers
    assert {a["format"] for a in manifest["artifacts"]} == {"tflite", "onnx"}
    for a in manifest["artifacts"]:
        layers = {r["layer"]: r for r in a["per_layer"]}
        assert BRANCHES <= set(layers), (a["file"], sorted(layers))
        assert a["per_layer_unverified"] == [] and a["per_layer_samples"] == 32
        assert all(r["sqnr_db"] > 15 for r in a["per_layer"]), a["file"]
        assert a["per_layer_summary"]


def test_two_input_tflite_rows_match_litert_preserved_tensors(two_input_layers, small):
    """The profile branch's and the image branch's rows against numpy's SQNR of Keras'
    layer outputs and LiteRT's preserved tensors, the inputs fed by the signature's names
    (the file lists 'profile' before 'digits')."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    manifest, out = two_input_layers
    d, test = small
    a = next(a for a in manifest["artifacts"] if a["format"] == "tflite")
    it = Interpreter(model_path=str(out / a["file"]), experimental_preserve_all_tensors=True,
                     experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    by_index = {int(i): n for n, i in
                it._get_full_signature_list()["serving_default"]["inputs"].items()}
    for inp in it.get_input_details():
        it.resize_tensor_input(inp["index"], [32, *inp["shape"][1:]])
    it.allocate_tensors()
    for inp in it.get_input_details():
        scale, zp = inp["quantization"]
        v = test[by_index[int(inp["index"])]].astype(np.float32)
        it.set_tensor(inp["index"], np.clip(np.round(v / scale) + zp, -128, 127)
                      .astype(np.int8))
    it.invoke()
    outs = {int(o) for op in it._get_ops_details() for o in op["outputs"]}

    def tensor(part):
        t = next(t for t in it.get_tensor_details()
                 if t["index"] in outs and part in t["name"])
        s, z = t["quantization"]
        return (it.get_tensor(t["index"]).astype(np.float64) - z) * s

    rows = {r["layer"]: r for r in a["per_layer"]}
    for layer, part in (("profile_fc", "profile_fc_1/MatMul"), ("conv2", "conv2_1/Relu")):
        assert rows[layer]["sqnr_db"] == pytest.approx(
            sqnr(_keras_layer(d, layer, test), tensor(part)), abs=0.01), layer


def test_two_input_onnx_rows_match_onnxruntime_added_outputs(two_input_layers, small):
    import onnx
    import onnxruntime as ort

    manifest, out = two_input_layers
    d, test = small
    a = next(a for a in manifest["artifacts"] if a["format"] == "onnx")
    model = onnx.load(str(out / a["file"]))
    nodes = list(model.graph.node)

    def dequantized_output(op_type, part):      # op -> QuantizeLinear -> DequantizeLinear
        node = next(n for n in nodes if n.op_type == op_type and part in n.name)
        q = next(n for n in nodes if n.op_type == "QuantizeLinear"
                 and n.input[0] == node.output[0])
        return next(n for n in nodes if n.op_type == "DequantizeLinear"
                    and n.input[0] == q.output[0]).output[0]

    names = [dequantized_output("Gemm", "profile_fc_1/"), dequantized_output("Conv", "conv2_1/")]
    for n in names:
        model.graph.output.append(onnx.helper.make_tensor_value_info(
            n, onnx.TensorProto.FLOAT, None))
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    profile, conv2 = sess.run(names, {"input_0": test["digits"], "input_1": test["profile"]})
    rows = {r["layer"]: r for r in a["per_layer"]}
    assert rows["profile_fc"]["sqnr_db"] == pytest.approx(
        sqnr(_keras_layer(d, "profile_fc", test), profile), abs=0.01)
    assert rows["conv2"]["sqnr_db"] == pytest.approx(     # NCHW -> Keras' NHWC
        sqnr(_keras_layer(d, "conv2", test), np.transpose(conv2, (0, 2, 3, 1))), abs=0.01)


def test_keep_float_names_on_two_inputs_are_float_in_both_files(small, tmp_path):
    """Read back: the kept layers' ops compute in float32 with float32 weights (TFLite),
    their weights are float initializers outside any QDQ pair (ONNX); every other weighted
    op is int8."""
    import onnx
    from ai_edge_litert.interpreter import Interpreter
    from onnx import numpy_helper

    d = small[0]
    manifest = _export_small(d, tmp_path / "o", "--keep-float", "profile_fc,conv2")
    assert len(manifest["artifacts"]) == 2
    for a in manifest["artifacts"]:
        assert a["kept_float"] == ["profile_fc", "conv2"]
        assert a["quantization"]["int8_bytes_without_keep_float"] < a["bytes"]
        path = tmp_path / "o" / a["file"]
        if a["format"] == "tflite":
            it = Interpreter(model_path=str(path))
            td = {t["index"]: t for t in it.get_tensor_details()}
            weighted = [op for op in it._get_ops_details()
                        if op["op_name"] in ("CONV_2D", "FULLY_CONNECTED")]
            kept = {op["index"]: op for op in weighted
                    if any(p in td[op["outputs"][0]]["name"] for p in
                           ("profile_fc_1/", "conv2_1/"))}
            assert len(kept) == 2
            for op in weighted:
                dtype = np.float32 if op["index"] in kept else np.int8
                assert td[op["outputs"][0]]["dtype"] == dtype, op
                assert td[op["inputs"][1]]["dtype"] == dtype, op      # the weights
        else:
            model = onnx.load(str(path))
            init = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
            made_by = {o: n for n in model.graph.node for o in n.output}
            weighted = [n for n in model.graph.node if n.op_type in ("Conv", "Gemm", "MatMul")]
            kept = [n for n in weighted if "profile_fc_1/" in n.name or "conv2_1/" in n.name]
            assert len(kept) == 2
            for n in weighted:
                w = n.input[1]
                if n in kept:
                    assert w in init and init[w].dtype == np.float32, n.name
                else:
                    dq = made_by[w]
                    assert dq.op_type == "DequantizeLinear", n.name
                    assert init[dq.input[0]].dtype == np.int8, n.name


def test_keep_float_auto_on_two_inputs_aims_at_the_worst_output(small, tmp_path):
    """An SQNR target above what int8 reaches: auto keeps layers on the way to the worst
    output, ends no worse than plain int8 (better by MIN_GAIN where it kept any), and
    names the output and the miss; the worst output's figure is numpy's on the file run
    independently."""
    from edgekit.export.keep_float import MIN_GAIN
    from edgekit.export.layer_groups import keras_groups

    d, test = small
    manifest = _export_small(d, tmp_path / "o", "--keep-float", "auto", "--min-sqnr", "60")
    from edgekit._tf import keras

    model = keras.saving.load_model(d / "mh.keras")
    refs = [np.asarray(v) for v in model([test["digits"], test["profile"]])]
    kg = keras_groups(model)
    for a in manifest["artifacts"]:
        q = a["quantization"]
        plain = float(q["keep_float_steps"][0]["sqnr_db"])
        assert q["keep_float_steps"][0]["kept_float"] == []
        got = float(a["fidelity"]["sqnr_db"])
        assert got >= plain + (MIN_GAIN if a["kept_float"] else 0) - 1e-6, a["file"]
        run = tflite_outputs if a["format"] == "tflite" else onnx_outputs
        outs = run(tmp_path / "o" / a["file"], test)
        assert got == pytest.approx(min(sqnr(r, o) for r, o in zip(refs, outs, strict=True)),
                                    abs=0.05)
        assert q["keep_float_reached"] is False
        m = q["keep_float_missed"]
        assert m["output"] == a["worst_output"] and m["unit"] == "dB"
        assert m["got"] == pytest.approx(got) and m["short_by"] == pytest.approx(60 - got,
                                                                                abs=0.01)
        assert f"output {a['worst_output']}" in m["says"]
        assert set(a["kept_float"]) < {g.name for g in kg.groups}   # never the float model


def test_keep_float_auto_strict_and_accuracy_target_on_several_outputs(small, cli, tmp_path):
    d = small[0]
    base = ["export", d / "mh.keras", "--int8", "--format", "tflite", "--calibration",
            d / "calib32.npz", "--keep-float", "auto"]
    budget = ("--validation", d / "val32.npz", "--min-sqnr", "60", "--max-size-ratio", "1")
    r = cli(*base, *budget, "-o", tmp_path / "missed")
    assert r.code == 0, r.err
    assert "missed its target (output " in r.err and "missed its target (output " in r.out
    r = cli(*base, *budget, "--strict", "-o", tmp_path / "strict")
    assert r.code == 1 and "nothing was written (--strict)" in r.err
    assert "output " in r.err and "short by" in r.err and not (tmp_path / "strict").exists()
    # the accuracy target: every labelled output within --max-drop of Keras'
    r = cli(*base, "--validation", d / "val32.npz", "-o", tmp_path / "acc")
    assert r.code == 0, r.err
    m = json.loads((tmp_path / "acc" / "manifest.json").read_text())
    keras_acc = m["validation"]["keras_accuracy_per_output"]["label"]
    a = m["artifacts"][0]
    label = next(f for f in a["fidelity_outputs"] if f["output"] == "label")
    assert a["quantization"]["keep_float_reached"] is (label["accuracy"] >= keras_acc - 0.01)


def test_bad_keep_float_on_several_inputs_is_one_line(small, cli, tmp_path, keras):
    d = small[0]
    base = ["export", d / "mh.keras", "--int8", "--calibration", d / "calib32.npz",
            "-o", tmp_path / "o"]
    r = cli(*base, "--keep-float", "trunk,nosuch")
    assert r.code == 2 and len(r.err_lines) == 1 and "nosuch" in r.err
    assert "no such layer" in r.err and "profile_fc" in r.err
    r = cli(*base, "--keep-float", "auto", "--validation", d / "nolabels32.npz")
    assert r.code == 2 and len(r.err_lines) == 1 and "needs a target" in r.err
    assert "y_label" in r.err
    # a layer the converter leaves no op of: a dropout on the second input
    L = keras.layers
    img, prof = keras.Input((8, 8, 1), name="digits"), keras.Input((8,), name="profile")
    h = L.GlobalAveragePooling2D(name="gap")(L.Conv2D(4, 3, name="conv")(img))
    p = L.Dense(4, name="fc")(L.Dropout(0.2, name="drop")(prof))
    out = L.Dense(3, name="head")(L.Concatenate(name="joined")([h, p]))
    keras.Model([img, prof], [out, L.Dense(2, name="aux")(p)]).save(tmp_path / "drop.keras")
    r = cli("export", tmp_path / "drop.keras", "--int8", "--format", "tflite",
            "--calibration", d / "calib32.npz", "--keep-float", "drop", "-o", tmp_path / "o")
    assert r.code == 2 and len(r.err_lines) == 1, r.err
    assert "--keep-float drop" in r.err and "no op of this layer" in r.err
    assert not (tmp_path / "o").exists()
