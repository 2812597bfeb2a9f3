"""One way to read a user file (core.schema): every file kind edgekit reads, started from a
valid document (the shipped profiles, what edgekit's own writers produce) and mutated by
hypothesis (a key deleted; a value replaced by NaN, ±inf, a negative, huge, zero, empty,
a list, a table, a bool, unicode junk, nested garbage). Either it loads and every number in
it is finite and in range, or it is one usage line naming the file and the key; never a
KeyError, TypeError or ValueError."""

import copy
import html
import json
import math
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgekit.core import device_profiles as P
from edgekit.core import devices as D
from edgekit.core import lut as L
from edgekit.core.errors import UsageError
from edgekit.core.schema import SchemaError

PROFILES = sorted((Path(__file__).resolve().parents[2] / "profiles").glob("*.toml"))
FUZZ = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])

REPLACEMENTS = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf, -1, -34.0, 0, 0.0, 1e308, 10**30, "",
                     " ", [], {}, True, False, "nan", "١٢", "\u202e\x00junk",
                     {"a": {"b": [math.nan, {}]}}, [[[]]]]),
    st.text(max_size=8), st.floats(), st.integers(),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3),
                                                          st.integers(), max_size=2))


def _paths(doc, prefix=()):
    """Every (path) to a value in a nested document."""
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:3]):
            yield from _paths(v, (*prefix, i))


@st.composite
def mutated(draw, doc):
    """``doc`` with one to three mutations: a key deleted or a value replaced."""
    doc = json.loads(json.dumps(doc))
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for k in path[:-1]:
            parent = parent[k]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            # a copy: the sampled constants ([], {}, ...) must never be shared or mutated
            # (a shared list inserted into itself makes a cycle)
            parent[path[-1]] = copy.deepcopy(draw(REPLACEMENTS))
    return doc


def _numbers(doc):
    if isinstance(doc, bool):
        return
    if isinstance(doc, int | float):
        yield doc
    elif isinstance(doc, dict):
        for v in doc.values():
            yield from _numbers(v)
    elif isinstance(doc, list):
        for v in doc:
            yield from _numbers(v)


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) \
            else repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"


def to_toml(doc: dict, prefix: str = "") -> str:
    """A small TOML writer for the tests: scalars first, then sub-tables."""
    lines = [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in doc.items()
             if not isinstance(v, dict) or not v]
    for k, v in doc.items():
        if isinstance(v, dict) and v:
            name = f"{prefix}.{json.dumps(k)}" if prefix else json.dumps(k)
            if any(not isinstance(x, dict) or not x for x in v.values()):
                lines.append(f"[{name}]")
            lines.append(to_toml(v, name))
    return "\n".join(lines) + "\n"


def loaded_or_refused(path: Path, text: str, load):
    """``load(path)`` of a file that holds ``text``, or None when it is refused as it must
    be: one usage line (exit 2) naming the file."""
    path.write_text(text)
    try:
        return load(path)
    except UsageError as e:
        assert e.exit_code == 2, repr(e)
        assert "\n" not in str(e) and str(path) in str(e), str(e)
        return None


# ---- device profiles ------------------------------------------------------------------------

def _profile_doc(path: Path) -> dict:
    import tomllib

    return tomllib.loads(path.read_text())


@FUZZ
@given(st.sampled_from(PROFILES).flatmap(lambda p: mutated(_profile_doc(p))))
def test_a_profile_toml_loads_sane_or_names_the_key(tmp_path, doc):
    p = loaded_or_refused(tmp_path / "pi5.toml", to_toml(doc), P.load_profile)
    if p is None:
        return
    for v in (p.peak_gflops_fp32, p.bandwidth_gbs, p.ram_bytes, p.storage_bytes):
        assert math.isfinite(v) and v > 0
    assert p.peak_gops_int8 is None or math.isfinite(p.peak_gops_int8) and p.peak_gops_int8 > 0


def test_every_shipped_profile_loads_and_the_writer_round_trips(tmp_path):
    for f in PROFILES:
        path = tmp_path / f.name
        path.write_text(to_toml(_profile_doc(f)))
        assert P.load_profile(path).name == P.load_profile(f).name


def test_the_issue_example():
    with pytest.raises(SchemaError, match=r"pi5.toml: key 'compute.peak_gflops_fp32': "
                                          r"expected a number > 0 .*\(GFLOP/s\), got nan$"):
        doc = _profile_doc(PROFILES[0])
        doc["compute"]["peak_gflops_fp32"] = math.nan
        from edgekit.core.schema import check

        check(doc, P.PROFILE_SCHEMA, "profiles/pi5.toml")


