"""Real third-party files (tools/corpus.py: origin and licence of each), analyzed by edgekit
and counted independently here: ONNX shapes from an onnxruntime run with every
intermediate tensor exposed, TFLite shapes and weights from LiteRT's own tensor and op
details. Totals and per-layer MACs agree within 0.5 %."""

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / ".venv" / "corpus"

pytestmark = pytest.mark.slow


def corpus_file(name: str) -> Path:
    path = CORPUS / name
    if not path.is_file():
        pytest.fail(f"{path} is missing: run `make corpus` (make test does)")
    return path


# ---- ONNX: an independent count -------------------------------------------------------

def onnx_reference(path: Path, shape: tuple) -> dict[str, int]:
    """MACs per Conv/MatMul/Gemm node from the real shapes of one onnxruntime run."""
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    model = onnx.load(str(path))
    consts = {i.name: numpy_helper.to_array(i).shape for i in model.graph.initializer}
    for n in model.graph.node:
        if n.op_type == "Constant":
            consts[n.output[0]] = numpy_helper.to_array(n.attribute[0].t).shape
    names = [o for n in model.graph.node for o in n.output if o]
    del model.graph.output[:]
    model.graph.output.extend([onnx.ValueInfoProto(name=o) for o in names])
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])
    feed = {sess.get_inputs()[0].name: np.ones(shape, np.float32)}
    real = dict(zip(names, (np.shape(v) for v in sess.run(names, feed)), strict=True))
    macs = {}
    for _i, n in enumerate(model.graph.node):
        out = real[n.output[0]]
        if n.op_type == "Conv":                  # out elements x Cin/groups x kh x kw
            macs[n.name or n.output[0]] = int(np.prod(out)) * int(np.prod(consts[n.input[1]][1:]))
        elif n.op_type == "ConvTranspose":       # in elements x Cout/groups x kh x kw
            macs[n.name or n.output[0]] = (int(np.prod(real[n.input[0]]))
                                           * int(np.prod(consts[n.input[1]][1:])))
        elif n.op_type in ("MatMul", "Gemm"):    # out elements x the reduced dimension
            k = real[n.input[0]][-1] if n.input[0] in real else consts[n.input[0]][-1]
            if n.op_type == "Gemm" and any(a.name == "transA" and a.i for a in n.attribute):
                k = real[n.input[0]][0]
            macs[n.name or n.output[0]] = int(np.prod(out)) * int(k)
    return macs


@pytest.mark.parametrize("name, shape, input_name", [
    ("ch_ppocr_mobile_v2.0_cls_infer.onnx", (1, 3, 48, 192), "x"),
    ("ch_PP-OCRv4_det_infer.onnx", (1, 3, 160, 320), "x"),
    ("ch_PP-OCRv4_rec_infer.onnx", (1, 3, 48, 320), "x"),
    ("yolov8n_320_nudenet.onnx", (1, 3, 320, 320), "images"),      # torch.onnx
    ("picodet_layout_cdla.onnx", (1, 3, 800, 608), "image"),       # paddle2onnx, fixed
])
def test_dynamic_onnx_files_against_onnxruntime_shapes(cli, name, shape, input_name):
    path = corpus_file(name)
    ref = onnx_reference(path, shape)
    given = "x".join(map(str, shape))
    r = cli("analyze", path, "--input-shape", given, "--json")
    assert r.code == 0, r.err
    d = json.loads(r.out)
    assert d["model"]["input_shapes"] == {input_name: given}
    t = d["totals"]
    assert t["unknown_size_layers"] == [] and t["uncounted_layers"] == []
    assert abs(t["macs"] - sum(ref.values())) <= 0.005 * sum(ref.values())
    ours = {x["name"]: x["macs"] for x in d["layers"]}
    for node, macs in ref.items():
        assert abs(ours[node] - macs) <= 0.005 * macs, node
    assert all(x["activation_bytes"] >= 0 for x in d["layers"])
    assert t["params"] > 100_000          # weights in Constant nodes count


