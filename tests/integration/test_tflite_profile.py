"""Per-op profiles of .tflite files by isolation, and latency tables (issue 13).

The isolated single-op models must reproduce the whole model's intermediate tensors (the
whole model run by LiteRT's reference kernels with every tensor kept); op counts and MACs
must be those of `analyze` of the same file; third-party files (fp16, sparse fp16, int8
from PyTorch) must profile; a file LiteRT refuses must fail in one line."""

import json
import math

import numpy as np
import pytest

from edgekit.core.errors import LONGEST
from edgekit.readers.tflite_reader import read_tflite
from edgekit.runtimes.isolate import Graph, isolated_outputs
from tests.conftest import THIRD_PARTY_MODELS
from tests.integration.test_corpus import corpus_file

pytestmark = pytest.mark.integration
QUICK = ("--runs", "5", "--warmup", "1", "--threads", "1")


@pytest.fixture(scope="module")
def small_tflite():
    """The α=0.25 96 px MobileNet, fp32 and int8, as TFLite files (the export cache)."""
    from edgekit.services.export import cached_export
    from edgekit.services.targets import resolve_target

    t = resolve_target("mobilenet", {"alpha": 0.25, "resolution": 96})
    return {q: cached_export(t, q, runtimes=("litert",))["litert"] for q in ("none", "int8")}


def _files(small_tflite):
    return [small_tflite["none"], small_tflite["int8"],
            corpus_file("face_detection_front.tflite"),          # fp16 weights
            corpus_file("face_detection_full_range_sparse.tflite"),  # sparse fp16
            THIRD_PARTY_MODELS / "mobilenet_v2_quantized_1x3x224x224.tflite"]  # int8, PyTorch


def test_isolated_ops_reproduce_the_whole_models_tensors(small_tflite):
    for path in _files(small_tflite):
        found = isolated_outputs(path, xnnpack=False)
        ops = [r for r in read_tflite(path)[0] if r.op != "INPUT"]
        assert len(found) == len(ops), path     # every op was cut out
        for piece, mine, want in found:
            assert [m.shape for m in mine] == [w.shape for w in want]
            for m, w in zip(mine, want, strict=True):
                # the same reference kernels on the same inputs: the same numbers
                np.testing.assert_array_equal(m, w, err_msg=f"{path.name} op "
                                              f"{piece.op_index} {piece.op}")


def test_isolated_ops_under_xnnpack_agree_within_rounding(small_tflite):
    for path in (small_tflite["none"], small_tflite["int8"]):
        for _piece, mine, want in isolated_outputs(path, xnnpack=True):
            for m, w in zip(mine, want, strict=True):
                if np.issubdtype(w.dtype, np.integer):
                    assert np.abs(m.astype(int) - w.astype(int)).max() <= 1  # one step
                else:
                    np.testing.assert_allclose(m, w, rtol=1e-4, atol=1e-5)


def test_weight_decoders_travel_with_their_op():
    path = corpus_file("face_detection_full_range_sparse.tflite")
    g = Graph(path.read_bytes(), str(path))
    decoders = set(g.decoder_of.values())
    assert {g.names[k] for k in decoders} == {"DENSIFY", "DEQUANTIZE"}
    assert len(g.positions()) == len(g.ops) - len(decoders)
    one = next(p for p in g.pieces() if any(i in g.decoder_of for i in
                                               g.ins(g.ops[p.op_index])))
    cut = Graph(one.content, "piece")
    assert cut.names[-1] == one.op and set(cut.names[:-1]) <= {"DENSIFY", "DEQUANTIZE"}
    assert len(cut.positions()) == 1          # a single op, its weights decoded inside


def _profile(cli, *args):
    r = cli("profile", *args, *QUICK, "--json")
    assert r.code == 0, r.err
    return json.loads(r.out)


def test_profile_agrees_with_analyze_of_the_same_file(cli, small_tflite):
    for path in _files(small_tflite)[1:4]:
        prof = _profile(cli, path)
        r = cli("analyze", path, "--json")
        layers = [x for x in json.loads(r.out)["layers"] if x["op"] != "INPUT"]
        assert [o["op"] for o in prof["ops"]] == [x["op"] for x in layers]
        assert [o["macs"] for o in prof["ops"]] == [x["macs"] for x in layers]
        assert all(o["isolated"] and o["ms"] > 0 for o in prof["ops"])
        assert prof["sum_ms"] == pytest.approx(sum(o["ms"] for o in prof["ops"]))
        assert prof["sum_over_whole"] == pytest.approx(prof["sum_ms"] / prof["whole_ms"])
        assert sum(b["count"] for b in prof["by_op"]) == len(prof["ops"])
        assert sum(b["share"] for b in prof["by_op"]) == pytest.approx(1.0)
        conv = next(o for o in prof["ops"] if o["macs"])
        assert conv["gmacs_per_s"] == pytest.approx(conv["macs"] / conv["ms"] / 1e6)