# ---- devices.toml ---------------------------------------------------------------------------

def _devices_doc(tmp_path) -> dict:
    import tomllib

    devices = {"pi5": D.make_device("pi5", "ssh://pi@raspberrypi.local:22", "python3",
                                    ["IdentityFile=~/.ssh/pi"], "pi5"),
               "jet": D.make_device("jet", "ssh://jetson", "/opt/venv/bin/python3")}
    D.save_devices(devices, tmp_path / "seed.toml")
    return tomllib.loads((tmp_path / "seed.toml").read_text())


@FUZZ
@given(data=st.data())
def test_devices_toml_loads_sane_or_names_the_key(tmp_path, data):
    doc = data.draw(mutated(_devices_doc(tmp_path)))
    found = loaded_or_refused(tmp_path / "devices.toml", to_toml(doc), D.load_devices)
    if found is None:
        return
    for d in found.values():
        assert d.url.startswith("ssh://") and isinstance(d.python, str) and d.python


# ---- latency tables -------------------------------------------------------------------------

def _table_doc() -> dict:
    kernel = {"key": "CONV_2D|int8|k", "kind": "CONV_2D|int8", "op": "CONV_2D", "macs": 1000,
              "work": 1000.0, "features": [0.0, 2.3, 2.3, 1.1], "ms": 0.25, "sources": [0, 1]}
    return {"format": L.FORMAT, "version": L.VERSION, "name": "host", "runtime": "litert",
            "threads": 1, "models": [
                {"model": "mobilenet", "dtype": "int8", "whole_ms": 2.0, "sum_ms": 2.5},
                {"model": "mobilenet", "dtype": "int8", "whole_ms": 3.0, "sum_ms": None}],
            "kernels": [kernel, dict(kernel, key="CONV_2D|int8|k2", ms=0.5, work=2000.0)]}


@FUZZ
@given(mutated(_table_doc()))
def test_a_latency_table_loads_sane_or_names_the_key(tmp_path, doc):
    # NaN/Infinity are written: Python's json allows it
    t = loaded_or_refused(tmp_path / "pi5.lut.json", json.dumps(doc), L.Table.load)
    if t is None:
        return
    for k in t.data["kernels"]:
        assert math.isfinite(k["ms"]) and k["ms"] >= 0 and k["work"] > 0
    for m in t.data["models"]:
        assert m.get("whole_ms") is None or m["whole_ms"] > 0
    a, b = t.correction("int8")
    assert math.isfinite(a) and math.isfinite(b)


# ---- the sweep store ------------------------------------------------------------------------

def build_row(i: int = 0, folder: Path | None = None) -> dict:
    path = str((folder or Path("/nonexistent")) / f"m{i}.tflite")
    return {"id": f"mobilenet_a0.25_r{96 + i}_int8", "model": "mobilenet", "alpha": 0.25,
            "resolution": 96 + i, "quant": "int8", "params": 470000, "macs": 7000000 + i,
            "peak_activation_bytes": 100000, "weights_bytes": 470000,
            "files": {"litert": {"path": path, "bytes": 5, "sha256": "ab" * 32}},
            "fidelity": {"litert": {"top1_agreement": 0.9, "cosine": 0.99, "sqnr_db": "inf"}},
            "fidelity_samples": 10, "published": None, "build_s": 1.0}


@FUZZ
@given(mutated({"stage": "build", "key": "k1", "result": build_row()}))
def test_a_store_line_is_kept_sane_or_skipped_with_its_reason(tmp_path, line):
    from edgekit.services.sweep import Store

    folder = tmp_path / "s"
    folder.mkdir(exist_ok=True)
    (folder / "sweep.jsonl").write_text(json.dumps(line) + "\n")
    s = Store(folder)
    if s.skipped:
        assert len(s.problems) == 1 and "sweep.jsonl line 1" in s.problems[0]
        assert "\n" not in s.problems[0]
        return
    for n in _numbers(s.records):
        assert math.isfinite(n)


# ---- report inputs --------------------------------------------------------------------------

def sweep_doc() -> dict:
    from edgekit.services.sweep import SweepSpec, _document, flat_row

    rows = [flat_row(build_row(i), None, None) for i in range(3)]
    return json.loads(json.dumps(_document(SweepSpec(), rows, {"ran": 3}, Path("s.jsonl"))))


def analysis_doc() -> dict:
    from edgekit.report.analysis import to_json
    from tests.unit.test_records import small_report

    return json.loads(to_json(small_report(), None, None))