def test_dynamic_onnx_without_a_shape_is_flagged_not_guessed(cli):
    path = corpus_file("ch_ppocr_mobile_v2.0_cls_infer.onnx")
    r = cli("analyze", path, "--json")
    assert r.code == 0, r.err
    d = json.loads(r.out)
    assert d["model"]["unbound_inputs"] == {"x": [2, 3]}
    assert d["model"]["input_shapes"] == {"x": "1x3x?x?"}
    t = d["totals"]
    assert len(t["unknown_size_layers"]) > 100
    assert all(x["activation_bytes"] >= 0 for x in d["layers"])
    flagged = [x for x in d["layers"] if x["unknown_size"]]
    assert all(x["macs"] == 0 and x["activation_bytes"] == 0 for x in flagged)
    assert all(not x["counted"] for x in flagged if x["op"] != "Input")
    table = cli("analyze", path, "--summary")
    assert "unknown sizes" in table.out and "--input-shape" in table.out
    assert "-" not in table.out.split("all activations")[1].split("\n")[0].split("KiB")[0]


def test_bench_and_profile_take_the_shape_and_refuse_without_it(cli):
    path = corpus_file("ch_ppocr_mobile_v2.0_cls_infer.onnx")
    quick = ["--runs", "3", "--warmup", "1", "--threads", "1"]
    for cmd in ("bench", "profile"):
        r = cli(cmd, path, *(quick[:2] if cmd == "profile" else quick))
        assert r.code == 2 and len(r.err_lines) == 1, r.err
        assert "dynamic dimensions" in r.err and "--input-shape 1x3x224x224" in r.err
    r = cli("bench", path, *quick, "--input-shape", "1x3x48x192", "--json")
    assert r.code == 0, r.err
    (row,) = json.loads(r.out)["results"]
    assert row["input"]["shape"] == [1, 3, 48, 192] and row["input_shapes"] == {"x": "1x3x48x192"}
    assert row["macs_per_item"] == sum(onnx_reference(path, (1, 3, 48, 192)).values())
    r = cli("profile", path, "--runs", "3", "--input-shape", "1x3x48x192", "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["input_shapes"] == {"x": "1x3x48x192"}


def test_input_shape_contradicting_a_fixed_size_names_it(cli):
    path = corpus_file("ch_ppocr_mobile_v2.0_cls_infer.onnx")
    r = cli("analyze", path, "--input-shape", "1x4x48x192")
    assert r.code == 2 and len(r.err_lines) == 1
    assert "input 'x' has a fixed size 3 at position 1, 4 given" in r.err


# ---- one network, three exporters: Silero VAD --------------------------------------------

def silero_macs(rate: int) -> int:
    """Silero VAD v5 counted from its published architecture (not from any file): an STFT
    as a Conv1d (filter 256 at 16 kHz, 128 at 8 kHz, hop half of it, reflect padding of a
    quarter), four conv blocks (kernel 3, padding 1, strides 1, 2, 2, 1; channels bins ->
    128 -> 64 -> 64 -> 128), an LSTM cell of 128 and a 1x1 Conv to one output."""
    samples, filt = (512, 256) if rate == 16000 else (256, 128)
    bins, hop, pad = filt // 2 + 1, filt // 2, filt // 4
    frames = (samples + pad - filt) // hop + 1
    total = filt * 2 * bins * frames                       # STFT: real and imaginary rows
    length = frames
    for cin, cout, stride in ((bins, 128, 1), (128, 64, 2), (64, 64, 2), (64, 128, 1)):
        length = (length + 2 - 3) // stride + 1
        total += 3 * cin * cout * length
    return total + 4 * 128 * (128 + 128) + 128              # LSTM cell gates, decoder


@pytest.mark.parametrize("name, rate", [
    ("silero_vad.onnx", 16000), ("silero_vad.onnx", 8000),
    ("silero_vad_16k_op15.onnx", 16000),            # the 16 kHz model only
    ("silero_vad_op18_ifless.onnx", 16000), ("silero_vad_op18_ifless.onnx", 8000)])
def test_one_network_from_three_exporters_counts_the_same(cli, tmp_path, name, rate):
    # spox, torch.onnx (TorchScript) and torch.onnx (dynamo): the model is in the branches
    # of an If on the sample rate; the inputs decide the branch, and every tensor in it is
    # sized by the run (no "unknown sizes", nothing left out of the MAC total)
    samples = 512 if rate == 16000 else 256
    feeds = tmp_path / "in.npz"
    np.savez(feeds, input=np.random.default_rng(0).standard_normal((1, samples), np.float32),
             state=np.zeros((2, 1, 128), np.float32), sr=np.array(rate, np.int64))
    r = cli("analyze", corpus_file(name), "--inputs", feeds, "--json")
    assert r.code == 0, r.err
    t = json.loads(r.out)["totals"]
    assert t["macs"] == silero_macs(rate)
    assert t["unknown_size_layers"] == [] and t["uncounted_mac_layers"] == []
    assert t["params"] == {16000: 309_633, 8000: 235_649}[rate]   # the branch that runs
    # without the sample rate the branch is unknown: both listed, the larger counted, said
    r = cli("analyze", corpus_file(name), "--input-shape", f"input:1x{samples}",
            "--input-shape", "state:2x1x128", "--json")
    assert r.code == 0, r.err
    d = json.loads(r.out)
    assert any("condition unknown" in (x["attrs"].get("control_flow") or "")
               for x in d["layers"])


def test_float16_export_counts_as_the_float32_one(cli, tmp_path):
    feeds = tmp_path / "in.npz"
    np.savez(feeds, input=np.ones((1, 512), np.float32),     # cast to float16 inside
             state=np.zeros((2, 1, 128), np.float32))
    r = cli("analyze", corpus_file("silero_vad_half.onnx"), "--inputs", feeds, "--json")
    assert r.code == 0, r.err
    t = json.loads(r.out)["totals"]
    assert t["macs"] == silero_macs(16000) and t["params"] == 309_633


# ---- TFLite: LiteRT's own view --------------------------------------------------------

def tflite_reference(path: Path) -> tuple[dict[str, int], int]:
    """(MACs per conv/depthwise/FC op by output name, params) from LiteRT's details:
    weights are the tensors the ops consume (fp16 weights arrive dequantized)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_path=str(path),
                     experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    tensors = {t["index"]: t for t in it.get_tensor_details()}
    ops = it._get_ops_details()
    decoded = {op["outputs"][0] for op in ops if op["op_name"] in ("DEQUANTIZE", "DENSIFY")
               and all(tensors[i]["name"] and _const(it, i) for i in op["inputs"])}
    macs, params_from = {}, set()
    for op in ops:
        name, ins = op["op_name"], [i for i in op["inputs"] if i >= 0]
        out = int(np.prod(tensors[op["outputs"][0]]["shape"]))
        if name in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            w = tensors[ins[1]]["shape"]
            per = {"CONV_2D": np.prod(w[1:]), "DEPTHWISE_CONV_2D": w[1] * w[2],
                   "FULLY_CONNECTED": w[1]}[name]
            macs[tensors[op["outputs"][0]]["name"]] = out * int(per)
            params_from |= set(ins[1:])
        elif name not in ("DEQUANTIZE", "DENSIFY"):
            params_from |= {i for i in ins if (i in decoded or _const(it, i))
                            and tensors[i]["dtype"] in (np.float32, np.float16, np.int8)
                            and np.prod(tensors[i]["shape"]) > 1}
    return macs, sum(int(np.prod(tensors[i]["shape"])) for i in params_from)


def _const(it, i) -> bool:
    try:
        it.get_tensor(i)          # before allocation only constants have data
        return True
    except ValueError:
        return False


@pytest.mark.parametrize("name", ["face_detection_front.tflite",
                                  "face_detection_full_range_sparse.tflite",
                                  "face_landmark.tflite"])
def test_tflite_files_against_litert(cli, name):
    path = corpus_file(name)
    ref_macs, ref_params = tflite_reference(path)
    r = cli("analyze", path, "--json")
    assert r.code == 0, r.err
    d = json.loads(r.out)
    t = d["totals"]
    assert t["uncounted_layers"] == []
    assert abs(t["macs"] - sum(ref_macs.values())) <= 0.005 * sum(ref_macs.values())
    ours = {x["name"]: x for x in d["layers"]}
    for out, macs in ref_macs.items():
        assert abs(ours[out]["macs"] - macs) <= 0.005 * macs, out
    assert t["params"] == ref_params
    ops = defaultdict(int)
    for x in d["layers"]:
        ops[x["op"]] += 1
    assert "DEQUANTIZE" not in ops and "DENSIFY" not in ops      # decoding is not a layer
    weighted = {x["weight_dtype"] for x in d["layers"] if x["macs"]}
    assert weighted == ({"float32"} if name == "face_landmark.tflite" else {"float16"})
    if name == "face_landmark.tflite":
        prelu = [x for x in d["layers"] if x["op"] == "PRELU"]
        assert prelu and all(x["params"] > 0 for x in prelu)
