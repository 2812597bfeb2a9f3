"""A name the user gave (model, layer, output, device, file) reaches the terminal as it is
typed, in every renderer: never read as Rich markup (``[red]``, ``[/]``), a link or an emoji
code (``:smile:``). Each renderer draws a document whose user fields all carry one hostile
name, on a plain Rich console (emoji codes on, as Rich has them by default), and the name
must be in the text verbatim; a table's title stays one line when piped."""

import io
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from edgekit.report import bench, catalog, compare, devices, export, per_layer, sweep

HOSTILE = ["[red]x[/red]", "[bold]", ":smile:", "[/]", "[link=x]", "a[b]c:+1:", "\\[dim]"]


def _text(draw) -> str:
    buf = io.StringIO()
    draw(Console(file=buf, width=200, color_system=None))
    return buf.getvalue()


def _fidelity(name: str) -> dict:
    return {"top1_agreement": 0.5, "cosine": 0.99, "sqnr_db": 20.0, "max_abs_err": 0.1,
            "on": "logits", "logits": f"the output of {name}", "output": name,
            "input_floor_sqnr_db": 30.0, "accuracy": 0.5}


def _manifest(name: str, several: bool = False) -> dict:
    art = {"file": f"{name}.tflite", "format": "tflite", "quant": "int8", "bytes": 1000,
           "size_ratio_to_fp32_weights": 0.25, "fidelity_ok": False, "total_seconds": 1.0,
           "fidelity": _fidelity(name), "fidelity_output": {"top1_agreement": 0.5},
           "kept_float": [name],
           "quantization": {"int8_bytes_without_keep_float": 900, "keep_float_reached": False,
                            "keep_float_missed": {"says": f"missed on {name}"}},
           "per_layer": [{"layer": name, "op": name, "sqnr_db": 10.0, "cosine": 0.9,
                          "max_abs_error": 0.5, "step": 0.01, "clipped_share": 0.0,
                          "collapsed_share": 0.0, "isolated_sqnr_db": 1.0,
                          "isolated_cosine": 0.5}],
           "per_layer_summary": f"worst layer: {name}"}
    if several:
        art |= {"fidelity_outputs": [_fidelity(name), _fidelity("other")],
                "worst_output": name}
    return {"model": {"name": name, "format": "onnx"}, "out_dir": f"out/{name}",
            "artifacts": [art], "min_agreement": 0.9,
            "validation": {"labels": True, "source": f"{name}.npz", "keras_accuracy": 0.5}}


def _bench(name: str) -> dict:
    r = {"model": f"{name}.onnx", "runtime": "onnxruntime", "provider": name, "threads": 1,
         "batch": 1, "latency_ms": {"p50": 1.0, "p90": 1.1, "p99": 1.2}, "cv": 0.01,
         "throughput_items_s": 1000.0, "load_ms": 5.0, "first_run_ms": 2.0,
         "estimate_ms": 1.0, "measured_over_estimate": 1.0, "estimate_profile": name,
         "compare": {"change": 0.1, "verdict": "slower"}}
    return {"environment": {"cpu": name, "usable_cores": 2}, "device": {"name": name},
            "results": [r, r | {"model": f"b{name}.onnx"}], "compared_environment": [name]}


def _profiles(name: str) -> list[dict]:
    ort = {"file": name, "total_ms": 1.0, "runtime": name, "provider": name, "runs": 3,
           "device": {"name": name},
           "by_op": [{"op": name, "ms": 1.0, "share": 1.0}, {"op": "subgraph", "ms": 0.1,
                                                              "share": 0.1}]}
    layers = ort | {"layers": [{"layer": name, "op": name, "ms": 1.0, "share": 1.0,
                                "macs": 10, "gmacs_per_s": 1.0}]}
    nodes = ort | {"nodes": [{"node": name, "op": name, "ms": 1.0, "share": 1.0}]}
    isolated = {"file": name, "ops": [{"op_index": 0, "op": name, "layer": name, "name": name,
                                       "ms": 1.0, "share": 1.0, "macs": 10,
                                       "gmacs_per_s": 1.0, "delegated": True}],
                "runtime": name, "provider": name, "threads": 1, "runs": 3,
                "device": {"name": name}, "whole_ms": 1.0, "sum_ms": 1.0,
                "sum_over_whole": 1.0,
                "by_op": [{"op": name, "count": 1, "ms": 1.0, "share": 1.0, "macs": 10,
                           "gmacs_per_s": 1.0}],
                "not_isolated": [{"op_index": 1, "op": name, "reason": name}]}
    return [layers, nodes, isolated]


