"""--per-layer and --keep-float on a trained model with a known defect (issue 22).

A small CNN trained here on scikit-learn's digits gets an injected outlier: one output
channel of conv2 scaled up 1000 times, the depthwise convolution after it scaled down to
compensate (tools/train_digits.inject_outlier). Float answers stay the same; int8 cannot
hold the range. The per-layer report must name conv2, --keep-float auto must recover the
accuracy with at most two float layers in both formats, the files must really hold float
ops for them, and the per-layer figures must match a computation done here by hand from
LiteRT's preserved tensors and onnxruntime's added outputs.
"""

import json
import math

import numpy as np
import pytest

from tools.train_digits import inject_outlier, train_digits_cnn

pytestmark = pytest.mark.slow
ROW_KEYS = {"layer", "op", "sqnr_db", "cosine", "max_abs_error", "step", "clipped_share",
            "isolated_sqnr_db"}


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """(folder, the trained model's Keras accuracy, the outlier model's) with
    digits.keras, digits_outlier.keras, train.npz, test.npz."""
    from edgekit._tf import keras

    d = tmp_path_factory.mktemp("digits")
    x_tr, _, x_te, y_te = train_digits_cnn(d / "digits.keras", epochs=12)
    np.savez(d / "train.npz", x=x_tr)
    np.savez(d / "test.npz", x=x_te, y=y_te)
    model = keras.models.load_model(d / "digits.keras")
    before = np.argmax(model.predict(x_te, verbose=0), axis=1)
    inject_outlier(model, x_tr)
    model.save(d / "digits_outlier.keras")
    after = np.argmax(model.predict(x_te, verbose=0), axis=1)
    return d, float(np.mean(before == y_te)), float(np.mean(after == y_te)), \
        float(np.mean(before == after))


def _export(d, out, *extra):
    from edgekit.cli.main import main

    try:
        main(["export", str(d / "digits_outlier.keras"), "--int8", "--calibration",
              str(d / "train.npz"), "--validation", str(d / "test.npz"), "-o", str(out),
              "--json", *extra])
    except SystemExit as e:
        assert e.code in (0, None)
    return json.loads((out / "manifest.json").read_text())


@pytest.fixture(scope="module")
def per_layer(digits, tmp_path_factory):
    d = digits[0]
    out = tmp_path_factory.mktemp("per-layer")
    manifest = _export(d, out / "export", "--per-layer", "--plot", str(out / "layers.png"),
                       "--report", str(out / "report.html"))
    return manifest, out


@pytest.fixture(scope="module")
def auto(digits, tmp_path_factory):
    out = tmp_path_factory.mktemp("keep-float") / "export"
    return _export(digits[0], out, "--keep-float", "auto"), out


def test_the_outlier_leaves_float_answers_alone(digits):
    _, acc, acc_outlier, same = digits
    assert acc > 0.9 and abs(acc - acc_outlier) <= 0.005 and same >= 0.995


def test_int8_loses_accuracy_and_the_isolated_view_names_conv2(per_layer):
    manifest = per_layer[0]
    keras_acc = manifest["validation"]["keras_accuracy"]
    for a in manifest["artifacts"]:
        assert a["fidelity"]["accuracy"] < keras_acc - 0.3, a["file"]
        assert a["per_layer_samples"] == 256          # of the 497 validation digits
        rows = a["per_layer"]
        assert [r["layer"] for r in rows] == ["conv1", "conv2", "dw", "pool", "pw", "gap",
                                              "predictions"]
        assert all(ROW_KEYS <= set(r) for r in rows)
        worst = min(rows, key=lambda r: r["isolated_sqnr_db"])
        assert worst["layer"] == "conv2", a["file"]
        assert worst["collapsed_share"] > 0.8          # the other channels: one level
        assert a["per_layer_summary"].startswith("worst layer: conv2 (Conv2D)")
        assert "collapse" in a["per_layer_summary"]
        conv1 = rows[0]                                  # before the outlier: clean
        assert conv1["sqnr_db"] > 30 and conv1["collapsed_share"] == 0


