"""`edgekit analyze` and `edgekit build` end to end."""

import csv
import json

import pytest

SMALL = ["mobilenet", "--alpha", "0.25", "--resolution", "96"]


def test_analyze_prints_table_totals_and_conventions(cli):
    r = cli("analyze", "mobilenet", "--alpha", "0.25")
    assert r.code == 0, r.err
    assert "conv_dw_13" in r.out and "DepthwiseConv2D" in r.out
    assert "475,544" in r.out            # keras.applications' count at alpha=0.25
    assert "41,030,272" in r.out         # the paper's 41 M multiply-adds
    assert "Peak" in r.out or "peak" in r.out
    assert "multiply-accumulates" in r.out  # the conventions under the table


def test_analyze_json_schema(cli):
    r = cli("analyze", *SMALL, "--json", "--batch", "4", "--dtype", "int8")
    assert r.code == 0, r.err
    d = json.loads(r.out)
    assert d["schema"] == 1
    assert d["model"]["name"] == "mobilenet" and d["model"]["knobs"]["alpha"] == 0.25
    assert d["model"]["input_shape"] == [96, 96, 3] and d["model"]["batch"] == 4
    t = d["totals"]
    assert t["flops"] == 2 * t["macs"]
    assert t["macs"] == 4 * sum(layer["macs"] // 4 for layer in d["layers"])
    first = d["layers"][0]
    assert first["activation_bytes"] == 4 * 96 * 96 * 3  # batch 4, int8
    assert t["weight_bytes"]["int8"] == t["params"]


def test_batch_scales_peak_memory(cli):
    one = json.loads(cli("analyze", *SMALL, "--json").out)["totals"]
    eight = json.loads(cli("analyze", *SMALL, "--json", "--batch", "8").out)["totals"]
    assert eight["peak_activation_bytes"] == 8 * one["peak_activation_bytes"]
    assert eight["macs"] == 8 * one["macs"] and eight["params"] == one["params"]


def test_csv_and_plot(cli, tmp_path):
    out_csv, out_png = tmp_path / "layers.csv", tmp_path / "layers.png"
    r = cli("analyze", "squeezenet", "--version", "1.1", "--resolution", "96",
            "--csv", out_csv, "--plot", out_png, "--summary")
    assert r.code == 0, r.err
    rows = list(csv.DictReader(out_csv.open()))
    assert rows[1]["name"] == "conv1" and int(rows[1]["macs"]) > 0
    assert sum(int(row["params"]) for row in rows) == json.loads(
        cli("analyze", "squeezenet", "--version", "1.1", "--resolution", "96", "--json").out
    )["totals"]["params"]
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob(".*.part"))


def test_build_then_analyze_the_file(cli, tmp_path):
    path = tmp_path / "sq.keras"
    r = cli("build", "squeezenet", "--version", "1.1", "--resolution", "64", "-o", path)
    assert r.code == 0, r.err
    assert "1,235,496 params" in r.out
    from_file = json.loads(cli("analyze", path, "--json").out)
    from_zoo = json.loads(cli("analyze", "squeezenet", "--version", "1.1",
                              "--resolution", "64", "--json").out)
    assert from_file["model"]["source"] == "file"
    for key in ("params", "macs", "peak_activation_bytes", "activation_bytes_total"):
        assert from_file["totals"][key] == from_zoo["totals"][key]


def test_build_refuses_a_bad_output_name(cli, tmp_path):
    r = cli("build", "resnet18", "-o", tmp_path / "r.h5")
    assert r.code == 2 and "must end in .keras" in r.err
    (tmp_path / "a_file").write_text("x")
    r = cli("build", "resnet18", "-o", tmp_path / "a_file" / "r.keras")
    assert r.code == 2 and "a_file is not a folder" in r.err    # issue 11: missing folders
    r = cli("build", "lenet5", "-o", tmp_path / "new" / "l.keras")  # are created everywhere
    assert r.code == 0 and (tmp_path / "new" / "l.keras").is_file()


@pytest.mark.parametrize("content", [b"", b"not a zip at all", b"PK\x03\x04truncated"])
def test_corrupt_keras_files_are_one_line(cli, tmp_path, content):
    path = tmp_path / "bad.keras"
    path.write_bytes(content)
    r = cli("analyze", path)
    assert r.code == 1
    assert len(r.err_lines) == 1 and r.err.startswith("edgekit: error: cannot load Keras model")


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_loading_never_executes_code_from_the_file(cli, keras, tmp_path, suffix):
    marker = tmp_path / "pwned"
    x_in = keras.Input((4,))
    body = eval(f"lambda x: (__import__('pathlib').Path({str(marker)!r}).touch(), x)[1]")
    evil = keras.layers.Lambda(body, name="evil")
    model = keras.Model(x_in, evil(x_in))
    marker.unlink()  # the Lambda ran once while the model was built
    path = tmp_path / f"evil{suffix}"
    model.save(path)
    r = cli("analyze", path)
    assert r.code == 1 and "safe_mode" in r.err and len(r.err_lines) == 1
    assert not marker.exists()
