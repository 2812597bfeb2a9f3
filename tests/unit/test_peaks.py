"""'% of peak' compares a model with the peaks of its own arithmetic (issue 23): the MACs
of layers with integer weights (full-integer and dynamic-range int8) at the calibrated int8
peak, the others at the fp32 one, and no fraction where a peak it needs is unknown.
Generated rows against the profile's numbers; a real int8 file with float inputs."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgekit.bench.run import Setting, Subject, entry
from edgekit.core.device_profiles import host_peak_gmacs


def _timed(p50_ms: float, batch: int = 1) -> dict:
    return {"first_ms": 1.0, "samples_ms": [p50_ms], "provider": "xnnpack", "load_ms": 1.0,
            "rss_delta_mb": 0.0, "state": {}, "batch": batch, "input": {"dtype": "float32"},
            "latency_ms": {"p50": p50_ms}}


@given(macs=st.integers(1, 10**10), share=st.floats(0, 1), p50=st.floats(0.01, 1e4),
       batch=st.integers(1, 8), fp32=st.floats(0.1, 1e4),
       int8=st.one_of(st.none(), st.floats(0.1, 1e5)))
def test_fraction_of_the_peaks_of_its_own_arithmetic(macs, share, p50, batch, fp32, int8):
    int8_macs = int(macs * share)
    row = entry(Subject("m", {}, macs=macs, int8_macs={"litert": int8_macs}),
                Setting("litert", 1, None, None), _timed(p50, batch),
                {"float32": fp32, "int8": int8})
    assert row["gmacs_per_s"] == pytest.approx(macs * batch / (p50 * 1e-3) / 1e9)
    if int8_macs and int8 is None:
        assert "fraction_of_peak" not in row
        return
    ideal = (macs - int8_macs) / (fp32 * 1e9) + (int8_macs / (int8 * 1e9) if int8_macs
                                                  else 0)
    assert row["fraction_of_peak"] == pytest.approx(ideal * batch / (p50 * 1e-3))


def test_an_int8_file_with_float_inputs_is_held_to_the_int8_peak(tmp_path, cli, monkeypatch):
    # a TFLite file quantized with float input and output (the converter's default when
    # the interface is not set): its convolutions hold int8 weights, so its MACs count at
    # the int8 peak although its input is float
    import json

    from tests.tflite_build import TFLite

    m = TFLite()
    g = m.graph()
    x, q, y = g.tensor([1, 8, 8, 16]), g.tensor([1, 8, 8, 16], "int8"), g.tensor(
        [1, 8, 8, 16], "int8")
    from ai_edge_litert import schema_py_generated as S

    for t, scale in ((q, 0.05), (y, 0.1)):
        qp = S.QuantizationParametersT()
        qp.scale, qp.zeroPoint = [scale], [0]
        g.sg.tensors[t].quantization = qp
    w = g.const(np.ones((16, 1, 1, 16), np.int8))
    wq = S.QuantizationParametersT()
    wq.scale, wq.zeroPoint = [0.01] * 16, [0] * 16
    g.sg.tensors[w].quantization = wq
    b = g.const(np.zeros(16, np.int32))
    out = g.tensor([1, 8, 8, 16])
    g.sg.inputs, g.sg.outputs = [x], [out]
    g.op("QUANTIZE", [x], [q])
    opts = S.Conv2DOptionsT()
    opts.strideH = opts.strideW = 1
    g.op("CONV_2D", [q, w, b], [y], opts, S.BuiltinOptions.Conv2DOptions)
    g.op("DEQUANTIZE", [y], [out])
    path = tmp_path / "int8_float_io.tflite"
    m.save(path)
    folder = tmp_path / "cfg" / "edgekit" / "profiles"
    folder.mkdir(parents=True)
    (folder / "host.toml").write_text('name = "host"\ntitle = "t"\nkind = "host"\n'
                                      "[compute]\npeak_gflops_fp32 = 2.0\n"
                                      "peak_gops_int8 = 2000.0\n[memory]\n"
                                      "bandwidth_gbs = 30.0\nram_bytes = 8\n"
                                      "storage_bytes = 8\n")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    r = cli("bench", path, "--runs", "5", "--warmup", "1", "--threads", "1", "--json")
    assert r.code == 0, r.err
    (row,) = json.loads(r.out)["results"]
    macs = 8 * 8 * 16 * 16
    assert row["input"]["dtype"] == "float32" and row["macs_per_item"] == macs
    ideal = macs / 1000e9                                 # int8 peak: 2000 GOPS = 1000 GMAC/s
    assert row["fraction_of_peak"] == pytest.approx(ideal / (row["latency_ms"]["p50"] * 1e-3))


def test_host_peaks_come_from_the_host_profile(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert host_peak_gmacs() is None
    folder = tmp_path / "edgekit" / "profiles"
    folder.mkdir(parents=True)
    (folder / "host.toml").write_text('name = "host"\ntitle = "t"\nkind = "host"\n'
                                      "[compute]\npeak_gflops_fp32 = 300.0\n"
                                      "peak_gops_int8 = 1200.0\n[memory]\n"
                                      "bandwidth_gbs = 30.0\nram_bytes = 8\n"
                                      "storage_bytes = 8\n")
    assert host_peak_gmacs() == {"float32": 150.0, "int8": 600.0}


def test_a_zoo_model_takes_its_integer_share_from_the_file_it_runs(tmp_path, monkeypatch):
    # bench of a zoo model times the file it exported: the MACs held to the int8 peak are
    # those of that file's integer layers (a dynamic-range export leaves small ones float)
    from edgekit.services import bench as B

    shares = {"a.tflite": 0.0, "b.onnx": 0.75}
    monkeypatch.setattr(B, "file_macs_split",
                        lambda t, *a: (1000, int(1000 * shares[t.path.name])))
    assert B._integer_share(tmp_path / "a.tflite") == 0.0
    assert B._integer_share(tmp_path / "b.onnx") == 0.75


def test_measure_reads_the_clock_it_is_given(monkeypatch):
    """runtimes.timing.measure with clock='thread' takes its samples from the thread CPU
    clock (tables measured on a shared machine), wall time otherwise; checked with a fake
    clock that advances 1 ms a reading, so no real time is asserted."""
    import itertools

    from edgekit.runtimes import timing

    ticks = itertools.count(0, 1_000_000)
    monkeypatch.setitem(timing.CLOCKS, "thread", lambda: next(ticks))
    calls = []
    t = timing.measure(calls.append, "x", warmup=2, runs=3, clock="thread")
    assert t.samples_ms == [1.0, 1.0, 1.0] and t.first_ms == 1.0
    assert calls == ["x"] * 6               # first run, 2 warm-up, 3 timed
    budget = timing.measure(calls.append, "x", warmup=0, runs=4, budget_s=60,
                            clock="thread")
    assert budget.samples_ms == [1.0] * 4
    assert timing.CLOCKS["wall"] is timing.time.perf_counter_ns
    with pytest.raises(KeyError):
        timing.measure(calls.append, "x", warmup=0, runs=1, clock="cpu")
