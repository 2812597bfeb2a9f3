"""A config that fails leaves the others (issue 24), without TensorFlow: the build is
replaced by a stand-in that fails for a generated subset of configs. Whatever fails, the
rest are stored and on the front, the failures are listed with where and why, the command
exits 1 with one line after writing its outputs, and the rerun builds only what failed. The
Ray task's body reports any failure as data naming the node."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgekit.core.errors import EdgekitError, ModelFileError, UsageError
from edgekit.services import sweep as S
from edgekit.services.sweep_ray import _build_here
from tests.unit.test_user_files import build_row

CONFIGS = 4     # α 0.25 × {96, 128} × {none, int8}
# edgekit's own errors and what a library or a bug raises: the local executor keeps going
# for both, as the Ray task body does
ERRORS = st.sampled_from([EdgekitError, UsageError, ModelFileError, ValueError,
                          PermissionError, KeyError])


def _stand_in(failing: dict, calls: list):
    def build(config, settings, validation=None):
        calls.append(config["id"])
        if config["id"] in failing:
            raise failing[config["id"]](f"cannot convert {config['id']}")
        row = build_row(0) | {k: config[k] for k in ("id", "alpha", "resolution", "quant")}
        row["files"] = {"litert": {**row["files"]["litert"], "node": "elsewhere"}}
        return row                       # its file is 'elsewhere': not needed, not checked

    return build


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fail=st.lists(st.booleans(), min_size=CONFIGS, max_size=CONFIGS), error=ERRORS)
def test_failed_configs_leave_the_others(tmp_path_factory, monkeypatch, fail, error):
    out = tmp_path_factory.mktemp("failures") / "out"
    spec = dict(alphas=[0.25], resolutions=[96, 128], quants=["none", "int8"], out_dir=out)
    ids = [c["id"] for c in S.SweepSpec(**spec).validate().configs]
    failing = {i: error for i, f in zip(ids, fail, strict=True) if f}
    calls = []
    monkeypatch.setattr(S, "build_config", _stand_in(failing, calls))
    doc = S.sweep(S.SweepSpec(**spec))
    assert [r["id"] for r in doc["rows"]] == [i for i in ids if i not in failing]
    assert {f["id"]: f["where"] for f in doc["failed"]} == {i: "this machine" for i in failing}
    said = "" if issubclass(error, EdgekitError) else f"{error.__name__}: "
    assert all(f["reason"].replace("'", "") == f"{said}cannot convert {f['id']}"
               for f in doc["failed"])
    assert doc["work"]["failed"] == len(failing) and json.dumps(doc, allow_nan=False)
    assert [r for r in doc["rows"] if r["best"]] or not doc["rows"] or doc["best"] is None
    calls.clear()
    monkeypatch.setattr(S, "build_config", _stand_in({}, calls))
    again = S.sweep(S.SweepSpec(**spec))
    assert calls == [i for i in ids if i in failing] and not again["failed"]
    assert [r["id"] for r in again["rows"]] == ids


@pytest.mark.parametrize("failing", [["int8"], ["none", "int8"]])
@pytest.mark.parametrize("as_json", [True, False])
def test_the_command_writes_then_exits_1_with_one_line(cli, tmp_path, monkeypatch, failing,
                                                       as_json):
    import warnings

    ids = [f"mobilenet_a0.25_r96_{q}" for q in failing]
    calls = []
    monkeypatch.setattr(S, "build_config", _stand_in(dict.fromkeys(ids, EdgekitError), calls))
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # a plot with nothing on it warns nothing
        r = cli("sweep", "mobilenet", "--alpha", "0.25", "--resolution", "96", "-o",
                tmp_path / "out", *(["--json"] if as_json else []))
    assert r.code == 1
    lines = [ln for ln in r.err_lines if not ln.startswith("wrote ")]
    assert lines == [f"edgekit: error: {len(ids)} of 2 rows failed (first: {ids[0]} on this "
                     f"machine: cannot convert {ids[0]}); rerun the same command to retry them"]
    saved = json.loads((tmp_path / "out" / "sweep.json").read_text())
    assert len(saved["rows"]) == 2 - len(ids) and [f["id"] for f in saved["failed"]] == ids
    if as_json:
        assert saved == json.loads(r.out)
    else:
        assert all(f"✗ {i}: build failed on this machine" in r.out for i in ids)
    store = tmp_path / "out" / "sweep.jsonl"
    assert (store.read_text().count("\n") if store.exists() else 0) == 2 - len(ids)


@pytest.mark.parametrize("raised, reason", [
    (EdgekitError("no space left on /cache"), "no space left on /cache"),
    (PermissionError(13, "Permission denied"), "PermissionError: [Errno 13] Permission denied"),
    (ValueError("line one\nline two"), "ValueError: line one"),
])
def test_a_failure_on_a_node_is_data_naming_it(monkeypatch, raised, reason):
    import edgekit.services.sweep_build as B
    from edgekit.export.cache import versions_digest

    def build(*a, **k):
        raise raised

    monkeypatch.setattr(B, "build_config", build)
    out = _build_here("node-b (10.0.0.2, node abcd1234)", {"id": "c"}, {}, None, (),
                      versions_digest())
    assert out == {"node": "node-b (10.0.0.2, node abcd1234)", "error": reason}


def test_a_node_with_other_versions_is_refused():
    out = _build_here("node-b", {"id": "c"}, {}, None, (), "0" * 12)
    assert out["node"] == "node-b" and "versions of edgekit" in out["error"]


def test_a_nodes_file_is_sent_only_when_it_is_the_rows(monkeypatch, tmp_path):
    import hashlib

    import edgekit.services.sweep_build as B
    from edgekit.export.cache import versions_digest

    f = tmp_path / "m.tflite"
    f.write_bytes(b"model")
    sha = hashlib.sha256(b"model").hexdigest()
    row = {"id": "c", "files": {"litert": {"path": str(f), "bytes": 5, "sha256": sha},
                                "onnxruntime": {"path": str(f), "bytes": 5, "sha256": sha}}}
    monkeypatch.setattr(B, "build_config", lambda *a, **k: json.loads(json.dumps(row)))
    out = _build_here("n", {"id": "c"}, {}, None, ("litert",), versions_digest())
    assert out["blobs"] == {"litert": b"model"}          # only what the driver times
    assert {f["node"] for f in out["row"]["files"].values()} == {"n"}
    row["files"]["litert"]["sha256"] = "0" * 64            # the file is not the row's
    out = _build_here("n", {"id": "c"}, {}, None, ("litert",), versions_digest())
    assert "changed while it was read" in out["error"]
