"""--per-layer and --keep-float of the sources that are not Keras (a float .tflite, a
SavedModel, a float ONNX), each made here from one small Keras net with the layout traps of
issue 29: Conv -> PReLU -> Permute (H and W swapped) -> Conv -> Reshape -> depthwise -> Dense ->
softmax, H = W = C = 8 so that a transposed tensor keeps its shape (the converter names the
TRANSPOSE's output after the PReLU before it).

Oracles: the files read here with LiteRT (every tensor kept) and onnxruntime, ops paired by
their order within their type, SQNR in numpy; onnxruntime's own qdq_loss_debug for the
ONNX worst layer; the written files read back for what --keep-float left float."""

import json

import numpy as np
import pytest

from tests.integration.test_export_sources import litert

pytestmark = pytest.mark.slow
H = 8


def sqnr(ref, got):
    ref, got = np.asarray(ref, np.float64), np.asarray(got, np.float64)
    noise = np.sum((ref - got) ** 2)
    return np.inf if noise == 0 else 10 * np.log10(np.sum(ref ** 2) / noise)


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """(folder with net.tflite (float), sm/ (SavedModel), net.onnx (tf2onnx), cal.npz,
    val.npz; the validation inputs)."""
    from edgekit._tf import keras, tf
    from edgekit.export.converters import to_onnx_float

    keras.utils.set_random_seed(3)
    L = keras.layers
    inp = keras.Input((H, H, 3))
    x = L.Conv2D(H, 3, padding="same", name="conv1")(inp)
    x = L.PReLU(shared_axes=[1, 2], name="prelu1")(x)
    x = L.Permute((2, 1, 3), name="swap")(x)
    x = L.Conv2D(H, 3, padding="same", activation="relu", name="conv2")(x)
    x = L.Reshape((H, H, H), name="resh")(x)
    x = L.DepthwiseConv2D(3, padding="same", name="dw")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    out = L.Softmax(name="probs")(L.Dense(6, name="fc")(x))
    model = keras.Model(inp, out)
    rng = np.random.default_rng(0)     # biases and PReLU slopes away from zero
    model.set_weights([w if w.ndim == 4 else w + rng.normal(0, 0.3, w.shape).astype("f")
                       for w in model.get_weights()])
    d = tmp_path_factory.mktemp("srclayers")
    np.savez(d / "cal.npz", x=rng.normal(size=(32, H, H, 3)).astype(np.float32))
    val = rng.normal(size=(24, H, H, 3)).astype(np.float32)
    np.savez(d / "val.npz", x=val)
    (d / "net.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    model.export(d / "sm", verbose=False)
    (d / "net.onnx").write_bytes(to_onnx_float(model))
    return d, val, model


def export(cli, d, src, out, *more):
    r = cli("export", d / src, "--int8", "--calibration", d / "cal.npz", "--validation",
            d / "val.npz", "-o", d / out, "--min-agreement", "0", *more)
    assert r.code == 0, r.err
    return json.loads((d / out / "manifest.json").read_text())["artifacts"], r


def litert_output(path, x):
    return litert(path, x, np.float64)


def litert_ops(path, x):
    """[(op type, output name, output over all samples dequantized)] in the file's order;
    and the dtype of each op output by name."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_path=str(path), experimental_preserve_all_tensors=True,
                     experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    tensors = {t["index"]: t for t in it.get_tensor_details()}
    ops = [(o["op_name"], int(o["outputs"][0])) for o in it._get_ops_details()]
    d = it.get_input_details()[0]
    vals = {k: [] for _, k in ops}
    for i in range(len(x)):
        v = x[i:i + 1]
        scale, zp = d["quantization"]
        if scale:
            v = np.clip(np.round(v / scale + zp), -128, 127)
        it.set_tensor(d["index"], v.astype(d["dtype"]))
        it.invoke()
        for _, k in ops:
            t = it.get_tensor(k).astype(np.float64)
            scale, zp = tensors[k]["quantization"]
            vals[k].append((t - zp) * scale if scale else t)
    return ([(op, tensors[k]["name"], np.concatenate(vals[k])) for op, k in ops],
            {tensors[k]["name"]: np.dtype(tensors[k]["dtype"]) for _, k in ops})


def by_type(ops):
    """op type -> [(name, values)] in order; a float op's output as the next op sees it
    (after its QUANTIZE)."""
    out: dict = {}
    after = {}
    for i, (op, _, v) in enumerate(ops):
        if op == "QUANTIZE" and i and ops[i - 1][0] not in ("QUANTIZE", "DEQUANTIZE"):
            after[ops[i - 1][1]] = v
    for op, name, v in ops:
        if op not in ("QUANTIZE", "DEQUANTIZE"):
            out.setdefault(op, []).append((name, after.get(name, v)))
    return out


def check_tflite_rows(rows, float_path, int8_path, x):
    """Each row's SQNR equals numpy's on the k-th op of its type in both files."""
    ref = by_type(litert_ops(float_path, x)[0])
    got = by_type(litert_ops(int8_path, x)[0])
    seen: dict = {}
    for r in rows:
        k = seen[r["op"]] = seen.get(r["op"], -1) + 1
        want = sqnr(ref[r["op"]][k][1], got[r["op"]][k][1])
        assert float(r["sqnr_db"]) == pytest.approx(want, abs=0.1), r
    assert {"CONV_2D", "PRELU", "TRANSPOSE", "DEPTHWISE_CONV_2D", "SOFTMAX"} <= set(seen)
    return ref, got


def channel_sqnr(ref, got):
    """Mean over channels (last axis) of each channel's SQNR, capped at 100 dB."""
    ref = np.asarray(ref, np.float64).reshape(-1, ref.shape[-1])
    got = np.asarray(got, np.float64).reshape(ref.shape)
    return np.mean([min(sqnr(ref[:, c], got[:, c]), 100.0) for c in range(ref.shape[1])])


def test_float_tflite_per_layer_is_the_float_files_own_ops(made, cli):
    d, x, model = made
    arts, r = export(cli, d, "net.tflite", "t1", "--per-layer")
    a = arts[0]
    assert "layer by layer against the float graph" in r.out
    ref, got = check_tflite_rows(a["per_layer"], d / "net.tflite", d / "t1" / a["file"],
                                 x[:a["per_layer_samples"]])
    # the trap: the TRANSPOSE's output carries the PReLU's name and shape; compared with
    # the PReLU's tensor it would be noise, compared with the TRANSPOSE's it is int8 error
    row = next(r for r in a["per_layer"] if r["op"] == "TRANSPOSE")
    prelu_name, prelu = ref["PRELU"][0]
    assert ref["TRANSPOSE"][0][0] == prelu_name.split(";")[0]
    assert prelu.shape == got["TRANSPOSE"][0][1].shape
    assert sqnr(prelu, got["TRANSPOSE"][0][1]) < 5 < row["sqnr_db"] - 10
    assert "float .tflite source" in a["per_layer_summary"]
    # isolated: a transpose of int8 values adds nothing; the first conv, Keras' own conv1
    # run on the int8 file's own (dequantized) input, against the file's conv output
    assert row["isolated_sqnr_db"] == 100.0
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(d / "t1" / a["file"]))
    scale, zp = it.get_input_details()[0]["quantization"]
    n = a["per_layer_samples"]
    seen = (np.clip(np.round(x[:n] / scale + zp), -128, 127) - zp) * scale
    conv1 = np.asarray(model.get_layer("conv1")(seen.astype(np.float32)))
    first = a["per_layer"][0]
    assert first["op"] == "CONV_2D" and first["isolated_sqnr_db"] == pytest.approx(
        channel_sqnr(conv1, got["CONV_2D"][0][1]), abs=0.1)


