"""`edgekit bench` and `edgekit profiles calibrate` on small models and the shared files."""

import json

import numpy as np
import pytest

from tests.conftest import THIRD_PARTY_MODELS, run_fresh

SMALL = ["mobilenet", "--alpha", "0.25", "--resolution", "96"]
QUICK = ["--runs", "5", "--warmup", "1"]


@pytest.fixture(scope="module")
def small_files(tmp_path_factory):
    """Float .tflite and .onnx of the small MobileNet."""
    from edgekit.export.pipeline import ExportOptions
    from edgekit.services.export import export_target
    from edgekit.services.targets import resolve_target

    out = tmp_path_factory.mktemp("files")
    target = resolve_target("mobilenet", {"alpha": 0.25, "resolution": 96})
    manifest = export_target(target, ExportOptions(out_dir=out, samples=4, min_agreement=0))
    return {a["format"]: out / a["file"] for a in manifest["artifacts"]}


def test_bench_files_side_by_side(cli, small_files):
    r = cli("bench", small_files["tflite"], small_files["onnx"], *QUICK,
            "--threads", "1,2", "--batch", "1,3", "--json")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert data["schema"] == 1 and data["environment"]["cores"] >= 1
    rows = data["results"]
    assert {(x["runtime"], x["threads"], x["batch"]) for x in rows} == {
        (rt, t, b) for rt in ("litert", "onnxruntime") for t in (1, 2) for b in (1, 3)}
    for x in rows:
        lat = x["latency_ms"]
        assert 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
        assert x["runs"] == 5 and len(x["samples_ms"]) == 5
        assert x["throughput_items_s"] == pytest.approx(x["batch"] * 1e3 / lat["p50"])
        assert x["load_ms"] > 0 and x["first_run_ms"] > 0
        assert x["input"]["shape"][1:] == [96, 96, 3]
        for key in ("model", "runtime", "provider", "threads", "batch"):
            assert key in x


def test_unavailable_provider_is_one_line(cli, small_files):
    r = cli("bench", small_files["onnx"], "--provider", "cuda", *QUICK)
    assert r.code == 2 and len(r.err_lines) == 1
    assert "execution provider 'cuda' is not available" in r.err
    assert "cpu" in r.err.split("available: ")[-1]


def test_compare_and_plot(cli, small_files, tmp_path):
    first = cli("bench", small_files["tflite"], *QUICK, "--threads", "1", "--json")
    (tmp_path / "prev.json").write_text(first.out)
    png = tmp_path / "lat.png"
    r = cli("bench", small_files["tflite"], *QUICK, "--threads", "1", "--compare",
            tmp_path / "prev.json", "--plot", png)
    assert r.code == 0, r.err
    assert "vs prev" in r.out and any(w in r.out for w in ("same", "slower", "faster"))
    assert png.read_bytes()[:4] == b"\x89PNG"
    r = cli("bench", small_files["tflite"], *QUICK, "--compare", tmp_path / "nope.json")
    assert r.code == 2 and "file not found" in r.err


def test_zoo_bench_with_keras_baseline_reports_gmacs(cli):
    r = cli("bench", *SMALL, "--runtime", "keras", *QUICK, "--json")
    assert r.code == 0, r.err
    (row,) = json.loads(r.out)["results"]
    assert row["runtime"] == "keras" and row["macs_per_item"] == 7_745_152
    assert row["gmacs_per_s"] == pytest.approx(7_745_152 / (row["latency_ms"]["p50"] * 1e-3) / 1e9)


def test_file_bench_imports_no_tensorflow(small_files):
    code = f"""
import sys
from edgekit.cli.main import main
try:
    main(["bench", {str(small_files['tflite'])!r}, {str(small_files['onnx'])!r},
          "--runs", "2", "--warmup", "0", "--json"])
except SystemExit as e:
    assert e.code in (0, None), e.code
print("HEAVY:" + ",".join(m for m in ("tensorflow", "keras", "tf2onnx") if m in sys.modules))
"""
    out = run_fresh(code)
    assert out.strip().splitlines()[-1] == "HEAVY:"


def test_third_party_int8_mobilenet_v2_runs_and_sees_the_dog():
    """A real int8 model made by someone else: NCHW int8 input, the dog is Samoyed (258)."""
    from edgekit.runtimes.litert import TFLiteRunner

    runner = TFLiteRunner(THIRD_PARTY_MODELS / "mobilenet_v2_quantized_1x3x224x224.tflite")
    spec = runner.inputs[0]
    assert spec.dtype == "int8" and spec.shape == (1, 3, 224, 224) and spec.scale > 0
    dog = np.load(THIRD_PARTY_MODELS / "dog_int8_1x3x224x224.npy")
    runner.invoke([dog])
    out = runner.interpreter.get_tensor(runner.interpreter.get_output_details()[0]["index"])
    assert int(np.argmax(out)) == 258


