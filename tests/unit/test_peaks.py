"""'% of peak' compares a model with the peak of its own arithmetic (issue 23): a
full-integer model (int8/uint8 input) with the calibrated int8 peak, any other with the
fp32 one, and no fraction where that peak is unknown. Generated rows against the
profile's numbers."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgekit.bench.run import Setting, Subject, entry
from edgekit.core.device_profiles import host_peak_gmacs


def _timed(dtype: str, p50_ms: float) -> dict:
    return {"first_ms": 1.0, "samples_ms": [p50_ms], "provider": "xnnpack", "load_ms": 1.0,
            "rss_delta_mb": 0.0, "state": {}, "batch": 1, "input": {"dtype": dtype},
            "latency_ms": {"p50": p50_ms}}


@given(dtype=st.sampled_from(["float32", "int8", "uint8", "float16"]),
       macs=st.integers(1, 10**10), p50=st.floats(0.01, 1e4),
       fp32=st.floats(0.1, 1e4), int8=st.one_of(st.none(), st.floats(0.1, 1e5)))
def test_fraction_of_the_peak_of_its_own_kind(dtype, macs, p50, fp32, int8):
    row = entry(Subject("m", {}, macs=macs), Setting("litert", 1, None, None),
                _timed(dtype, p50), {"float32": fp32, "int8": int8})
    gmacs = macs / (p50 * 1e-3) / 1e9
    assert row["gmacs_per_s"] == pytest.approx(gmacs)
    peak = int8 if dtype in ("int8", "uint8") else fp32
    if peak is None:
        assert "fraction_of_peak" not in row
    else:
        assert row["fraction_of_peak"] == pytest.approx(gmacs / peak)


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
