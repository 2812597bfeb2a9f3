"""What the user reads: the below-threshold warning's measured reasons, the terminal
tables, the per-layer chart and HTML section, from manifests shaped like export's (no
TensorFlow)."""

import io

from rich.console import Console

from edgekit.export.model_figure import message, reasons
from edgekit.report.export import render_export
from edgekit.report.per_layer import html_section, plot_per_layer, render_per_layer


def _art(fmt="tflite", ties=1.0, kept=None):
    rows = [{"layer": "conv1", "op": "Conv2D", "sqnr_db": 42.7, "cosine": 1.0,
             "max_abs_error": 0.01, "step": 0.0023, "clipped_share": 0.0,
             "collapsed_share": 0.0, "isolated_sqnr_db": 42.7, "isolated_cosine": 1.0},
            {"layer": "conv2", "op": "Conv2D", "sqnr_db": 38.0, "cosine": 0.9999,
             "max_abs_error": 620.0, "step": 26.5, "clipped_share": 0.0,
             "collapsed_share": 0.97, "isolated_sqnr_db": 1.3, "isolated_cosine": 0.2},
            {"layer": "pool", "op": "MaxPooling2D", "sqnr_db": 0.1, "cosine": 0.13,
             "max_abs_error": 14.0, "step": 0.0966, "clipped_share": 0.0,
             "collapsed_share": 0.97, "isolated_sqnr_db": "inf", "isolated_cosine": 1.0}]
    return {"file": f"m_int8.{fmt}", "format": fmt, "quant": "int8", "bytes": 17000,
            "size_ratio_to_fp32_weights": 0.5, "fidelity_ok": False, "total_seconds": 1.0,
            "fidelity": {"top1_agreement": 0.32, "cosine": 0.878, "sqnr_db": 6.2,
                         "max_abs_err": 0.8, "on": "logits",
                         "logits": "the output of reshape (the softmax's input)"},
            "fidelity_output": {"top1_agreement": 0.08, "cosine": 0.99, "sqnr_db": 3.0,
                                "max_abs_err": 0.004, "on": "output",
                                "output_step": 1 / 256, "output_tie_share": ties},
            "per_layer": rows,
            "per_layer_summary": "worst layer: conv2 (Conv2D), isolated SQNR 1.3 dB: 97% "
                                 "of its output channels collapse to one level",
            "quantization": {"int8_bytes_without_keep_float": 16000} if kept else {},
            **({"kept_float": kept} if kept else {})}


def _manifest(*arts):
    return {"model": {"name": "m"}, "out_dir": "out", "artifacts": list(arts),
            "validation": {"labels": False, "source": "8 samples", "keras_accuracy": None}}


def _text(render, manifest) -> str:
    buf = io.StringIO()
    render(manifest, Console(file=buf, width=140, color_system=None))
    return buf.getvalue()


def test_the_warning_gives_the_measured_reason():
    text = reasons(_art())
    assert "32.0% (cosine 0.8780, SQNR 6.2 dB on the logits)" in text
    assert "step 0.00391" in text and "on 100% of samples" in text
    assert "8.0% top-1 on the output" in text
    assert "tie" not in reasons(_art(ties=0.0))            # nothing measured, nothing said
    assert "untrained zoo weights" in message([_art()], 0.9, untrained=True)
    assert "--per-layer" in message([_art()], 0.9, untrained=False)


def test_the_tables_say_what_the_figures_are_on():
    text = _text(render_export, _manifest(_art(), _art("onnx", kept=["conv2", "dw"])))
    assert "top-1 out" in text and "are on the logits (the output of reshape" in text
    assert "kept float: conv2, dw, +1000 B against plain int8" in text
    layers = _text(render_per_layer, _manifest(_art()))
    assert "conv2" in layers and "97%" in layers and "inf" in layers
    assert "Worst layer: conv2 (Conv2D)" in layers


def test_the_chart_and_the_html_section(tmp_path):
    manifest = _manifest(_art(), _art("onnx"))
    plot_per_layer(manifest, tmp_path / "chart.svg")
    svg = (tmp_path / "chart.svg").read_text()
    assert "<svg" in svg and "worst: conv2" in svg
    html = html_section(manifest, 1)
    assert html.count("<polyline") == 4 and "worst layer: conv2" in html
    assert html_section(_manifest({**_art(), "per_layer": None}), 1) == ""


