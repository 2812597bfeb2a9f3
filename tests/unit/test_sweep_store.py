"""The sweep's store and choices without TensorFlow: a line cut short by a kill is skipped;
the accuracy/latency sources follow the stated order; sizes parse; bad specs fail early."""

import json

import pytest

from edgekit.core.errors import UsageError
from edgekit.core.units import parse_size
from edgekit.services.sweep import Store, SweepSpec, choose


def test_store_survives_a_line_cut_short(tmp_path):
    s = Store(tmp_path)
    s.add("build", "k1", {"id": "a"})
    s.add("time", "k2", {"p50_ms": 1.5})
    with open(tmp_path / "sweep.jsonl", "a") as f:
        f.write('{"stage": "build", "key": "k3", "result": {"id"')     # killed mid-write
    again = Store(tmp_path)
    assert again.get("build", "k1") == {"id": "a"} and again.get("time", "k2")["p50_ms"] == 1.5
    assert again.get("build", "k3") is None and again.skipped == 1


def _row(i, macs, pub, lat=None, est=None, peak=100, size=1000, fits=None):
    return {"id": f"c{i}", "runtime": None, "macs": macs, "published_top1": pub,
            "validation_top1": None, "latency_ms": lat, "estimate_ms": est,
            "peak_activation_bytes": peak, "file_bytes": size, "fits": fits}


def test_objective_sources_and_limits():
    rows = [_row(0, 10, 50.0, est=5.0), _row(1, 20, 60.0, est=9.0, peak=600),
            _row(2, 30, 61.0, est=20.0, fits=False), _row(3, 15, 49.0, est=6.0)]
    spec = SweepSpec(profile="stm32h7", max_latency_ms=10.0, max_ram_bytes=512)
    doc = choose(rows, spec)
    assert doc["objectives"]["accuracy"]["source"] == "published"
    assert doc["objectives"]["latency"]["key"] == "estimate_ms"
    assert [r["pareto"] for r in rows] == [True, True, True, False]   # c3: slower, worse
    assert rows[1]["violates"] == ["ram"]
    assert rows[2]["violates"] == ["latency", "fits stm32h7"]
    assert doc["best"] == "c0"          # c1 over the RAM limit, c2 too slow and too big
    rows[0]["published_top1"] = None    # one config without a figure: MACs for all
    doc = choose(rows, SweepSpec())
    assert doc["objectives"]["accuracy"]["key"] == "macs"
    assert "c0" in doc["objectives"]["accuracy"]["source"]
    assert doc["objectives"]["latency"]["source"].startswith("macs (proxy")
    assert json.dumps(doc)


@pytest.mark.parametrize("text,expected", [("512KiB", 524288), ("2 MiB", 2097152),
                                           ("1.5MB", 1500000), ("4096", 4096), ("1k", 1024)])
def test_sizes(text, expected):
    assert parse_size(text, "--max-ram") == expected


@pytest.mark.parametrize("text", ["", "abc", "12 parsecs", "-5KiB", "0"])
def test_bad_sizes(text):
    with pytest.raises(ValueError, match="--max-ram"):
        parse_size(text, "--max-ram")


@pytest.mark.parametrize("spec,message", [
    (SweepSpec(model="resnet18"), "no --alpha"),
    (SweepSpec(quants=["int4"]), "--quant"),
    (SweepSpec(runtimes=["keras"]), "--runtime keras"),
    (SweepSpec(max_latency_ms=5.0), "--max-latency needs a latency"),
    (SweepSpec(device="pi5"), "--device: name the runtime"),
    (SweepSpec(alphas=[9.0]), "--alpha 9"),
    (SweepSpec(executor="dask"), "--executor dask"),
    (SweepSpec(workers=2), "go with --executor ray"),
    (SweepSpec(profile="no-such-board"), "unknown profile"),
])
def test_bad_specs_fail_before_any_work(spec, message, tmp_path):
    spec.out_dir = tmp_path / "out"
    with pytest.raises(UsageError, match=message):
        spec.validate()
    assert not spec.out_dir.exists()