def test_keep_float_auto_recovers_with_two_float_layers(auto, digits):
    manifest, out = auto
    keras_acc = manifest["validation"]["keras_accuracy"]
    for a in manifest["artifacts"]:
        assert a["fidelity"]["accuracy"] >= keras_acc - 0.01, a["file"]
        assert len(a["kept_float"]) <= 2 and "conv2" in a["kept_float"], a["kept_float"]
        steps = a["quantization"]["keep_float_steps"]
        assert steps[0]["kept_float"] == [] and steps[0]["accuracy"] < keras_acc - 0.3
        assert a["quantization"]["keep_float_reached"] is True
        assert a["bytes"] > steps[0]["bytes"]            # the float weights cost size


def test_the_kept_layers_are_float_in_the_files_and_the_rest_int8(auto, digits):
    """Read back with edgekit's readers: the weighted ops of the kept layers hold float32
    weights, every other weighted op int8."""
    from edgekit._tf import keras
    from edgekit.readers.onnx_reader import read_onnx
    from edgekit.readers.tflite_reader import read_tflite

    manifest, out = auto
    model = keras.models.load_model(digits[0] / "digits_outlier.keras")
    keras_params = {la.name: la.count_params() for la in model.layers}
    folded = keras_params["conv2"]          # batch norm folded into the convolution
    for a in manifest["artifacts"]:
        kept = set(a["kept_float"])
        want_float = {folded if k == "conv2" else keras_params[k] for k in kept}
        if a["format"] == "tflite":
            records = read_tflite(out / a["file"])[0]
        else:
            records = read_onnx(out / a["file"])[0]
        weighted = [r for r in records if r.macs]
        floats = {r.params_trainable for r in weighted if r.weight_dtype == "float32"}
        ints = [r for r in weighted if r.weight_dtype != "float32"]
        assert floats == want_float, (a["file"], floats, want_float)
        assert ints and all(r.weight_dtype == "int8" for r in ints), a["file"]
        assert len(weighted) == len(ints) + len(want_float)


def test_keep_float_by_name_takes_a_fused_layer_s_name(digits, tmp_path):
    manifest = _export(digits[0], tmp_path / "out", "--format", "tflite", "--keep-float",
                       "conv2_bn,dw")
    a = manifest["artifacts"][0]
    assert a["kept_float"] == ["conv2", "dw"]
    assert a["fidelity"]["accuracy"] >= manifest["validation"]["keras_accuracy"] - 0.01
    assert a["quantization"]["int8_bytes_without_keep_float"] < a["bytes"]


def _sqnr(ref, got):
    return 10 * math.log10(np.sum(ref.astype(np.float64) ** 2)
                           / np.sum((ref.astype(np.float64) - got) ** 2))


def _channel_sqnr(ref, got):
    c = ref.shape[-1]
    ref, got = ref.reshape(-1, c).astype(np.float64), got.reshape(-1, c)
    s, n = np.sum(ref**2, axis=0), np.sum((ref - got) ** 2, axis=0)
    return float(np.mean([min(100.0, 10 * math.log10(a / b)) if b else 100.0
                          for a, b in zip(s, n, strict=True) if a > 0]))


def _keras(d, layer_names, x):
    from edgekit._tf import keras

    model = keras.models.load_model(d / "digits_outlier.keras")
    sub = keras.Model(model.inputs, [model.get_layer(n).output for n in layer_names])
    return model, [np.asarray(v) for v in sub(x)]