def _report_docs():
    docs = [sweep_doc(), analysis_doc()]
    docs.append({"schema": 1, "results": [
        {"model": "m", "runtime": "litert", "provider": "xnnpack", "threads": 1, "batch": 1,
         "latency_ms": {"p50": 1.5, "p90": 2.0, "p99": 2.5}, "samples_ms": [1.4, 1.5, 2.6],
         "gmacs_per_s": 3.0}], "environment": {"cpu": "x"}})
    docs.append({"schema": 1, "artifacts": [
        {"file": "m.tflite", "format": "tflite", "quant": "int8", "bytes": 10,
         "sha256": "ab" * 32, "fidelity": {"top1_agreement": 0.9, "cosine": 0.99,
                                           "sqnr_db": "inf"}}], "model": {"name": "m"}})
    return docs


@FUZZ
@given(st.sampled_from(_report_docs()).flatmap(mutated))
def test_a_report_input_renders_or_names_the_key(tmp_path, doc):
    path = tmp_path / "in.json"
    path.write_text(json.dumps(doc))
    page = page_or_refusal(path)
    if page is None:
        return
    assert page.startswith("<!DOCTYPE html>")
    # no NaN printed as a number (a name the document gives, "nan" or "Nanjing", is text)
    text = page.lower().split("<script")[0]
    for s in sorted(_strings(doc), key=len, reverse=True):
        text = text.replace(html.escape(s).lower(), " ")
    assert not re.search(r"\bnan\b", text)


def page_or_refusal(path: Path) -> str | None:
    """The report page of an input file, or None when it is refused, as it must be: in one
    line naming the file."""
    from edgekit.report.html import ReportInputError, load_input, render_page

    try:
        return render_page(load_input(path))
    except (UsageError, ReportInputError) as e:
        assert "\n" not in str(e) and str(path) in str(e), str(e)
        return None


def _strings(doc) -> set[str]:
    if isinstance(doc, str):
        return {doc}
    if isinstance(doc, dict):
        return set(doc) | {s for v in doc.values() for s in _strings(v)}
    if isinstance(doc, list):
        return {s for v in doc for s in _strings(v)}
    return set()


def test_the_valid_report_inputs_render(tmp_path):
    from edgekit.report.html import load_input, render_page

    for i, doc in enumerate(_report_docs()):
        (tmp_path / f"{i}.json").write_text(json.dumps(doc))
        assert render_page(load_input(tmp_path / f"{i}.json"))


def test_compare_formats_json_is_named_not_a_key_error(tmp_path):
    from edgekit.report.html import ReportInputError, load_input

    (tmp_path / "c.json").write_text(json.dumps({"schema": 1, "model": {}, "totals": {
        "keras": {"params": 1}}, "layers": [], "macs_agree": True}))
    with pytest.raises(ReportInputError, match="compare-formats"):
        load_input(tmp_path / "c.json")


# ---- bench --compare files ------------------------------------------------------------------

def _bench_doc() -> dict:
    row = {"model": "mobilenet", "runtime": "litert", "provider": None, "threads": 1,
           "batch": 1, "file": "m.tflite", "latency_ms": {"p50": 1.5, "p90": 1.7, "p99": 2.0,
                                                         "mean": 1.55, "stdev": 0.1, "cv": 0.06}}
    return {"schema": 1, "environment": {"cpu": "x86", "versions": {"numpy": "2.0"}},
            "results": [row, dict(row, runtime="onnxruntime", provider="cpu", threads=2)]}


@FUZZ
@given(mutated(_bench_doc()))
def test_a_bench_compare_file_loads_sane_or_names_the_key(tmp_path, doc):
    """bench --compare: a previous 'bench --json' file, hand-edited or not, either loads and
    compares (every change finite, a verdict) or is one line naming the file and the key."""
    from edgekit.report import bench as R

    loaded = loaded_or_refused(tmp_path / "previous.json", json.dumps(doc), R.load_previous)
    if loaded is None:
        return
    previous, environment = loaded
    results = [{"model": k[0], "runtime": k[1], "provider": k[2], "threads": k[3],
                "batch": k[4], "latency_ms": {"p50": 1.6, "stdev": 0.05}} for k in previous]
    R.compare_rows(results, previous)
    for r in results:
        assert math.isfinite(r["compare"]["change"])
        assert r["compare"]["verdict"] in ("same", "slower", "faster")
    R.fingerprint_changes(environment, {"cpu": "arm"})
