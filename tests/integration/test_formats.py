"""Analysis of files from every format, and Keras vs ONNX vs TFLite agreement."""

import json

import pytest

from tests.conftest import THIRD_PARTY_MODELS

pytestmark = pytest.mark.slow


def assert_layers_add_up(cli, *target):
    """Per-layer activation bytes of the JSON add up to the total (views count 0)."""
    r = cli("analyze", *target, "--json")
    assert r.code == 0, r.err
    d = json.loads(r.out)
    assert sum(x["activation_bytes"] for x in d["layers"]) == \
        d["totals"]["activation_bytes_total"], target


def assert_every_reader_adds_up(cli, compared):
    """The ONNX and TFLite readers on the exports (from the compare's cache); the Keras
    reader: test_keras_reader.test_every_zoo_model_layers_add_up_to_the_total."""
    for fmt in ("onnx", "tflite"):
        assert_layers_add_up(cli, compared["files"][fmt])


@pytest.mark.parametrize("name, knobs", [
    ("mobilenet", ["--alpha", "0.25", "--resolution", "96"]),
    ("squeezenet", ["--version", "1.1", "--resolution", "64", "--bypass", "complex"]),
    ("xception", ["--resolution", "71"]),
    ("resnet18", ["--resolution", "64", "--classes", "10"]),
    ("resnet50", ["--resolution", "64", "--classes", "10"]),
])
def test_total_macs_agree_across_formats(cli, name, knobs):
    r = cli("analyze", name, *knobs, "--compare-formats", "--json")
    assert r.code == 0, r.err
    d = json.loads(r.out)
    macs = {fmt: d["totals"][fmt]["macs"] for fmt in ("keras", "onnx", "tflite")}
    assert d["macs_agree"] and len(set(macs.values())) == 1, macs
    # every Keras layer with MACs is found in both exports with the same MACs
    for row in d["layers"]:
        assert row["keras"] == row["onnx"] == row["tflite"], row
    assert any("batch norm" in n for n in d["notes"]) == (name != "squeezenet")
    assert_every_reader_adds_up(cli, d)


def test_analyze_the_third_party_files(cli):
    r = cli("analyze", THIRD_PARTY_MODELS / "mobilenet_v2_quantized_1x3x224x224.tflite", "--json")
    assert r.code == 0, r.err
    t = json.loads(r.out)["totals"]
    assert abs(t["macs"] / 1e6 - 300) < 3 and abs(t["params"] / 1e6 - 3.5) < 0.05
    r = cli("analyze", THIRD_PARTY_MODELS / "person_detect.tflite")
    assert r.code == 0 and "7,157,888" in r.out and "DEPTHWISE_CONV_2D" in r.out


def test_exported_files_analyze_like_keras(cli, tmp_path):
    r = cli("export", "mobilenet", "--alpha", "0.25", "--resolution", "96", "--quant",
            "none,int8", "-n", "8", "-o", tmp_path, "--min-agreement", "0")
    assert r.code == 0, r.err
    keras = json.loads(cli("analyze", "mobilenet", "--alpha", "0.25", "--resolution", "96",
                           "--json").out)["totals"]
    for f in sorted(tmp_path.glob("*.*")):
        if f.suffix not in (".onnx", ".tflite"):
            continue
        d = json.loads(cli("analyze", f, "--json").out)
        assert d["totals"]["macs"] == keras["macs"], f.name
        if "int8" in f.name and f.suffix == ".tflite":
            # int8 activations, and fewer tensors (fused ops): well under a quarter of the
            # float Keras plan
            assert d["totals"]["peak_activation_bytes"] < keras["peak_activation_bytes"] / 4
            assert {layer["act_dtype"] for layer in d["layers"] if layer["macs"]} == {"int8"}


def test_memory_schedule_and_timeline(cli, tmp_path):
    png = tmp_path / "mem.png"
    r = cli("analyze", "squeezenet", "--resolution", "64", "--memory-schedule", "best",
            "--memory-timeline", png, "--json")
    assert r.code == 0, r.err
    d = json.loads(r.out)
    s = d["memory_schedule"]
    assert s["method"] == "exact" and s["best_peak_bytes"] <= s["given_peak_bytes"]
    assert len(s["order"]) == len(d["layers"])
    assert png.read_bytes()[:4] == b"\x89PNG"
    r = cli("analyze", "squeezenet", "--memory-schedule", "fast")
    assert r.code == 2 and "must be given or best" in r.err


def test_bad_files_are_one_line(cli, tmp_path):
    (tmp_path / "x.tflite").write_bytes(b"nope")
    (tmp_path / "x.onnx").write_bytes(b"nope")
    for f in ("x.tflite", "x.onnx"):
        r = cli("analyze", tmp_path / f)
        assert r.code == 1 and len(r.err_lines) == 1 and "cannot read" in r.err


@pytest.mark.parametrize("name, knobs", [
    ("lenet5", []),
    ("alexnet", ["--resolution", "67", "--classes", "10"]),
    ("vgg11", ["--resolution", "32", "--no-top", "--batch-norm"]),
    ("nin", ["--resolution", "67", "--classes", "10"]),
    ("googlenet", ["--resolution", "64", "--classes", "10"]),
    ("inception_v3", ["--resolution", "75", "--classes", "10"]),
    ("densenet121", ["--resolution", "32", "--classes", "10"]),
    ("resnext50", ["--resolution", "32", "--classes", "10"]),
    ("mobilenet_v2", ["--alpha", "0.35", "--resolution", "32", "--classes", "10"]),
])
def test_total_macs_agree_for_the_rest_of_the_zoo(cli, name, knobs):
    r = cli("analyze", name, *knobs, "--compare-formats", "--json")
    assert r.code == 0, r.err
    d = json.loads(r.out)
    macs = {fmt: d["totals"][fmt]["macs"] for fmt in ("keras", "onnx", "tflite")}
    assert d["macs_agree"], macs
    assert_every_reader_adds_up(cli, d)
