"""`edgekit sweep` (issue 14) on the small grid α {0.25, 0.5} × {96, 128} px × {none, int8}:
the same figures as `edgekit analyze` of each config, a resumed sweep does no new work, a
killed one keeps its finished rows, Ray gives the local executor's non-timing results,
validation accuracy agrees with Keras, and the outputs (JSON, CSV, plot) agree."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from edgekit.core import pareto

pytestmark = [pytest.mark.integration, pytest.mark.slow]

GRID = ["mobilenet", "--alpha", "0.25,0.5", "--resolution", "96,128", "--quant", "none,int8"]
TIMING = ["--runtime", "litert", "--runs", "5"]
NON_TIMING = ("latency_ms", "latency_p90_ms", "provider")


def _sweep(cli, out, *extra):
    r = cli("sweep", *GRID, "--profile", "stm32h7", "-o", out, "--json", *extra)
    assert r.code == 0, r.err
    return json.loads(r.out)


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    """The grid swept once with the local executor, timed on LiteRT (module-scoped: the
    cli fixture is per test, so main() is called here directly)."""
    import contextlib
    import io

    from edgekit.cli.main import main

    out = tmp_path_factory.mktemp("sweep") / "local"
    buf, code = io.StringIO(), 0
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(buf):
        mp.setenv("EDGEKIT_QUIET", "1")
        try:
            main(["sweep", *GRID, "--profile", "stm32h7", *TIMING, "-o", str(out), "--json"])
        except SystemExit as e:
            code = e.code
    assert not code, buf.getvalue()
    return out, json.loads(buf.getvalue())


def test_figures_are_those_of_analyze(cli, local):
    out, doc = local
    assert len(doc["rows"]) == 8 and doc["work"]["ran"] == 16       # 8 builds, 8 timings
    for row in doc["rows"]:
        dtype = "int8" if row["quant"] == "int8" else "float32"
        r = cli("analyze", "mobilenet", "--alpha", row["alpha"], "--resolution",
                row["resolution"], "--dtype", dtype, "--json")
        totals = json.loads(r.out)["totals"]
        assert (row["params"], row["macs"], row["peak_activation_bytes"]) == \
            (totals["params"], totals["macs"], totals["peak_activation_bytes"])
        assert row["weights_bytes"] == totals["params"] * (1 if dtype == "int8" else 4)
        assert row["file_bytes"] == os.path.getsize(row["file"])
        assert row["latency_ms"] > 0 and row["runtime"] == "litert"
        assert row["estimate_method"] == "roofline" and row["fits"] in (True, False)
    pub = {r["id"]: r["published_top1"] for r in doc["rows"]}
    assert pub["mobilenet_a0.5_r128_none"] == 56.3 and pub["mobilenet_a0.25_r128_int8"] == 39.9
    assert pub["mobilenet_a0.25_r96_none"] is None          # no 96 px v1 checkpoint
    assert doc["objectives"]["accuracy"]["key"] == "macs"   # so: MACs, said so
    assert "mobilenet_a0.25_r96_none" in doc["objectives"]["accuracy"]["source"]


def test_front_best_and_outputs_agree(local):
    out, doc = local
    rows = doc["rows"]
    objectives = [(o["key"], s) for o, s in zip(doc["objectives"].values(),
                                                ("max", "min", "min"), strict=True)]
    assert [i for i, r in enumerate(rows) if r["pareto"]] == pareto.front(rows, objectives)
    feasible = [r for r in rows if r["fits"]]
    assert [r["feasible"] for r in rows] == [bool(r["fits"]) for r in rows]
    best = max(feasible, key=lambda r: (r["macs"], -r["latency_ms"]))
    assert doc["best"] == f"{best['id']} on litert" and best["best"]
    saved = json.loads((out / "sweep.json").read_text())
    assert saved["rows"] == rows
    with open(out / "sweep.csv") as f:
        table = list(csv.DictReader(f))
    assert [t["id"] for t in table] == [r["id"] for r in rows]
    assert [t["pareto"] == "True" for t in table] == [r["pareto"] for r in rows]
    assert [int(t["macs"]) for t in table] == [r["macs"] for r in rows]
    assert (out / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_resumed_sweep_does_no_new_work(cli, local):
    out, doc = local
    lines = (out / "sweep.jsonl").read_text().count("\n")
    again = _sweep(cli, out, *TIMING)
    assert again["work"]["ran"] == 0 and again["work"]["reused"] == 16
    assert again["rows"] == doc["rows"]                      # timings reused, not re-run
    assert (out / "sweep.jsonl").read_text().count("\n") == lines
    more = _sweep(cli, out, *TIMING, "--threads", "2")       # new timing settings only
    assert more["work"]["ran"] == 8 and more["work"]["reused"] == 8


def test_ray_gives_the_local_results(cli, local, tmp_path, monkeypatch):
    pytest.importorskip("ray")
    # in-process, Ray may have been imported by an earlier test of this worker, too late for
    # the sweep's own token (a command line always is in time): Ray would then write
    # ~/.ray/auth_token, so HOME is the test's
    monkeypatch.setenv("HOME", str(tmp_path))
    out, doc = local
    r = _sweep(cli, out.parent / "ray", "--executor", "ray", "--workers", "2")
    assert r["executor"] == "ray" and r["work"]["ran"] == 8
    where = ("node", "built_on")       # Ray names the node that built it (one file)
    strip = [{k: v for k, v in row.items() if k not in NON_TIMING + ("runtime",) + where}
             for row in doc["rows"]]
    ours = [{k: v for k, v in row.items() if k not in NON_TIMING + ("runtime",) + where}
            for row in r["rows"]]
    assert all(row["built_on"] and row["node"] == row["built_on"] for row in r["rows"])
    for a, b in zip(strip, ours, strict=True):      # timing decides the front and the
        for k in ("pareto", "feasible", "best", "violates"):   # best; the rest is equal
            a.pop(k), b.pop(k)
    assert ours == strip


def test_a_killed_sweep_keeps_its_finished_rows(tmp_path):
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "edgekit", "sweep", *GRID, "-o", str(out)]
    env = {**os.environ, "EDGEKIT_QUIET": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    store = out / "sweep.jsonl"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if store.is_file() and store.read_text().count("\n") >= 2:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    kept = store.read_text().count("\n")
    assert 2 <= kept < 8, "the sweep must be killed mid-way"
    done = subprocess.run([*cmd, "--json"], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["work"]["reused"] >= kept and doc["work"]["ran"] == 8 - doc["work"]["reused"]
    assert len(doc["rows"]) == 8


def test_validation_accuracy_is_the_files(cli, tmp_path):
    """Labelled images at another size: each config's file is scored on them resized to
    its resolution; the figure is the file's own top-1, run here through LiteRT's
    interpreter by hand (labels: the file's answer for half the images, wrong for the
    rest, so the answer is 50 %)."""
    from ai_edge_litert.interpreter import Interpreter
    from sklearn.datasets import load_sample_images

    from edgekit.export.samples import fit_pixels, preprocess

    photos = load_sample_images().images
    x = np.stack([p[i * 40:i * 40 + 200, i * 60:i * 60 + 260] for p in photos
                  for i in range(4)])                 # 8 crops, 200×260
    args = ["sweep", "mobilenet", "--alpha", "0.25", "--resolution", "96", "--quant", "none",
            "-o", tmp_path / "out", "--json"]
    np.savez(tmp_path / "val.npz", x=x, y=np.zeros(len(x), int))
    r = cli(*args, "--validation", tmp_path / "val.npz")
    assert r.code == 0, r.err
    interp = Interpreter(model_path=json.loads(r.out)["rows"][0]["file"])
    interp.allocate_tensors()
    inp, outp = interp.get_input_details()[0], interp.get_output_details()[0]
    answers = []
    for img in preprocess(fit_pixels(x, (96, 96, 3)), "tf"):
        interp.set_tensor(inp["index"], img[None].astype(np.float32))
        interp.invoke()
        answers.append(int(interp.get_tensor(outp["index"]).argmax()))
    y = np.array(answers[:4] + [(a + 1) % 1000 for a in answers[4:]])
    np.savez(tmp_path / "val2.npz", x=x, y=y)
    r = cli(*args[:-3], "-o", tmp_path / "out2", "--json", "--validation", tmp_path / "val2.npz")
    doc = json.loads(r.out)
    assert doc["objectives"]["accuracy"]["source"] == "validation"
    assert doc["rows"][0]["validation_top1"] == pytest.approx(50.0)


def test_a_sweep_over_variants(cli, tmp_path):
    """Issue 30: MobileNet v3 Small and Large (α 0.35, 96 px) and EfficientNet-Lite0 at
    96 px: each row names its variant, v3's params are keras.applications' own, Lite's
    rows have no α (not a made-up 1.0) and its figures are those of `analyze`, and the
    JSON, CSV, table and HTML report show the variant."""
    from edgekit._tf import keras

    out = tmp_path / "v3"
    r = cli("sweep", "mobilenet_v3", "--variant", "small,large", "--alpha", "0.35",
            "--resolution", "96", "--quant", "none", "-o", out, "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["grid"]["variant"] == ["small", "large"] and doc["grid"]["alpha"] == [0.35]
    rows = {row["variant"]: row for row in doc["rows"]}
    assert set(rows) == {"small", "large"}
    for variant, app in (("small", keras.applications.MobileNetV3Small),
                         ("large", keras.applications.MobileNetV3Large)):
        ref = app(input_shape=(96, 96, 3), alpha=0.35, weights=None)
        assert rows[variant]["params"] == ref.count_params()
        assert rows[variant]["id"] == f"mobilenet_v3_{variant}_a0.35_r96_none"
        assert rows[variant]["published_top1"] is None     # no 96 px figure published
    with open(out / "sweep.csv") as f:
        assert [t["variant"] for t in csv.DictReader(f)] == [r["variant"] for r in doc["rows"]]

    out = tmp_path / "lite"
    r = cli("sweep", "efficientnet_lite", "--variant", "0", "--resolution", "96",
            "--quant", "none", "-o", out)
    assert r.code == 0, r.err
    assert "variant" in r.out and "α" not in r.out            # the table's columns
    doc = json.loads((out / "sweep.json").read_text())
    assert "alpha" not in doc["grid"] and doc["grid"]["variant"] == ["0"]
    (row,) = doc["rows"]
    assert "alpha" not in row and row["id"] == "efficientnet_lite_0_r96_none"
    a = json.loads(cli("analyze", "efficientnet_lite", "--variant", "0", "--resolution", "96",
                       "--json").out)["totals"]
    assert (row["params"], row["macs"], row["peak_activation_bytes"]) == \
        (a["params"], a["macs"], a["peak_activation_bytes"])
    with open(out / "sweep.csv") as f:
        (line,) = csv.DictReader(f)
    assert (line["variant"], line["alpha"]) == ("0", "")
    html = tmp_path / "r.html"
    assert cli("report", out, "-o", html).code == 0
    assert "efficientnet_lite_0_r96_none" in html.read_text()


def test_a_sweep_over_v3_minimalistic(cli, tmp_path):
    """MobileNet v3 Small, minimalistic and not (α 0.35, 96 px): each row's params are those
    of keras.applications.MobileNetV3Small(minimalistic=...), the minimalistic id says so
    and the other keeps the id a sweep gave it before, and the JSON, CSV and table show the
    setting."""
    from edgekit._tf import keras

    out = tmp_path / "v3min"
    r = cli("sweep", "mobilenet_v3", "--variant", "small", "--minimalistic", "true,false",
            "--alpha", "0.35", "--resolution", "96", "--quant", "none", "-o", out)
    assert r.code == 0, r.err
    assert "min." in r.out and "minimalistic form" in r.out  # the table's column, its note
    doc = json.loads((out / "sweep.json").read_text())
    assert doc["grid"]["minimalistic"] == [True, False]
    rows = {row["minimalistic"]: row for row in doc["rows"]}
    assert rows[True]["id"] == "mobilenet_v3_small_minimalistic_a0.35_r96_none"
    assert rows[False]["id"] == "mobilenet_v3_small_a0.35_r96_none"
    for minimal, row in rows.items():
        ref = keras.applications.MobileNetV3Small(input_shape=(96, 96, 3), alpha=0.35,
                                                  minimalistic=minimal, weights=None)
        assert row["params"] == ref.count_params()
        assert row["published_top1"] is None                  # no 96 px figure published
    assert rows[True]["macs"] < rows[False]["macs"]           # no 5x5 kernels, no SE
    with open(out / "sweep.csv") as f:
        assert [t["minimalistic"] for t in csv.DictReader(f)] == ["True", "False"]