def test_a_float_file_against_itself_is_exact(made, tmp_path):
    from edgekit.export.tflite_layers import tensor_rows

    d, x, _ = made
    rows, feeds = tensor_rows(d / "net.tflite", d / "net.tflite", x[:8])
    assert len(rows) == len(litert_ops(d / "net.tflite", x[:1])[0])   # every op, paired
    assert all(r["sqnr_db"] == "inf" for r in rows)                  # identical
    assert all(r["isolated_sqnr_db"] == 100.0 for r in rows)         # (capped)
    assert all(qe_cos == 1.0 for qe_cos in (r["cosine"] for r in rows))
    conv2 = next(r["layer"] for r in rows if r["op"] == "CONV_2D" and "conv2" in r["layer"])
    assert [r["op"] for r in rows if r["layer"] in feeds[conv2]] == ["TRANSPOSE"]


def test_saved_model_per_layer_both_formats(made, cli, tmp_path, monkeypatch):
    from edgekit._tf import tf

    d, x, _ = made
    arts, _ = export(cli, d, "sm", "s1", "--per-layer")
    arts = {a["format"]: a for a in arts}
    float_tflite = tmp_path / "float.tflite"   # the converter's float file, made here
    float_tflite.write_bytes(tf.lite.TFLiteConverter.from_saved_model(str(d / "sm"))
                             .convert())
    a = arts["tflite"]
    check_tflite_rows(a["per_layer"], float_tflite, d / "s1" / a["file"],
                      x[:a["per_layer_samples"]])
    o = arts["onnx"]
    assert {"Conv", "Transpose", "Softmax"} <= {r["op"] for r in o["per_layer"]}
    assert "savedmodel source: nodes of its float ONNX graph" in o["per_layer_summary"]