def _sweep(name: str) -> dict:
    row = {"best": True, "pareto": True, "feasible": True, "variant": name, "alpha": 1.0,
           "resolution": 96, "quant": "int8", "runtime": name, "macs": 10, "params": 10,
           "peak_activation_bytes": 10, "file_bytes": 10, "sqnr_db": 30.0,
           "published_top1": 0.5, "validation_top1": None, "estimate_ms": None, "fits": None,
           "latency_ms": 1.0}
    return {"model": name, "device": name, "rows": [row],
            "objectives": {"accuracy": {"source": name}, "latency": {"source": name}},
            "grid": {"variant": [name], "runtime": [name]}, "limits": {},
            "best": name, "store": name,
            "work": {"ran": 1, "reused": 0, "seconds": 1.0},
            "failed": [{"id": name, "runtime": name, "stage": "time", "where": name,
                        "reason": name}]}


def _device(name: str):
    return SimpleNamespace(name=name, url=f"ssh://{name}", python=name, ssh_options=[name],
                           profile=name)


def _check(name: str) -> dict:
    fp = {"hostname": name, "machine": name, "os": name, "kernel": name, "board": name,
          "cpu": name, "usable_cores": 1, "cores": 1, "python": name, "versions": {}}
    return {"device": {"name": name, "url": name, "code": name, "fingerprint": fp,
                       "runtimes": {"litert": name, "onnxruntime": name, "providers": [name],
                                    "problems": {}},
                       "session": {"session_s": 1.0, "connect_s": 0.5}}}


def _renderings(name: str) -> dict:
    """Every renderer with a document whose user fields all carry ``name``."""
    profile = SimpleNamespace(name=name, kind=name, peak_gflops_fp32=1.0, peak_gops_int8=None,
                              bandwidth_gbs=1.0, ram_bytes=1, storage_bytes=1, title=name,
                              path=name)
    model = SimpleNamespace(name=name, family=name, paper=name,
                            knobs=[SimpleNamespace(name="a", flag="--a", kind=float,
                                                   default=name)])
    totals = {"params": 1, "macs": 1, "peak_activation_bytes": 1, "layers": 1}
    lut = {"name": name, "device": {"name": name}, "runtime": name, "provider": name,
           "threads": 1, "kernels": [], "seconds": 1.0,
           "models": [{"model": name, "alpha": 1.0, "resolution": 96, "quant": name,
                       "whole_ms": 1.0, "sum_ms": 1.0}]}
    return {
        "export": lambda c: export.render_export(_manifest(name), c),
        "export, several outputs": lambda c: export.render_export(_manifest(name, True), c),
        "per layer": lambda c: per_layer.render_per_layer(_manifest(name), c),
        "bench": lambda c: bench.render_bench(_bench(name), c),
        **{f"profile {k}": (lambda c, p=p: bench.render_profile(p, c))
           for k, p in zip(("layers", "nodes", "isolated"), _profiles(name), strict=True)},
        "latency table": lambda c: bench.render_lut(lut, c),
        "sweep": lambda c: sweep.render_sweep(_sweep(name), c),
        "compare": lambda c: compare.render_compare(
            {"model": {"name": name}, "totals": {f: totals for f in ("keras", "onnx",
                                                                     "tflite")},
             "macs_agree": False, "notes": [name],
             "layers": [{"layer": name, "op": name, "keras": 1, "onnx": 2, "tflite": 1}]}, c),
        "devices": lambda c: devices.render_devices({name: _device(name)}, name, c),
        "device check": lambda c: devices.render_check(_check(name), c),
        "models": lambda c: catalog.render_models([model], c),
        "profiles": lambda c: catalog.render_profiles({name: profile}, c),
        "profile file": lambda c: catalog.render_profile_file(profile, name, c),
    }


