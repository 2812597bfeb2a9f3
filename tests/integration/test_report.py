"""`edgekit report` (issue 15) from real JSON of small models (analyze, export, bench,
profile, sweep), opened in a real headless Chromium: no console error, no request but the
page itself, the sections and numbers of the JSON, sorting and filtering work; a
screenshot is saved (EDGEKIT_SCREENSHOTS=DIR keeps it)."""

import json
import os
import shutil

import pytest

from tests.integration.browser import Browser, executable

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SMALL = ["mobilenet", "--alpha", "0.25", "--resolution", "96"]


@pytest.fixture(scope="module")
def documents(tmp_path_factory):
    import contextlib
    import io

    from edgekit.cli.main import main

    d = tmp_path_factory.mktemp("report")

    def run(*args):
        buf = io.StringIO()
        with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(buf):
            mp.setenv("EDGEKIT_QUIET", "1")
            try:
                main([str(a) for a in args])
            except SystemExit as e:
                assert not e.code, buf.getvalue()
        return buf.getvalue()

    (d / "a.json").write_text(run("analyze", *SMALL, "--dtype", "int8", "--profile",
                                  "stm32h7", "--json"))
    (d / "a2.json").write_text(run("analyze", "mobilenet", "--alpha", "0.5",
                                   "--resolution", "96", "--dtype", "int8", "--json"))
    run("export", *SMALL, "--quant", "none,int8", "-n", "8", "-o", d / "export")
    (d / "b.json").write_text(run("bench", *SMALL, "--runtime", "litert,onnxruntime",
                                  "--runs", "30", "--json"))
    (d / "p.json").write_text(run("profile", *SMALL, "--runtime", "litert", "--runs", "5",
                                  "--json"))
    run("sweep", "mobilenet", "--alpha", "0.25", "--resolution", "96,128", "--quant", "int8",
        "--profile", "stm32h7", "-o", d / "sweep")
    return d


def _screenshot(page, tmp_path, name):
    path = tmp_path / name
    page.screenshot(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    keep = os.environ.get("EDGEKIT_SCREENSHOTS")
    if keep:
        os.makedirs(keep, exist_ok=True)
        shutil.copy(path, keep)


@pytest.mark.skipif(executable() is None, reason="no Chromium (make test installs it)")
def test_report_in_a_real_browser(cli, documents, tmp_path):
    d = documents
    page_path = tmp_path / "report.html"
    r = cli("report", d / "a.json", d / "b.json", d / "p.json", d / "export", d / "sweep",
            "-o", page_path)
    assert r.code == 0, r.err
    a = json.loads((d / "a.json").read_text())
    b = json.loads((d / "b.json").read_text())
    sweep = json.loads((d / "sweep" / "sweep.json").read_text())
    manifest = json.loads((d / "export" / "manifest.json").read_text())
    with Browser() as browser:
        page = browser.open(page_path)
        assert page.problems() == []
        assert page.requests() == [page_path.resolve().as_uri()]      # nothing else
        ids = page.js("Array.from(document.querySelectorAll('section')).map(s => s.id)")
        assert ids == ["model-0", "layers-0", "bench-0", "profile-0", "export-0", "sweep-0"]
        model = page.js("document.querySelector('#model-0').innerText")
        assert f"{a['totals']['params']:,}" in model and f"{a['totals']['macs']:,}" in model
        rows = page.js("document.querySelectorAll('#layers-0 table.layers tbody tr').length")
        assert rows == len(a["layers"])
        peak = page.js("document.querySelector('#layers-0 tr.peak').cells[1].textContent")
        assert peak.startswith(a["totals"]["peak_at_layer"])
        # sort by MACs, descending: the first row is the layer with the most MACs
        page.js("var th = document.querySelectorAll('#layers-0 table.layers th')[5];"
                "th.click(); th.click();")
        top = page.js("document.querySelector('#layers-0 table.layers tbody tr')"
                      ".cells[1].textContent")
        assert top == max(a["layers"], key=lambda x: x["macs"])["name"]
        page.js("var s = document.querySelector('#layers-0 select.opfilter');"
                "s.value = 'DepthwiseConv2D'; s.dispatchEvent(new Event('change'));")
        shown = page.js("Array.from(document.querySelectorAll('#layers-0 table.layers tbody "
                        "tr')).filter(r => !r.hidden).length")
        assert shown == sum(x["op"] == "DepthwiseConv2D" for x in a["layers"]) == 13
        p50s = page.js("Array.from(document.querySelectorAll('#bench-0 table.sortable tbody "
                       "tr')).map(r => r.cells[5].textContent)")
        assert p50s == [f"{x['latency_ms']['p50']:.3g}" for x in b["results"]]
        assert page.js("document.querySelectorAll('#bench-0 svg circle').length") == sum(
            len(x["samples_ms"]) for x in b["results"])
        files = page.js("Array.from(document.querySelectorAll('#export-0 table.sortable tbody tr'))"
                        ".map(r => r.cells[0].textContent)")
        assert files == [x["file"] for x in manifest["artifacts"]]
        best = page.js("document.querySelector('#sweep-0 strong').textContent")
        assert best == sweep["best"]
        assert page.js("document.querySelectorAll('#sweep-0 svg circle').length") == 2
        assert page.js("document.querySelectorAll('#layers-0 svg polyline').length") == 1
        assert page.problems() == []
        _screenshot(page, tmp_path, "report.png")


@pytest.mark.skipif(executable() is None, reason="no Chromium (make test installs it)")
def test_compare_and_a_commands_own_page(cli, documents, tmp_path):
    d = documents
    r = cli("report", "--compare", d / "a.json", d / "a2.json", "-o", tmp_path / "c.html")
    assert r.code == 0, r.err
    old, new = (json.loads((d / f).read_text()) for f in ("a.json", "a2.json"))
    r = cli("analyze", *SMALL, "--report", tmp_path / "own.html")
    assert r.code == 0, r.err
    with Browser() as browser:
        page = browser.open(tmp_path / "c.html")
        assert page.problems() == [] and len(page.requests()) == 1
        cells = page.js("Array.from(document.querySelectorAll('#compare-0 table')[0].tBodies[0]"
                        ".rows).map(r => [r.cells[0].textContent, r.cells[1].textContent, "
                        "r.cells[2].textContent])")
        macs = next(c for c in cells if c[0] == "macs")
        assert macs == ["macs", f"{old['totals']['macs']:,}", f"{new['totals']['macs']:,}"]
        _screenshot(page, tmp_path, "compare.png")
        own = browser.open(tmp_path / "own.html")
        assert own.problems() == []
        assert own.js("Array.from(document.querySelectorAll('section')).map(s => s.id)") == \
            ["model-0", "layers-0"]


def test_bad_inputs(cli, tmp_path):
    (tmp_path / "x.json").write_text('{"hello": 1}')
    for args, msg in [((), "at least one"), ((tmp_path / "nope.json",), "not found"),
                      ((tmp_path / "x.json",), "not an edgekit document"),
                      (("--compare", tmp_path / "x.json"), "two inputs"),
                      ((tmp_path,), "holds no manifest.json")]:
        r = cli("report", *args, "-o", tmp_path / "r.html")
        assert r.code == 2 and len(r.err_lines) == 1 and msg in r.err, r.err
    assert not (tmp_path / "r.html").exists()