def test_zoo_model_profile_names_its_layers(cli, tmp_path):
    png = tmp_path / "ops.png"
    prof = _profile(cli, "mobilenet", "--alpha", "0.25", "--resolution", "96",
                    "--runtime", "litert", "--int8", "--plot", png)
    assert png.stat().st_size > 0
    layers = [o["layer"] for o in prof["ops"] if o["op"] == "CONV_2D"]
    assert layers[:2] == ["conv1", "conv_pw_1"] and "conv_preds" in layers
    assert all(o["delegated"] for o in prof["ops"] if o["op"] == "CONV_2D")  # XNNPACK
    prof = _profile(cli, "mobilenet", "--alpha", "0.25", "--resolution", "96",
                    "--runtime", "litert", "--no-xnnpack")
    assert prof["provider"] == "builtin" and not any(o["delegated"] for o in prof["ops"])


def test_third_party_int8_file_and_refused_file(cli):
    prof = _profile(cli, THIRD_PARTY_MODELS / "mobilenet_v2_quantized_1x3x224x224.tflite")
    assert len(prof["ops"]) == 84 and prof["not_isolated"] == []
    assert {b["op"] for b in prof["by_op"]} >= {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD"}
    refused = THIRD_PARTY_MODELS / "person_detect.tflite"
    r = cli("profile", refused, *QUICK)
    assert r.code == 1 and len(r.err_lines) == 1
    assert "LiteRT cannot load" in r.err and "quantized_dimension" in r.err
    reason = r.err_lines[0].split(f"{refused}: ", 1)[1]  # LiteRT's words, capped
    assert len(reason) <= LONGEST


def test_text_report(cli, small_tflite):
    r = cli("profile", small_tflite["int8"], *QUICK, "--top", "3")
    assert r.code == 0, r.err
    assert "sum of the isolated ops" in r.out and "time per op type" in r.out
    assert "conv1" in r.out and "XNNPACK" in r.out


HOST_TOML = """name = "host"
title = "this machine (test)"
kind = "host"
[compute]
peak_gflops_fp32 = 100.0
[memory]
bandwidth_gbs = 10.0
ram_bytes = 1_000_000_000
storage_bytes = 1_000_000_000
"""


@pytest.mark.slow
def test_latency_table_then_analyze_uses_it(cli):
    from edgekit.core.lut import Table
    from edgekit.services.lut import find_table, lut_dir, predict_file

    lut_dir().mkdir(parents=True, exist_ok=True)
    (lut_dir() / "host.toml").write_text(HOST_TOML)
    before = json.loads(cli("analyze", "mobilenet", "--alpha", "0.25", "--resolution",
                            "96", "--profile", "host", "--json").out)["profile"]
    assert before["method"] == "roofline"
    r = cli("profile", "--lut", "mobilenet", "--lut-alpha", "0.25", "--lut-resolution",
            "96,128,160", "--lut-quant", "none", *QUICK, "--json")
    assert r.code == 0, r.err
    summary = json.loads(r.out)
    assert len(summary["models"]) == 3 and summary["threads"] == 1
    table = find_table("host")
    assert table is not None and table.path.parent == lut_dir()
    keys = [k["key"] for k in table.data["kernels"]]
    assert len(keys) == len(set(keys))      # each distinct kernel timed once
    # a model the table was made from: every op looked up, the sum is the kernels' sum
    m = table.data["models"][1]
    pred = predict_file(m["file"], table, "float32")
    assert pred["measured"] == m["ops"] and pred["scaled"] == pred["missing"] == 0
    assert pred["sum_ms"] == pytest.approx(m["sum_ms"])
    # ... and as if it had never seen it: the other two resolutions stand in
    pred = predict_file(m["file"], table, "float32", exclude={1})
    assert pred["scaled"] > 0 and pred["missing"] == 0 and pred["ms"] > 0
    after = json.loads(cli("analyze", "mobilenet", "--alpha", "0.25", "--resolution",
                           "128", "--profile", "host", "--json").out)["profile"]
    assert after["method"] == "table" and after["table"]["measured"] == m["ops"]
    assert after["time_s"] == pytest.approx(after["table"]["ms"] / 1e3)
    assert math.isclose(after["roofline_s"], before["roofline_s"] * (128 / 96) ** 2,
                        rel_tol=0.2)
    text = " ".join(cli("analyze", "mobilenet", "--alpha", "0.25", "--resolution", "112",
                        "--profile", "host").out.split())
    assert "latency from measured kernels" in text and "scaled from similar" in text
    assert Table.load(table.path).name == "host"