CASES = [(renderer, name) for name in HOSTILE for renderer in _renderings(name)]


@pytest.mark.parametrize(("renderer", "name"), CASES)
def test_a_hostile_name_is_printed_as_it_is(renderer, name):
    text = _text(_renderings(name)[renderer])
    assert name in text, text
    assert "😄" not in text and "👍" not in text


def test_a_long_title_is_one_line_when_piped():
    """Wider than the table's columns, narrower than the console: one line, as typed."""
    title = "m" * 170 + " [red]x[/red]"
    for draw in (lambda c: export.render_export(_manifest(title), c),
                 lambda c: sweep.render_sweep(_sweep(title), c),
                 lambda c: devices.render_devices({"d": _device("d")}, title, c)):
        first = _text(draw).splitlines()[0]
        assert title in first, first


@pytest.mark.parametrize("name", HOSTILE)
def test_analyze_prints_a_hostile_layer_name_as_it_is(tmp_path, cli, name):
    """Through the command: the layer table, the totals (peak at the layer) and the
    estimate on a device (the slowest layers) of an ONNX whose node is named ``name``."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((8, 3, 3, 3), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], [name], name=name, pads=[1, 1, 1, 1])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, 8, 16, 16])], [w])
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    r = cli("analyze", path, "--profile", "raspberry-pi-5")
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert any(line.split()[1:2] == [name] for line in lines if line[:1].strip()), r.out
    assert any("peak activations" in line and f"at {name} " in line for line in lines)
    assert any(line.strip().startswith(f"slowest: {name} ") for line in lines), r.out
    assert "😄" not in r.out and "👍" not in r.out


@settings(max_examples=60, deadline=None)
@given(width=st.integers(60, 180), scale=st.floats(1e-3, 1e5), several=st.booleans(),
       verdict=st.sampled_from(["same", "slower", "faster"]))
def test_bench_table_keeps_every_cell_whole_at_any_width(width, scale, several, verdict):
    # a bench table at any terminal width and any size of figures (a slow board: 5-digit
    # load times): its optional columns go before any cell is cut, then cells fold onto
    # a second line, so the comparison's verdict and every latency are whole (each row on
    # one line from 100 columns); a narrow terminal says what it left out
    r = {"model": "m.tflite", "runtime": "litert", "provider": "xnnpack", "threads": 1,
         "batch": 1, "latency_ms": {"p50": scale, "p90": scale * 1.1, "p99": scale * 1.2},
         "cv": 0.01, "throughput_items_s": 1000.0 / scale, "load_ms": 3e3 * scale,
         "first_run_ms": 2.0 * scale, "p50_ci95_ms": [scale * 0.99, scale * 1.01],
         "gmacs_per_s": 1.5, "compare": {"change": 0.123, "verdict": verdict}}
    rows = [r, r | {"model": "other_model.tflite"}] if several else [r]
    buf = io.StringIO()
    bench.render_bench({"environment": {"cpu": "cpu", "usable_cores": 2}, "results": rows},
                       Console(file=buf, width=width, color_system=None))
    out = buf.getvalue()
    table = out.split("latency per call")[0]
    assert "…" not in table, table
    words = table.split()
    assert words.count("+12.3%") == len(rows) and words.count(verdict) == len(rows), table
    if width >= 100:                      # each row on one line
        assert table.count(f"{scale * 1.2:.3f}") >= len(rows), table
        assert table.count(f"+12.3% {verdict}") == len(rows), table
    if "load ms" not in table:
        assert "--json" in out.split("latency per call")[1]