def test_bench_third_party_file_and_refused_file(cli):
    r = cli("bench", THIRD_PARTY_MODELS / "mobilenet_v2_quantized_1x3x224x224.tflite",
            "--runs", "3", "--warmup", "1", "--threads", "2", "--json")
    assert r.code == 0, r.err
    (row,) = json.loads(r.out)["results"]
    assert row["input"]["dtype"] == "int8"
    r = cli("bench", THIRD_PARTY_MODELS / "person_detect.tflite", *QUICK)
    assert r.code == 1 and len(r.err_lines) == 1
    assert "LiteRT cannot load" in r.err and "quantized_dimension" in r.err


def test_calibrate_writes_a_profile_that_loads(cli, tmp_path):
    from edgekit.core.device_profiles import load_profile

    path = tmp_path / "host.toml"
    r = cli("profiles", "calibrate", "-o", path)
    assert r.code == 0, r.err
    p = load_profile(path)
    assert p.name == "host" and p.kind == "host"
    assert 0.5 < p.peak_gflops_fp32 < 10_000 and 0.1 < p.bandwidth_gbs < 1_000


def test_profiles_commands(cli):
    r = cli("profiles", "--json")
    assert r.code == 0
    assert {"stm32h7", "nrf52840"} <= {p["name"] for p in json.loads(r.out)["profiles"]}
    r = cli("profiles", "show", "rpi5")
    assert r.code == 0 and "Cortex-A76" in r.out and "# " in r.out
    r = cli("analyze", *SMALL, "--dtype", "int8", "--profile", "stm32h7", "--json")
    d = json.loads(r.out)
    assert d["profile"]["fit"]["fits"] is True
    assert all("roofline" in layer for layer in d["layers"])
    r = cli("analyze", "resnet50", "--profile", "nrf52840", "--summary")
    assert r.code == 0 and "does not fit" in r.out


def test_profile_maps_ops_to_layers(cli):
    r = cli("profile", *SMALL, "--runs", "5", "--json")
    assert r.code == 0, r.err
    d = json.loads(r.out)
    assert d["total_ms"] > 0 and sum(n["share"] for n in d["nodes"]) == pytest.approx(1.0)
    assert d["by_op"][0]["op"] == "Conv"  # convolutions dominate a MobileNet
    layers = {row["layer"]: row for row in d["layers"]}
    assert layers["conv_pw_13"]["macs"] > 0 and layers["conv_pw_13"]["gmacs_per_s"] > 0
    assert layers["conv_dw_13"]["op"] == "DepthwiseConv2D"
    mapped = sum(row["share"] for row in d["layers"] if row["layer"] != "(unmapped)")
    assert mapped > 0.8


def test_profile_onnx_and_tflite_files(cli, small_files):
    r = cli("profile", small_files["onnx"], "--runs", "3", "--json")
    assert r.code == 0 and "layers" not in json.loads(r.out)
    r = cli("profile", small_files["tflite"], "--runs", "3", "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["runtime"] == "litert"    # op by op: test_tflite_profile.py


def test_litert_builtin_kernels_and_time_budget(cli, small_files):
    r = cli("bench", small_files["tflite"], "--no-xnnpack", "--threads", "1",
            "--runs", "100000", "--warmup", "0", "--time-budget", "0.2", "--json")
    assert r.code == 0, r.err
    (row,) = json.loads(r.out)["results"]
    assert row["provider"] == "builtin"
    assert 5 <= row["runs"] < 100000  # stopped by the budget, not the count


def test_bench_a_keras_file_runs_all_three_runtimes(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEKIT_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "m.keras"
    assert cli("build", "mobilenet", "--alpha", "0.25", "--resolution", "64",
               "-o", path).code == 0
    r = cli("bench", path, *QUICK, "--threads", "1", "--json")
    assert r.code == 0, r.err
    rows = json.loads(r.out)["results"]
    assert {x["runtime"] for x in rows} == {"litert", "onnxruntime", "keras"}
    assert len({x["macs_per_item"] for x in rows}) == 1
    assert list((tmp_path / "cache").glob("m-*-none/manifest.json"))