def test_onnx_worst_layer_agrees_with_onnxruntime_debugger(made, cli, tmp_path,
                                                           monkeypatch):
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, qdq_loss_debug
    from onnxruntime.quantization.shape_inference import quant_pre_process

    d, x, _ = made
    arts, _ = export(cli, d, "net.onnx", "o1", "--per-layer")
    a = arts[0]
    n = a["per_layer_samples"]
    monkeypatch.chdir(tmp_path)                  # the pre-processor's scratch files
    quant_pre_process(str(d / "net.onnx"), str(tmp_path / "pre.onnx"))
    name = onnx.load(str(d / "net.onnx")).graph.input[0].name

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.rows = iter(range(n))

        def get_next(self):
            i = next(self.rows, None)
            return None if i is None else {name: x[i:i + 1]}

    acts = {}
    for which, path in (("float", tmp_path / "pre.onnx"), ("qdq", d / "o1" / a["file"])):
        aug = tmp_path / f"{which}_aug.onnx"
        qdq_loss_debug.modify_model_output_intermediate_tensors(str(path), str(aug))
        acts[which] = qdq_loss_debug.collect_activations(str(aug), Reader())
    err = qdq_loss_debug.compute_activation_error(
        qdq_loss_debug.create_activation_matching(acts["qdq"], acts["float"]))
    made_by = {o: nd.name or o for nd in onnx.load(str(tmp_path / "pre.onnx")).graph.node
               for o in nd.output}
    scored = {made_by[t]: e["xmodel_err"] for t, e in err.items()
              if "xmodel_err" in e and t in made_by}
    rows = {r["layer"]: r for r in a["per_layer"] if r["sqnr_db"] not in (None, "inf")}
    common = [k for k in scored if k in rows]
    assert len(common) >= 5
    assert min(common, key=scored.get) == min(common, key=lambda k: rows[k]["sqnr_db"])
    assert a["per_layer_summary"].startswith("the accumulated error is largest at "
                                             + min(rows, key=lambda k: rows[k]["sqnr_db"]))


def onnx_float_nodes(path) -> set:
    """Nodes of a QDQ file whose weight input is a float initializer (not dequantized)."""
    import onnx

    g = onnx.load(str(path)).graph
    init = {t.name for t in g.initializer}
    return {n.name for n in g.node if n.op_type in ("Conv", "Gemm", "MatMul")
            and len(n.input) > 1 and n.input[1] in init}


def test_onnx_keep_float_names_and_auto(made, cli):
    d, x, _ = made
    a = export(cli, d, "net.onnx", "o2", "--per-layer")[0][0]
    convs = [r["layer"] for r in a["per_layer"] if r["op"] == "Conv"]
    assert onnx_float_nodes(d / "o2" / a["file"]) == set()
    k = export(cli, d, "net.onnx", "o3", "--keep-float", convs[0])[0][0]
    assert k["kept_float"] == [convs[0]]
    assert onnx_float_nodes(d / "o3" / k["file"]) == {convs[0]}
    assert k["quantization"]["int8_bytes_without_keep_float"] == a["bytes"]
    r = cli("export", d / "net.onnx", "--int8", "--calibration", d / "cal.npz",
            "--keep-float", "nope", "-o", d / "o4")
    assert r.code == 2 and len(r.err_lines) == 1 and "--keep-float nope" in r.err, r.err
    assert not (d / "o4").exists()
    # auto with a target no int8 file reaches: it stops, keeps its best, says the miss
    k, _ = export(cli, d, "net.onnx", "o5", "--keep-float", "auto", "--min-sqnr", "90")
    q = k[0]["quantization"]
    steps = q["keep_float_steps"]
    assert steps[0]["kept_float"] == [] and q["keep_float_reached"] is False
    assert len(steps) >= 3 and q["keep_float_missed"]["short_by"] == pytest.approx(
        90 - k[0]["fidelity"]["sqnr_db"], abs=0.01)
    assert onnx_float_nodes(d / "o5" / k[0]["file"]) == set(k[0]["kept_float"])
    r = cli("export", d / "net.onnx", "--int8", "--calibration", d / "cal.npz",
            "--keep-float", "auto", "--min-sqnr", "90", "--strict", "-o", d / "o6")
    assert r.code == 1 and "missed its target" in r.err and not (d / "o6").exists()