def test_tflite_figures_match_litert_preserved_tensors(per_layer, digits):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    manifest, out = per_layer
    d = digits[0]
    x = np.load(d / "test.npz")["x"][:256].astype(np.float32)
    a = next(a for a in manifest["artifacts"] if a["format"] == "tflite")
    # LiteRT's reference kernels (no XNNPACK delegate): every tensor kept and readable
    it = Interpreter(model_path=str(out / "export" / a["file"]),
                     experimental_preserve_all_tensors=True,
                     experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    inp = it.get_input_details()[0]
    it.resize_tensor_input(inp["index"], list(x.shape))
    it.allocate_tensors()
    scale, zp = inp["quantization"]
    it.set_tensor(inp["index"], np.clip(np.round(x / scale) + zp, -128, 127).astype(np.int8))
    it.invoke()

    def tensor(part):      # the op output whose fused name holds ``part``
        outs = {int(o) for op in it._get_ops_details() for o in op["outputs"]}
        d_ = next(t for t in it.get_tensor_details()
                  if t["index"] in outs and part in t["name"])
        s, z = d_["quantization"]
        return (it.get_tensor(d_["index"]).astype(np.float64) - z) * s

    model, (conv1, conv2) = _keras(d, ["conv1", "conv2_relu"], x)
    rows = {r["layer"]: r for r in a["per_layer"]}
    assert rows["conv2"]["sqnr_db"] == pytest.approx(_sqnr(conv2, tensor("conv2_relu")),
                                                     abs=0.01)
    assert rows["conv1"]["sqnr_db"] == pytest.approx(_sqnr(conv1, tensor("conv1_1/Relu")),
                                                     abs=0.01)
    # isolated: Keras' conv2 + batch norm + ReLU on the file's own conv1 output
    h = tensor("conv1_1/Relu").astype(np.float32)
    for name in ("conv2", "conv2_bn", "conv2_relu"):
        h = np.asarray(model.get_layer(name)(h))
    assert rows["conv2"]["isolated_sqnr_db"] == pytest.approx(
        _channel_sqnr(h, tensor("conv2_relu")), abs=0.01)


def test_onnx_figures_match_onnxruntime_added_outputs(per_layer, digits):
    import onnx
    import onnxruntime as ort

    manifest, out = per_layer
    d = digits[0]
    x = np.load(d / "test.npz")["x"][:256].astype(np.float32)
    a = next(a for a in manifest["artifacts"] if a["format"] == "onnx")
    model = onnx.load(str(out / "export" / a["file"]))
    nodes = list(model.graph.node)

    def dequantized_output(name_part):   # Conv -> QuantizeLinear -> DequantizeLinear
        conv = next(n for n in nodes if n.op_type == "Conv" and name_part in n.name)
        q = next(n for n in nodes if n.op_type == "QuantizeLinear" and
                 n.input[0] == conv.output[0])
        dq = next(n for n in nodes if n.op_type == "DequantizeLinear" and
                  n.input[0] == q.output[0])
        return dq.output[0]

    names = [dequantized_output("conv1_1/"), dequantized_output("conv2_1/")]
    for n in names:
        model.graph.output.append(onnx.helper.make_tensor_value_info(
            n, onnx.TensorProto.FLOAT, None))
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    got = sess.run(names, {sess.get_inputs()[0].name: x})
    got = [np.transpose(g, (0, 2, 3, 1)) for g in got]      # NCHW -> Keras' NHWC
    _, (conv1, conv2) = _keras(d, ["conv1", "conv2_relu"], x)
    rows = {r["layer"]: r for r in a["per_layer"]}
    assert rows["conv1"]["sqnr_db"] == pytest.approx(_sqnr(conv1, got[0]), abs=0.01)
    assert rows["conv2"]["sqnr_db"] == pytest.approx(_sqnr(conv2, got[1]), abs=0.01)


def test_the_chart_is_in_the_png_and_the_html_report(per_layer):
    _, out = per_layer
    png = (out / "layers.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    page = (out / "report.html").read_text()
    assert "Layer by layer" in page and page.count("<polyline") >= 4
    assert "worst layer: conv2" in page


def test_bad_keep_float_inputs_are_one_line(digits, cli, tmp_path):
    d = digits[0]
    base = ["export", d / "digits_outlier.keras", "--calibration", d / "train.npz",
            "-o", tmp_path / "o"]
    r = cli(*base, "--int8", "--keep-float", "conv9")
    assert r.code != 0 and len(r.err_lines) == 1 and "no such layer" in r.err
    assert "conv2" in r.err                         # names the layers it has
    r = cli(*base, "--int8", "--keep-float", "auto")
    assert r.code != 0 and len(r.err_lines) == 1 and "--validation" in r.err
    r = cli(*base, "--keep-float", "conv2")
    assert r.code != 0 and len(r.err_lines) == 1 and "--int8" in r.err
    r = cli(*base, "--per-layer")                   # nothing quantized to compare
    assert r.code != 0 and len(r.err_lines) == 1 and "--quant int8" in r.err
    r = cli(*base, "--int8", "--plot", tmp_path / "chart.txt")
    assert r.code != 0 and len(r.err_lines) == 1 and ".png" in r.err
    assert not (tmp_path / "o").exists() and not (tmp_path / "chart.txt").exists()


ARCHITECTURES = {   # a chain, residual adds, concatenations, a depthwise chain with padding
    "lenet5": ["lenet5"],
    "resnet18": ["resnet18", "--resolution", "32", "--classes", "10"],
    "squeezenet": ["squeezenet", "--version", "1.1", "--bypass", "simple", "--resolution",
                   "64", "--classes", "10"],
    "mobilenet": ["mobilenet", "--alpha", "0.25", "--resolution", "32", "--classes", "10"],
}


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_every_weighted_layer_gets_a_row_in_both_formats(name, tmp_path):
    """The matching on the converters' real graphs of other architectures: every Keras
    layer group with weights has a row with both views in each format, the first layer's
    figures agree between TFLite and ONNX (the same int8 arithmetic from two converters,
    before a random network has amplified their different roundings), and the summary
    names a layer of the model."""
    from edgekit.cli.main import main
    from edgekit.export.per_layer import keras_groups
    from edgekit.services.targets import keras_model, resolve_target

    args = ARCHITECTURES[name]
    try:
        main(["export", *args, "--int8", "-n", "8", "--per-layer", "-o", str(tmp_path),
              "--json"])
    except SystemExit as e:
        assert e.code in (0, None)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    model = keras_model(resolve_target(args[0], _knobs(args[1:])))
    kg = keras_groups(model)
    weighted = {g.name for g in kg.groups
                if any(model.get_layer(m).count_params() for m in g.members)}
    rows_of = {}
    for a in manifest["artifacts"]:
        rows = {r["layer"]: r for r in a["per_layer"]}
        assert weighted <= set(rows), (a["file"], weighted - set(rows))
        assert all(r["isolated_sqnr_db"] is not None for r in rows.values()), a["file"]
        assert a["per_layer_summary"] and any(n in a["per_layer_summary"] for n in rows)
        rows_of[a["format"]] = rows
    first = next(g.name for g in kg.groups if g.name in weighted)
    t, o = rows_of["tflite"][first], rows_of["onnx"][first]
    assert abs(t["sqnr_db"] - o["sqnr_db"]) < 3.0 and t["sqnr_db"] > 25, (first, t, o)


def _knobs(args: list[str]) -> dict:
    knobs = {}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        key = flag.lstrip("-").replace("-", "_")
        knobs[key] = float(value) if "." in value and key == "alpha" else (
            int(value) if value.isdigit() else value)
    return knobs


def test_layers_called_in_other_graphs_keep_this_model_s_inputs(tmp_path):
    """A layer has one inbound node per symbolic call: a Sequential loaded from a file
    (built several times) or a layer reused by a second model. The groups follow the
    model's own graph, and the export reads the layers of the Sequential."""
    from edgekit._tf import keras
    from edgekit.cli.main import main
    from edgekit.export.per_layer import keras_groups

    L = keras.layers
    seq = keras.Sequential([keras.Input((8, 8, 1)), L.Conv2D(8, 3, activation="relu",
                                                              name="c1"),
                            L.Flatten(name="flat"), L.Dense(10, name="d"),
                            L.Softmax(name="sm")])
    seq.save(tmp_path / "seq.keras")
    loaded = keras.models.load_model(tmp_path / "seq.keras")
    assert max(len(la._inbound_nodes) for la in loaded.layers) > 1   # the case itself
    inp = keras.Input((8, 8, 1))
    conv = L.Conv2D(4, 3, name="shared")
    first = keras.Model(inp, L.Dense(3, name="head")(L.Flatten()(conv(inp))))
    keras.Model(inp, conv(inp))                                   # conv called again
    for model, want in ((loaded, {"c1": [""], "flat": ["c1"], "d": ["flat"]}),
                        (first, {"shared": [""]})):
        kg = keras_groups(model)
        got = {g.name: g.sources for g in kg.groups if g.name in want}
        assert got == want
    x = np.random.default_rng(0).uniform(0, 1, (32, 8, 8, 1)).astype(np.float32)
    np.savez(tmp_path / "x.npz", x=x)
    try:
        main(["export", str(tmp_path / "seq.keras"), "--format", "tflite", "--int8",
              "--calibration", str(tmp_path / "x.npz"), "--per-layer", "-o",
              str(tmp_path / "out"), "--json"])
    except SystemExit as e:
        assert e.code in (0, None)
    (a,) = json.loads((tmp_path / "out" / "manifest.json").read_text())["artifacts"]
    assert [r["layer"] for r in a["per_layer"]] == ["c1", "flat", "d"]
    assert a["per_layer"][-1]["op"] == "Dense (logits)" and a["fidelity"]["on"] == "logits"


def test_a_graph_the_groups_cannot_read_keeps_the_output_figure(digits, cli, tmp_path,
                                                                monkeypatch):
    """Fault injected into the layer-graph reading: a plain export still works, on the
    output, and says why in one warning; --per-layer says it cannot, in one line."""
    import edgekit.export.per_layer as per_layer

    def broken(model):
        raise RuntimeError("an unreadable graph")

    monkeypatch.setattr(per_layer, "keras_groups", broken)
    d = digits[0]
    base = ["export", d / "digits.keras", "--format", "tflite", "--int8", "--calibration",
            d / "train.npz", "--validation", d / "test.npz"]
    r = cli(*base, "-o", tmp_path / "a", "--json")
    assert r.code == 0, r.err
    (a,) = json.loads(r.out)["artifacts"]
    assert a["fidelity"]["on"] == "output" and "fidelity_output" not in a
    assert "an unreadable graph" in r.err and r.err.count("warning:") == 1
    r = cli(*base, "-o", tmp_path / "b", "--per-layer")
    assert r.code == 2 and len(r.err_lines) == 1 and "an unreadable graph" in r.err


def test_a_file_that_will_not_show_its_logits_keeps_the_output_figure(digits, cli, tmp_path,
                                                                       monkeypatch):
    import edgekit.export.model_figure as model_figure

    def refused(path, x):
        raise RuntimeError("the runtime refused to keep the tensor")

    monkeypatch.setattr(model_figure, "file_logits", refused)
    d = digits[0]
    r = cli("export", d / "digits.keras", "--format", "tflite", "--int8", "--calibration",
            d / "train.npz", "-o", tmp_path, "--json")
    assert r.code == 0, r.err
    (a,) = json.loads(r.out)["artifacts"]
    assert a["fidelity"]["on"] == "output"
    assert a["fidelity"]["logits_unreadable"] == "the runtime refused to keep the tensor"


@pytest.mark.parametrize("head", ["softmax", "dense_softmax", "linear", "sigmoid"])
def test_keras_output_and_logits_in_one_pass(keras, head):
    # one pass over the samples gives Keras' output and, where the model ends in softmax
    # or sigmoid, its logits: equal to running the model and a sub-model separately
    import numpy as np

    from edgekit.export.per_layer import keras_groups, logits_reference

    inputs = keras.Input((6, 6, 2))
    x = keras.layers.Flatten()(keras.layers.Conv2D(3, 3, name="conv")(inputs))
    if head == "dense_softmax":
        out = keras.layers.Dense(4, activation="softmax", name="fc")(x)
    else:
        x = keras.layers.Dense(4, name="fc")(x)
        out = {"softmax": keras.layers.Softmax(), "linear": keras.layers.ReLU(),
               "sigmoid": keras.layers.Activation("sigmoid")}[head](x)
    model = keras.Model(inputs, out)
    data = np.random.default_rng(0).standard_normal((70, 6, 6, 2)).astype(np.float32)
    got, logits = logits_reference(model, keras_groups(model), data)
    np.testing.assert_allclose(got, model(data, training=False).numpy(), atol=1e-5)
    if head == "linear":
        assert logits is None
        return
    fc = keras.Model(inputs, model.get_layer("fc").output)(data, training=False).numpy()
    if head == "dense_softmax":    # the softmax is fused into the Dense: its input
        fc = np.log(fc) - np.log(fc).mean(axis=1, keepdims=True)
        got_logits = logits[1] - logits[1].mean(axis=1, keepdims=True)
        np.testing.assert_allclose(got_logits, fc, atol=1e-4)
    else:
        np.testing.assert_allclose(logits[1], fc, atol=1e-5)
