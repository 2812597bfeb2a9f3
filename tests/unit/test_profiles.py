import math

import pytest

from edgekit.core.device_profiles import (
    Profile,
    all_profiles,
    estimate,
    fit,
    get_profile,
    load_profile,
    roofline,
)
from edgekit.core.errors import UsageError
from tests.unit.test_records import small_report

SHIPPED = {"raspberry-pi-4", "raspberry-pi-5", "jetson-orin-nano", "snapdragon-8-gen-2",
           "stm32h7", "nrf52840"}


def test_shipped_profiles_load_and_cite_sources():
    profiles = all_profiles()
    assert SHIPPED <= set(profiles)
    for name in SHIPPED:
        p = profiles[name]
        text = p.path.read_text()
        assert text.count("#") >= 4, f"{name}: every number needs its source"
        assert p.peak_gflops_fp32 > 0 and p.bandwidth_gbs > 0
    assert get_profile("rpi4").name == "raspberry-pi-4"
    assert get_profile("nrf52").ram_bytes == 256 * 1024


def test_unknown_profile_suggests():
    with pytest.raises(UsageError, match="unknown profile 'raspberry-pi-3'.*raspberry-pi-4"):
        get_profile("raspberry-pi-3")


@pytest.mark.parametrize("text, message", [
    ("name = 'x'\ntitle = 'X'\nkind = 'mcu'\n[compute\n", "invalid TOML"),
    ("title = 'X'\nkind = 'mcu'\n", "key 'name': missing"),
    ("name = 'x'\ntitle = 'X'\nkind = 'toaster'\n", "key 'kind': expected one of 'host'"),
    ("name = 'x'\ntitle = 'X'\nkind = 'mcu'\n[compute]\npeak_gflops_fp32 = -1\n",
     r"key 'compute.peak_gflops_fp32': expected a number > 0 .* \(GFLOP/s\), got -1"),
    ("name = 'x'\ntitle = 'X'\nkind = 'mcu'\n[compute]\npeak_gflops_fp32 = nan\n",
     r"key 'compute.peak_gflops_fp32': expected a number > 0 .*, got nan"),
    ("name = 'x'\ntitle = 'X'\nkind = 'mcu'\n[compute]\npeak_gflops_fp32 = 1\n",
     r"key 'memory': missing \(expected a table\)"),
])
def test_broken_profiles_get_a_clear_error(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(UsageError, match=message):
        load_profile(path)


def toy(**kw):
    base = dict(name="toy", title="Toy", kind="mcu", peak_gflops_fp32=1.0, peak_gops_int8=4.0,
                bandwidth_gbs=1.0, ram_bytes=1000, storage_bytes=10_000, path=None)
    base.update(kw)
    return Profile(**base)


def test_roofline_by_hand():
    p = toy()
    # 1e6 MACs = 2e6 FLOP at 1 GFLOP/s = 2 ms; 1e5 bytes at 1 GB/s = 0.1 ms
    r = roofline(1_000_000, 100_000, p, "float32")
    assert math.isclose(r["compute_s"], 2e-3) and math.isclose(r["memory_s"], 1e-4)
    assert r["bound"] == "compute" and r["time_s"] == r["compute_s"]
    assert math.isclose(roofline(1_000_000, 100_000, p, "int8")["compute_s"], 0.5e-3)
    assert roofline(10, 10**7, p, "float32")["bound"] == "memory"


def test_fit_verdicts():
    p = toy()
    assert fit(10_000, 1000, p)["fits"]
    f = fit(10_001, 999, p)
    assert not f["fits"] and not f["weights_fit"] and f["activations_fit"]


def test_estimate_over_a_report():
    rep = small_report()
    est = estimate(rep, toy())
    assert len(est["layers"]) == len(rep.layers)
    assert est["layers"][3]["time_s"] == 0.0  # the flatten view moves nothing
    conv = est["layers"][1]
    # conv: 6912 MACs -> 13824 FLOP at 1e9/s; bytes: in 192*4 + out 256*4 + 108 params*4
    assert math.isclose(conv["compute_s"], 13824 / 1e9)
    assert math.isclose(conv["memory_s"], (192 + 256 + 108) * 4 / 1e9)
    assert est["fit"]["weights_bytes"] == 4 * rep.totals()["params"]
    assert est["fit"]["peak_activation_bytes"] == rep.totals()["peak_activation_bytes"]


def _typed_report(input_dtype: str, weight_dtype: str):
    from edgekit.core.records import LayerRecord, Report

    layers = [LayerRecord(0, "ids", "Input", output_shape=(16,), act_dtype=input_dtype),
              LayerRecord(1, "embed", "Gather", ["ids"], [(16,)], (16, 8),
                          params_trainable=100 * 8, weight_dtype=weight_dtype),
              LayerRecord(2, "fc", "MatMul", ["embed"], [(16, 8)], (16, 4),
                          params_trainable=32, macs=16 * 8 * 4, weight_dtype=weight_dtype)]
    return Report({"name": "m"}, layers, batch_in_shapes=True)


def test_every_element_type_estimates():
    # any element type a reader reports (an int64 token input, bool masks, int4 weights,
    # a string tensor, an unknown '?') is estimated, weights at their stored size
    from edgekit.core.counting import ELEMENT_BITS

    pi = get_profile("pi5")
    for dtype in [*ELEMENT_BITS, "string", "?"]:
        est = estimate(_typed_report(dtype, dtype), pi)
        assert math.isfinite(est["time_s"]) and est["time_s"] > 0, dtype
        want = -(-832 * ELEMENT_BITS.get(dtype, 32) // 8) if dtype in ELEMENT_BITS else 832 * 4
        assert est["fit"]["weights_bytes"] == want, dtype


def test_one_rule_for_integer_arithmetic_in_the_estimate_and_the_peak_fraction():
    # a dynamic-range layer (float activations, int8 weights) runs an integer GEMM: the
    # roofline estimate and bench's fraction of the peak both take the int8 peak for it
    from edgekit.core.counting import ELEMENT_BITS
    from edgekit.core.device_profiles import INTEGER_WEIGHTS, arithmetic_dtype, peak_seconds

    p = get_profile("pi5")
    for act in ELEMENT_BITS:
        for weight in ELEMENT_BITS:
            integer = act in INTEGER_WEIGHTS or weight in INTEGER_WEIGHTS
            report = _typed_report(act, weight)
            report.layers[2].act_dtype = act                   # fc's own activations
            est = estimate(report, p)
            fc = next(x for x in est["layers"] if x["name"] == "fc")
            peak = (p.peak_gops_int8 if integer and p.peak_gops_int8 else p.peak_gflops_fp32)
            assert math.isclose(fc["compute_s"], 2 * 16 * 8 * 4 / (peak * 1e9)), (act, weight)
            assert arithmetic_dtype(act, weight) == ("int8" if integer else "float32")
    peaks = {"float32": 10.0, "int8": 40.0}
    assert math.isclose(peak_seconds(1000, 600, peaks), 400 / 10e9 + 600 / 40e9)