def tflite_float_ops(path) -> set:
    """The CONV/DEPTHWISE ops of a .tflite whose output is float32 (left float)."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path))
    t = {d["index"]: d for d in it.get_tensor_details()}
    return {t[o["outputs"][0]]["name"].split(";")[0] for o in it._get_ops_details()
            if o["op_name"] in ("CONV_2D", "DEPTHWISE_CONV_2D")
            and np.dtype(t[o["outputs"][0]]["dtype"]) == np.float32}


@pytest.mark.parametrize("src", ["net.tflite", "sm"])
def test_tflite_keep_float_leaves_the_op_float(made, cli, src):
    d, x, _ = made
    out = f"k_{src.replace('.', '_')}"
    a = export(cli, d, src, out + "a", "--format", "tflite", "--per-layer")[0][0]
    assert tflite_float_ops(d / (out + "a") / a["file"]) == set()
    dw = next(r["layer"] for r in a["per_layer"] if r["op"] == "DEPTHWISE_CONV_2D")
    k = export(cli, d, src, out + "b", "--format", "tflite", "--keep-float", dw)[0][0]
    assert k["kept_float"] == [dw]
    assert tflite_float_ops(d / (out + "b") / k["file"]) == {dw}
    got = litert_output(d / (out + "b") / k["file"], x)
    if src == "sm":                  # the reference: the signature run in TensorFlow
        from edgekit._tf import tf

        fn = tf.saved_model.load(str(d / "sm")).signatures["serving_default"]
        ref = next(iter(fn(tf.constant(x)).values())).numpy()
    else:
        ref = litert_output(d / "net.tflite", x)
    assert k["fidelity_outputs"][0]["sqnr_db"] == pytest.approx(sqnr(ref, got), abs=0.1)


def float_names(path) -> list:
    """The names a user reads for the file's CONV/DEPTHWISE ops (LiteRT's output tensor
    names, up to the first ';') or Conv nodes (onnx's node names)."""
    if str(path).endswith(".onnx"):
        import onnx

        return [n.name for n in onnx.load(str(path)).graph.node if n.op_type == "Conv"]
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path))
    t = {d["index"]: d["name"] for d in it.get_tensor_details()}
    return [t[o["outputs"][0]].split(";")[0] for o in it._get_ops_details()
            if o["op_name"] in ("CONV_2D", "DEPTHWISE_CONV_2D")]


@pytest.mark.parametrize("src", ["net.onnx", "net.tflite", "sm"])
def test_an_unknown_keep_float_name_is_one_line_before_the_data(made, cli, tmp_path, src):
    """A misspelt layer name: exit 2, one line naming it and the layer meant, nothing
    written, and the data never read (a --validation that is not an .npz would fail)."""
    d, _, _ = made
    real = float_names(d / ("net.tflite" if src == "sm" else src))[0]
    typo = real[:-1] + ("X" if real[-1] != "X" else "Y")
    (tmp_path / "bad.npz").write_bytes(b"not an npz file")
    r = cli("export", d / src, "--int8", "--format", "onnx" if src == "net.onnx" else
            "tflite", "--calibration", d / "cal.npz", "--validation", tmp_path / "bad.npz",
            "--keep-float", typo, "-o", tmp_path / "out")
    assert r.code == 2 and len(r.err_lines) == 1, r.err
    assert f"--keep-float {typo}:" in r.err and "no such layer" in r.err, r.err
    if src != "sm":            # the SavedModel's converted ops may be named otherwise
        assert "did you mean" in r.err and real in r.err.split("did you mean")[1], r.err
    assert not (tmp_path / "out").exists()


