"""The sweep's store and choices without TensorFlow: a line cut short by a kill is skipped;
the accuracy/latency sources follow the stated order; sizes parse; bad specs fail early."""

import json

import pytest

from edgekit.core.errors import UsageError
from edgekit.core.units import parse_size
from edgekit.services.sweep import Store, SweepSpec, choose


def test_store_survives_a_line_cut_short(tmp_path):
    from tests.unit.test_user_files import build_row

    s = Store(tmp_path)
    s.add("build", "k1", build_row(0))
    s.add("time", "k2", {"runtime": "litert", "p50_ms": 1.5, "p90_ms": 2.0})
    with open(tmp_path / "sweep.jsonl", "a") as f:
        f.write('{"stage": "build", "key": "k3", "result": {"id"')     # killed mid-write
    again = Store(tmp_path)
    assert again.get("build", "k1") == build_row(0) and again.get("time", "k2")["p50_ms"] == 1.5
    assert again.get("build", "k3") is None and again.skipped == 1
    # resumed: the next record is not swallowed by the cut line, and every record is kept
    again.add("build", "k4", build_row(4))
    third = Store(tmp_path)
    assert third.skipped == 0 and again.repaired > 0
    assert {k for _, k in third.records} == {"k1", "k2", "k4"}


def _entry(path, data: bytes, node=None) -> dict:
    import hashlib

    return {"path": str(path), "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
            "node": node}


def test_a_cleared_or_changed_cache_is_rebuilt_not_trusted(tmp_path):
    """A stored build is reused only while each file it names here is that file (size and
    sha256): gone, or another file of the same size, means build again; a file left on a
    Ray node counts only when this sweep needs it here (to time it)."""
    from edgekit.services.sweep_store import forget_missing_files
    from tests.unit.test_user_files import build_row

    s = Store(tmp_path)
    rows = {}
    for name, data, written, node in [("here", b"12345", b"12345", None),
                                      ("gone", b"12345", None, None),
                                      ("changed", b"12345", b"54321", None),
                                      ("on-node", b"12345", None, "node-b")]:
        path = tmp_path / f"{name}.tflite"
        if written is not None:
            path.write_bytes(written)
        rows[name] = build_row(1, tmp_path) | {"files": {"litert": _entry(path, data, node)}}
        s.add("build", name, rows[name])
    forget_missing_files(s, list(rows))
    assert {k for _, k in s.records} == {"here", "on-node"}
    forget_missing_files(s, list(rows), needed=["litert"])    # timed here: must be here
    assert {k for _, k in s.records} == {"here"}
    again = Store(tmp_path)                 # the node field survives the store's schema
    assert again.get("build", "on-node")["files"]["litert"]["node"] == "node-b"


@pytest.mark.parametrize("x, y, message", [
    ("good", [0, 1, 2000], "outside the model's 1000 classes"),
    ("good", [0, 1, -1], "outside the model's"),
    ("good", ["a", "b", "c"], "integer class indices"),
    ("good", [0.5, 1, 2], "integer class indices"),
    ("nan", [0, 1, 2], "NaN or infinite"),
    ("big", [0, 1, 2], "pixel values 0..255"),
])
def test_sweep_validation_data_is_checked_like_export(tmp_path, x, y, message):
    import numpy as np

    images = np.full((3, 8, 8, 3), 100.0, np.float32)
    if x == "nan":
        images[1, 2, 3, 0] = np.nan
    if x == "big":
        images[0, 0, 0, 0] = 300
    np.savez(tmp_path / "v.npz", x=images, y=np.array(y))
    spec = SweepSpec(alphas=[0.25], resolutions=[96], validation=tmp_path / "v.npz",
                     out_dir=tmp_path / "out")
    with pytest.raises(UsageError, match=message):
        spec.validate()


def test_a_nan_limit_is_refused_by_the_service_too():
    with pytest.raises(UsageError, match=r"--max-latency nan: must be a number > 0 .*\(ms\)"):
        SweepSpec(profile="stm32h7", max_latency_ms=float("nan")).validate()


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
    (dict(model="resnet18"), "no --alpha"),
    (dict(quants=["int4"]), "--quant"),
    (dict(runtimes=["keras"]), "--runtime keras"),
    (dict(max_latency_ms=5.0), "--max-latency needs a latency"),
    (dict(device="pi5"), "--device: name the runtime"),
    (dict(alphas=[9.0]), "--alpha 9"),
    (dict(executor="dask"), "--executor dask"),
    (dict(workers=2), "go with --executor ray"),
    (dict(executor="ray", workers=2, ray_address="head:6379"), "CPUs of a local Ray"),
    (dict(profile="no-such-board"), "unknown profile"),
    (dict(executor="ray", ray_timeout="60"), "--ray-timeout bounds connecting"),
    (dict(executor="ray", ray_address="head:6379", ray_timeout="0"), "--ray-timeout"),
    (dict(executor="ray", ray_address="head:6379", ray_timeout="nan"), "--ray-timeout"),
    (dict(minimalistic=["maybe"]), "--minimalistic maybe: must be true or false"),
    (dict(minimalistic=[True]), "--minimalistic: mobilenet has no --minimalistic knob"),
])
def test_bad_specs_fail_before_any_work(spec, message, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(UsageError, match=message) as e:
        SweepSpec(out_dir=out, **spec).validate()    # made, then checked: one line each
    assert "\n" not in str(e.value) and not out.exists()


def test_ray_missing_is_refused_before_any_work(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "ray" else real(name, *a))
    spec = SweepSpec(executor="ray", out_dir=tmp_path / "out")
    with pytest.raises(UsageError, match=r"--executor ray needs Ray: pip install"):
        spec.validate()
    assert not spec.out_dir.exists()