def test_keep_float_auto_that_misses_its_target_says_what_it_measured():
    art = _art(kept=["conv1", "conv2"])
    art["quantization"] = {"keep_float_reached": False, "keep_float_steps": [
        {"kept_float": [], "bytes": 16000, "accuracy": None, "sqnr_db": 6.1},
        {"kept_float": ["conv1", "conv2"], "bytes": 17000, "accuracy": None,
         "sqnr_db": 7.9}]}
    text = " ".join(_text(render_export, _manifest(art)).split())
    assert "kept float: conv1, conv2, +1000 B against plain int8" in text
    assert "target not reached: with 2 layers in float the file still has SQNR 7.9 dB" in text


def test_keep_float_auto_picks_the_worst_then_what_its_output_feeds():
    """next_layers: the worst isolated layer first; when it is already float, the layers
    its output feeds (through a padding folded into the next op, which has no row)."""
    from edgekit.export.keep_float import next_layers
    from edgekit.export.per_layer import Group, KerasGraph

    kg = KerasGraph([Group("a", "Conv2D", ["a"], [""]), Group("pad", "ZeroPadding2D",
                                                               ["pad"], ["a"]),
                     Group("b", "DepthwiseConv2D", ["b"], ["pad"]),
                     Group("c", "Conv2D", ["c"], ["b"])])
    rows = [{"layer": "a", "isolated_sqnr_db": 1.0}, {"layer": "b", "isolated_sqnr_db": 30},
            {"layer": "c", "isolated_sqnr_db": 20}]
    assert next_layers(rows, [], kg) == ["a"]
    assert next_layers(rows, ["a"], kg) == ["b"]             # not the padding
    assert next_layers(rows, ["a", "b"], kg) == ["c"]
    assert next_layers(rows, ["a", "b", "c"], kg) == []


def test_the_per_layer_sample_count_fits_the_memory_budget():
    from types import SimpleNamespace

    from edgekit.export import per_layer
    from edgekit.export.per_layer import Group, KerasGraph, sample_count

    def model(shape):
        layer = SimpleNamespace(output=SimpleNamespace(shape=(None, *shape)))
        return SimpleNamespace(get_layer=lambda name: layer)

    kg = KerasGraph([Group("a", "Conv2D", ["a"], [""])])
    assert sample_count(model((8, 8, 16)), kg, 497) == per_layer.MAX_SAMPLES
    assert sample_count(model((8, 8, 16)), kg, 100) == 100
    big = (112, 112, 64)                      # 3.2 MB a sample, three copies kept
    n = sample_count(model(big), kg, 497)
    assert n == per_layer.MEMORY_BUDGET // (3 * 4 * 112 * 112 * 64)
    assert n * 3 * 4 * 112 * 112 * 64 <= per_layer.MEMORY_BUDGET
    assert sample_count(model((2000, 2000, 64)), kg, 497) == per_layer.MIN_SAMPLES


def _per_layer_doc():
    import json

    a = _art()
    doc = {"schema": 1, "kind": "edgekit export manifest", "model": {"name": "m"},
           "artifacts": [{**a, "sha256": "ab" * 32}]}
    return json.loads(json.dumps(doc, allow_nan=False))


def test_a_mutated_per_layer_manifest_renders_or_names_the_key(tmp_path):
    """The report reads per-layer rows from a file a user may have edited: every mutation
    (the peer suite's: a key deleted, a value replaced by NaN, inf, a string, a list...)
    renders, or is one line naming the file."""
    import json

    from hypothesis import HealthCheck, given, settings

    from tests.unit.test_user_files import mutated, page_or_refusal

    @settings(max_examples=150, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(mutated(_per_layer_doc()))
    def check(doc):
        path = tmp_path / "manifest.json"
        path.write_text(json.dumps(doc))
        page = page_or_refusal(path)
        assert page is None or page.startswith("<!DOCTYPE html>")

    check()