def two_input_onnx(path) -> dict:
    """left (N, 12), right (N, 12) -> Gemm each -> Add -> Relu ('mix') -> Gemm -> Softmax
    ('probs'): the weights, for numpy."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(5)
    w = {"wl": rng.normal(0, 0.4, (12, 16)), "wr": rng.normal(0, 0.4, (12, 16)),
         "bl": rng.normal(0, 0.2, 16), "br": rng.normal(0, 0.2, 16),
         "w2": rng.normal(0, 0.4, (16, 5)), "b2": rng.normal(0, 0.1, 5)}
    w = {k: v.astype(np.float32) for k, v in w.items()}
    nodes = [helper.make_node("Gemm", ["left", "wl", "bl"], ["hl"], name="gemm_left"),
             helper.make_node("Gemm", ["right", "wr", "br"], ["hr"], name="gemm_right"),
             helper.make_node("Add", ["hl", "hr"], ["sum"], name="add"),
             helper.make_node("Relu", ["sum"], ["mix"], name="relu"),
             helper.make_node("Gemm", ["mix", "w2", "b2"], ["logits"], name="gemm_out"),
             helper.make_node("Softmax", ["logits"], ["probs"], name="softmax")]
    graph = helper.make_graph(
        nodes, "two_inputs",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", 12])
         for n in ("left", "right")],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", 5])],
        [numpy_helper.from_array(v, k) for k, v in w.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))
    return w


def test_per_layer_and_keep_float_of_a_two_input_onnx(cli, tmp_path):
    import onnx
    import onnxruntime as ort

    w = two_input_onnx(tmp_path / "two.onnx")
    rng = np.random.default_rng(6)
    xl, xr = (rng.normal(size=(32, 12)).astype(np.float32) for _ in range(2))
    np.savez(tmp_path / "d.npz", left=xl, right=xr)
    r = cli("export", tmp_path / "two.onnx", "--int8", "--per-layer", "--calibration",
            tmp_path / "d.npz", "-o", tmp_path / "o", "--min-agreement", "0")
    assert r.code == 0, r.err
    a = json.loads((tmp_path / "o" / "manifest.json").read_text())["artifacts"][0]
    rows = {row["layer"]: row for row in a["per_layer"]}
    assert {"gemm_left", "gemm_right", "gemm_out", "softmax"} <= set(rows), set(rows)
    n = a["per_layer_samples"]
    hl = xl[:n].astype(np.float64) @ w["wl"] + w["bl"]    # numpy's float branches
    hr = xr[:n].astype(np.float64) @ w["wr"] + w["br"]
    logits = np.maximum(hl + hr, 0) @ w["w2"] + w["b2"]
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    model = onnx.load(str(tmp_path / "o" / a["file"]))
    quantized = {nd.input[0]: nd.output[0] for nd in model.graph.node
                 if nd.op_type == "QuantizeLinear"}
    dequantized = {nd.input[0]: nd.output[0] for nd in model.graph.node
                   if nd.op_type == "DequantizeLinear"}
    seen = dequantized[quantized["hr"]]     # the right branch as the Add sees it
    right = dequantized[quantized["right"]]  # the input as the quantized Gemm reads it
    model.graph.output.extend([onnx.ValueInfoProto(name=seen),
                               onnx.ValueInfoProto(name=right)])
    sess = ort.InferenceSession(model.SerializeToString(),
                                providers=["CPUExecutionProvider"])
    got, got_hr, got_right = sess.run(["probs", seen, right],
                                      {"left": xl[:n], "right": xr[:n]})
    assert rows["softmax"]["sqnr_db"] == pytest.approx(sqnr(probs, got), abs=0.5)
    assert rows["gemm_right"]["sqnr_db"] == pytest.approx(sqnr(hr, got_hr), abs=0.1)
    # isolated: numpy's float Gemm on the file's own (dequantized) input, per channel
    alone = got_right.astype(np.float64) @ w["wr"] + w["br"]
    assert rows["gemm_right"]["isolated_sqnr_db"] == pytest.approx(
        channel_sqnr(alone, got_hr), abs=0.1)
    r = cli("export", tmp_path / "two.onnx", "--int8", "--keep-float", "gemm_right",
            "--calibration", tmp_path / "d.npz", "-o", tmp_path / "k", "--min-agreement", "0")
    assert r.code == 0, r.err
    k = json.loads((tmp_path / "k" / "manifest.json").read_text())["artifacts"][0]
    assert onnx_float_nodes(tmp_path / "k" / k["file"]) == {"gemm_right"}


def test_a_pairing_the_structure_contradicts_is_not_made():
    """Names and shapes alone would pair them: the quantized file's PRELU output carries
    the TRANSPOSE's name and the TRANSPOSE the PRELU's; and a file where the PRELU became
    another op pairs nothing after it."""
    from edgekit.export.capture import Capture, Op
    from edgekit.export.tflite_layers import pair_ops

    def graph(ops, names):
        return Capture("tflite", None, [Op(names[o[2]], o[0], o[1], [o[2]]) for o in ops],
                       names, [0], [ops[-1][2]], {9})

    names = {0: "x", 1: "conv", 2: "p;mul", 3: "p", 4: "out"}
    flt = graph([("CONV_2D", [0, 9], 1), ("PRELU", [1, 9], 2), ("TRANSPOSE", [2, 9], 3),
                 ("CONV_2D", [3, 9], 4)], names)
    shape = {k: (1, 8, 8, 8) for k in range(5)}
    swapped = graph([("CONV_2D", [0, 9], 1), ("PRELU", [1, 9], 2), ("TRANSPOSE", [2, 9], 3),
                     ("CONV_2D", [3, 9], 4)], {**names, 2: "p", 3: "p;mul"})
    got = [(f.type, q.type, q.outputs) for f, q in pair_ops(flt, shape, swapped, shape)]
    assert got == [("CONV_2D", "CONV_2D", [1]), ("PRELU", "PRELU", [2]),
                   ("TRANSPOSE", "TRANSPOSE", [3]), ("CONV_2D", "CONV_2D", [4])]
    other = graph([("CONV_2D", [0, 9], 1), ("LEAKY_RELU", [1], 2), ("TRANSPOSE", [2, 9], 3),
                   ("CONV_2D", [3, 9], 4)], names)
    assert [f.type for f, _ in pair_ops(flt, shape, other, shape)] == ["CONV_2D"]


def test_a_tflite_with_a_fixed_batch_of_one(cli, tmp_path):
    """MediaPipe's files fix the batch at 1: the float file and its int8 file are run a
    row at a time (they were refused: 'has a fixed batch of 1; cannot run 16')."""
    from edgekit._tf import keras, tf

    keras.utils.set_random_seed(4)
    inp = keras.Input((6, 6, 2), batch_size=1)
    x = keras.layers.Conv2D(4, 3, activation="relu")(inp)
    model = keras.Model(inp, keras.layers.Dense(3)(keras.layers.Flatten()(x)))
    (tmp_path / "b1.tflite").write_bytes(
        tf.lite.TFLiteConverter.from_keras_model(model).convert())
    x = np.random.default_rng(1).normal(size=(20, 6, 6, 2)).astype(np.float32)
    np.savez(tmp_path / "x.npz", x=x)
    r = cli("export", tmp_path / "b1.tflite", "--int8", "--per-layer", "--calibration",
            tmp_path / "x.npz", "-o", tmp_path / "o", "--min-agreement", "0")
    assert r.code == 0, r.err
    a = json.loads((tmp_path / "o" / "manifest.json").read_text())["artifacts"][0]
    ref, got = litert_output(tmp_path / "b1.tflite", x), litert_output(
        tmp_path / "o" / a["file"], x)
    assert a["fidelity_outputs"][0]["sqnr_db"] == pytest.approx(sqnr(ref, got), abs=0.1)
    assert [row["op"] for row in a["per_layer"]][0] == "CONV_2D"


@pytest.fixture(scope="module")
def outlier(tmp_path_factory):
    """A net whose 'hot' conv has one output channel 300x the others (and the conv after
    it reads that channel /300): per-tensor int8 of hot's output leaves the other channels
    on one level, which the next conv shows: the culprit is hot's output being quantized."""
    from edgekit._tf import keras, tf
    from edgekit.export.converters import to_onnx_float

    keras.utils.set_random_seed(7)
    L = keras.layers
    inp = keras.Input((H, H, 3))
    x = L.PReLU(shared_axes=[1, 2])(L.Conv2D(H, 3, padding="same", name="conv1")(inp))
    x = L.Permute((2, 1, 3))(x)
    x = L.Conv2D(H, 3, padding="same", name="hot")(x)
    x = L.Conv2D(H, 3, padding="same", activation="relu", name="conv3")(x)
    model = keras.Model(inp, L.Dense(6, name="fc")(L.GlobalAveragePooling2D()(x)))
    k, b = model.get_layer("hot").get_weights()
    k[..., 0] *= 300
    b[0] = 50
    model.get_layer("hot").set_weights([k, b])
    k, b = model.get_layer("conv3").get_weights()
    k[:, :, 0, :] /= 300
    model.get_layer("conv3").set_weights([k, b])
    d = tmp_path_factory.mktemp("outlier")
    (d / "hot.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    (d / "hot.onnx").write_bytes(to_onnx_float(model))
    rng = np.random.default_rng(0)
    np.savez(d / "cal.npz", x=rng.normal(size=(32, H, H, 3)).astype(np.float32))
    np.savez(d / "val.npz", x=rng.normal(size=(24, H, H, 3)).astype(np.float32))
    return d


def test_auto_finds_the_outlier_of_an_onnx_source(outlier, cli):
    import onnxruntime as ort

    d = outlier
    a = export(cli, d, "hot.onnx", "o", "--keep-float", "auto", "--min-sqnr", "30")[0][0]
    q = a["quantization"]
    assert q["keep_float_steps"][0]["sqnr_db"] < 5 and q["keep_float_reached"] is True
    hot = [n for n in a["kept_float"] if "hot" in n]
    assert hot and onnx_float_nodes(d / "o" / a["file"]) >= set(hot)
    x = np.load(d / "val.npz")["x"]
    f = ort.InferenceSession(str(d / "hot.onnx"), providers=["CPUExecutionProvider"])
    g = ort.InferenceSession(str(d / "o" / a["file"]), providers=["CPUExecutionProvider"])
    name = f.get_inputs()[0].name
    want = sqnr(f.run(None, {name: x})[0], g.run(None, {name: x})[0])
    assert a["fidelity"]["sqnr_db"] == pytest.approx(want, abs=0.1) and want >= 30
    assert len(q["keep_float_steps"]) == 3      # conv3 (+ its fused Relu), then hot


def test_auto_on_a_float_tflite_keeps_the_outlier(outlier, cli):
    d = outlier
    a = export(cli, d, "hot.tflite", "t", "--keep-float", "auto", "--min-sqnr", "40")[0][0]
    steps = a["quantization"]["keep_float_steps"]
    assert any("hot" in n for n in a["kept_float"])
    assert a["fidelity"]["sqnr_db"] >= steps[0]["sqnr_db"] + 10
    kept_ops = tflite_float_ops(d / "t" / a["file"])
    assert any("hot" in n for n in kept_ops)


def test_per_layer_of_an_onnx_that_fixes_its_batch_at_one(cli, tmp_path):
    """PaddleDetection's exports fix the batch at 1: the per-layer run feeds a row a call
    (it was onnxruntime's 'Got invalid dimensions for input' after the files were made)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(8)
    w1, w2 = rng.normal(0, 0.4, (12, 16)).astype(np.float32), \
        rng.normal(0, 0.4, (16, 4)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w1"], ["h"], name="mm1"),
         helper.make_node("Relu", ["h"], ["r"], name="relu"),
         helper.make_node("MatMul", ["r", "w2"], ["y"], name="mm2")], "b1",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 12])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]),
              str(tmp_path / "b1.onnx"))
    x = rng.normal(size=(20, 12)).astype(np.float32)
    np.savez(tmp_path / "x.npz", x=x)
    r = cli("export", tmp_path / "b1.onnx", "--int8", "--per-layer", "--calibration",
            tmp_path / "x.npz", "-o", tmp_path / "o", "--min-agreement", "0")
    assert r.code == 0, r.err
    a = json.loads((tmp_path / "o" / "manifest.json").read_text())["artifacts"][0]
    rows = {row["layer"]: row for row in a["per_layer"]}
    import onnxruntime as ort

    sess = ort.InferenceSession(str(tmp_path / "o" / a["file"]),
                                providers=["CPUExecutionProvider"])
    n = a["per_layer_samples"]
    got = np.concatenate([sess.run(None, {"x": x[i:i + 1]})[0] for i in range(n)])
    want = np.maximum(x[:n].astype(np.float64) @ w1, 0) @ w2
    assert rows["mm2"]["sqnr_db"] == pytest.approx(sqnr(want, got), abs=0.1)
