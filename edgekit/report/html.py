"""`edgekit report`: one self-contained HTML page from edgekit's JSON documents (analyze,
export manifest, bench, profile, sweep), and the differences between two of them.

Everything is inline: CSS, a few lines of JavaScript (sorting, filtering) and the charts as
SVG drawn here. No network, no CDN: the page opens on an air-gapped machine and prints.
Colours are the Okabe-Ito palette (distinguishable with colour-vision deficiencies); every
axis has its unit.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from edgekit.core.numbers import dumps
from edgekit.core.units import nbytes, si
from edgekit.report.html_parts import Plot, bar, esc, kv, num, table, ticks

PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442",
           "#000000"]


class ReportInputError(ValueError):
    """An input that is not one of edgekit's JSON documents."""


# ---- reading the inputs ---------------------------------------------------------------------

def load_input(path: Path) -> list[tuple[str, str, dict]]:
    """(kind, label, document) of a JSON file, or of the documents an output folder holds
    (an export folder's manifest.json, a sweep folder's sweep.json)."""
    path = Path(path)
    if path.is_dir():
        found = [p for p in (path / "manifest.json", path / "sweep.json") if p.is_file()]
        if not found:
            raise ReportInputError(f"{path} holds no manifest.json or sweep.json")
        return [x for p in found for x in load_input(p)]
    from edgekit.core import documents as D
    from edgekit.core.reading import InputFileError, read_input_text
    from edgekit.core.schema import SchemaError, parse_json

    try:   # registered as an input: no output of this command may be written onto it
        text = read_input_text(path, kind="JSON")
    except InputFileError as e:
        raise ReportInputError(f"cannot read {e}") from None
    try:
        doc = parse_json(text, str(path))
    except SchemaError as e:
        raise ReportInputError(f"cannot read {path} as JSON: {str(e).split(': ', 1)[1]}"
                               ) from None
    try:   # each document's schema is its home's (core/documents.py)
        kind = D.kind_of(doc)
    except D.DocumentError as e:
        raise ReportInputError(f"{path}: {e}") from None
    return [(kind, str(path), D.BY_KIND[kind].check(doc, path))]


def memory_chart(timeline: dict) -> str:
    live = timeline["live_bytes"]
    from edgekit.report.analysis import byte_unit

    unit, scale = byte_unit(max(live))
    p = Plot(list(range(len(live))), [v / scale for v in live], "execution step (layer)",
              f"live activations ({unit})", y0=0)
    pts = " ".join(f"{p.px(i):.1f},{p.py(v / scale):.1f}" for i, v in enumerate(live))
    peak = max(range(len(live)), key=live.__getitem__)
    order = timeline.get("order") or []
    p.parts.append(f'<polyline points="{pts}" fill="none" stroke="{PALETTE[0]}" '
                   f'stroke-width="1.5"/>')
    p.parts.append(f'<circle cx="{p.px(peak):.1f}" cy="{p.py(live[peak] / scale):.1f}" r="4" '
                   f'fill="{PALETTE[1]}"><title>peak: {esc(" ".join(order[peak:peak + 1]))}, '
                   f'{nbytes(live[peak])}</title></circle>')
    return p.svg("live activation memory at each step")


def latency_chart(rows: list[dict]) -> str:
    """One horizontal strip per row: every timed run as a dot, the p50 as a bar."""
    rows = [r for r in rows if r.get("samples_ms")]
    if not rows:
        return ""
    top = max(max(r["samples_ms"]) for r in rows)
    W, L, R, step = 720, 230, 20, 26
    H = 40 + step * len(rows)
    parts = []
    for t in ticks(0, top):
        x = L + t / top * (W - L - R) if top else L
        parts.append(f'<line x1="{x:.1f}" y1="10" x2="{x:.1f}" y2="{H - 30}" class="grid"/>'
                     f'<text x="{x:.1f}" y="{H - 16}" text-anchor="middle">{num(t)}</text>')
    for i, r in enumerate(rows):
        y = 22 + i * step
        colour = PALETTE[i % len(PALETTE)]
        label = f"{r['model']} | {r['runtime']} ×{r['threads']}"
        parts.append(f'<text x="{L - 6}" y="{y + 4}" text-anchor="end">{esc(label[-34:])}'
                     f'</text>')
        for s in r["samples_ms"][:2000]:
            parts.append(f'<circle cx="{L + s / top * (W - L - R):.1f}" cy="{y}" r="1.6" '
                         f'fill="{colour}" fill-opacity="0.45"/>')
        p50 = r["latency_ms"]["p50"]
        parts.append(f'<line x1="{L + p50 / top * (W - L - R):.1f}" y1="{y - 8}" '
                     f'x2="{L + p50 / top * (W - L - R):.1f}" y2="{y + 8}" stroke="#000" '
                     f'stroke-width="2"><title>p50 {p50:.3g} ms</title></line>')
    parts.append(f'<text x="{(L + W - R) / 2}" y="{H - 2}" text-anchor="middle" '
                 f'class="label">latency per run (ms); bar: p50</text>')
    return (f'<svg viewBox="0 0 {W} {H}" role="img" aria-label="latency distributions" '
            f'class="chart"><title>latency distributions</title>{"".join(parts)}</svg>')


def pareto_chart(doc: dict) -> str:
    rows = doc["rows"]
    acc, lat = doc["objectives"]["accuracy"]["key"], doc["objectives"]["latency"]["key"]
    rows = [r for r in rows if r.get(acc) is not None and r.get(lat) is not None]
    if not rows:
        return ""

    def v(r, k):
        return r[k] / 1e6 if k == "macs" else r[k]

    from edgekit.report.sweep import axis_labels

    xl, yl = axis_labels(lat, acc)
    p = Plot([v(r, lat) for r in rows], [v(r, acc) for r in rows], xl, yl, x0=0)
    limit = doc["limits"].get("max_latency_ms")
    if limit is not None and lat != "macs" and limit < p.x1:
        x = p.px(limit)
        p.parts.append(f'<rect x="{x:.1f}" y="{p.T}" width="{p.W - p.R - x:.1f}" '
                       f'height="{p.H - p.T - p.B}" class="over"><title>over --max-latency '
                       f'{limit:g} ms</title></rect>')
    front = sorted((r for r in rows if r["pareto"]), key=lambda r: v(r, lat))
    if front:
        pts = []
        for a, b in zip(front, front[1:] + [None], strict=True):
            pts.append(f"{p.px(v(a, lat)):.1f},{p.py(v(a, acc)):.1f}")
            if b is not None:
                pts.append(f"{p.px(v(b, lat)):.1f},{p.py(v(a, acc)):.1f}")
        p.parts.append(f'<polyline points="{" ".join(pts)}" fill="none" stroke="#000" '
                       f'stroke-opacity="0.6"/>')
    quants = list(dict.fromkeys(r["quant"] for r in rows))
    for r in rows:
        c = PALETTE[quants.index(r["quant"]) % len(PALETTE)]
        fill = c if r["feasible"] else "none"
        p.parts.append(f'<circle cx="{p.px(v(r, lat)):.1f}" cy="{p.py(v(r, acc)):.1f}" r="5" '
                       f'fill="{fill}" stroke="{c}" stroke-width="1.5"><title>{esc(r["id"])}'
                       f'{" (" + esc(r["runtime"]) + ")" if r.get("runtime") else ""}: '
                       f'{num(v(r, lat))} / {num(v(r, acc))}'
                       f'{"; over " + esc(", ".join(r["violates"])) if r["violates"] else ""}'
                       f'</title></circle>')
        if r["best"]:
            p.parts.append(f'<text x="{p.px(v(r, lat)) + 8:.1f}" y="{p.py(v(r, acc)) - 8:.1f}"'
                           f' class="best">★ {esc(r["id"])}</text>')
    legend = " ".join(f'<span class="key" style="--c:{PALETTE[i % len(PALETTE)]}">{esc(q)}'
                      f'</span>' for i, q in enumerate(quants))
    return (p.svg("Pareto front") + f'<p class="legend">{legend} · hollow: over a limit · '
            "line: the Pareto front · shaded: over --max-latency</p>")


# ---- sections -------------------------------------------------------------------------------

def _section(sid: str, title: str, body: str, source: str) -> str:
    return (f'<section id="{esc(sid)}" data-kind="{esc(sid.split("-")[0])}"><h2>{esc(title)}</h2>'
            f'<p class="source">from {esc(source)}</p>{body}</section>')


def analysis_sections(doc: dict, source: str, n: int) -> list[str]:
    m, t = doc["model"], doc["totals"]
    model = kv([("model", m.get("target") or m.get("name")), ("format", m.get("format")),
                 ("input shape", "×".join(str(d) for d in m.get("input_shape", []))),
                 ("batch", m.get("batch")), ("activation dtype", m.get("act_dtype")),
                 ("knobs", ", ".join(f"{k}={v}" for k, v in (m.get("knobs") or {}).items())),
                 ("paper", m.get("paper")), ("params", t["params"]),
                 ("trainable params", t["trainable_params"]), ("MACs", t["macs"]),
                 ("FLOPs", t["flops"]), ("peak activation memory",
                                         nbytes(t["peak_activation_bytes"])),
                 ("peak at layer", t["peak_at_layer"]),
                 ("weights fp32 / fp16 / int8", " / ".join(
                     nbytes(t["weight_bytes"][k]) for k in ("fp32", "fp16", "int8")))])
    conventions = "".join(f"<li>{esc(c)}</li>" for c in doc.get("conventions", []))
    prof = doc.get("profile")
    if prof:
        model += kv([(f"estimate on {prof.get('profile')}",
                       f"{prof['time_s'] * 1e3:.3g} ms ({prof.get('method', 'roofline')})"),
                      ("fits", prof.get("fit", {}).get("fits"))])
    layers = doc["layers"]
    top = {k: max([r[k] for r in layers] + [1]) for k in ("params", "macs", "activation_bytes")}
    ops = sorted({r["op"] for r in layers})
    rows = [[r["index"], r["name"], r["op"], "×".join(map(str, r["output_shape"])),
             bar(r["params"], top["params"], PALETTE[2], si(r["params"])),
             bar(r["macs"], top["macs"], PALETTE[0], si(r["macs"])),
             bar(r["activation_bytes"], top["activation_bytes"], PALETTE[4],
                  nbytes(r["activation_bytes"]))] for r in layers]
    peak = t["peak_at_layer"]
    listing = table(["#", "layer", "op", "output", "params", "MACs", "activation"], rows,
                   "layers", row_attrs=lambda i: f' data-op="{esc(layers[i]["op"])}"' + (
                       ' class="peak" title="peak memory here"'
                       if layers[i]["name"] == peak else ""),
                   numeric={"#", "params", "MACs", "activation"})
    select = ('<label>op type <select class="opfilter"><option value="">all</option>'
              + "".join(f'<option value="{esc(o)}">{esc(o)}</option>' for o in ops)
              + "</select></label>")
    timeline = doc.get("memory_timeline")
    chart = memory_chart(timeline) if timeline and timeline.get("live_bytes") else ""
    return [_section(f"model-{n}", f"Model: {m.get('target') or m.get('name')}",
                     model + f"<details><summary>counting conventions</summary><ul>"
                     f"{conventions}</ul></details>", source),
            _section(f"layers-{n}", f"Layers ({len(layers)})", select + listing
                     + ("<h3>Memory timeline</h3>" + chart if chart else ""), source)]


def export_section(doc: dict, source: str, n: int) -> str:
    arts = doc["artifacts"]
    acc = any((a.get("fidelity") or {}).get("accuracy") is not None for a in arts)
    cols = ["file", "format", "quant", "size", "top-1 agreement", "cosine", "SQNR dB"] + (
        ["accuracy"] if acc else []) + ["sha256"]
    rows = []
    for a in arts:
        f = a.get("fidelity") or {}
        row = [a["file"], a["format"], a["quant"], (nbytes(a["bytes"]), a["bytes"]),
               (f"{f['top1_agreement']:.1%}", f["top1_agreement"])
               if f.get("top1_agreement") is not None else None, f.get("cosine"),
               f.get("sqnr_db")]
        if acc:
            row.append(f.get("accuracy"))
        row.append((f'<code title="{esc(a["sha256"])}">{esc(a["sha256"][:12])}…</code>', None))
        rows.append(row)
    m = doc.get("model", {})
    head = kv([("model", m.get("target") or m.get("name")), ("weights", m.get("weights")),
                ("validation", (doc.get("validation") or {}).get("source")),
                ("calibration", (doc.get("calibration") or {}).get("source")),
                ("created", doc.get("created"))])
    from edgekit.report.per_layer import html_section

    return _section(f"export-{n}", "Export", head + table(
        cols, rows, numeric={"size", "top-1 agreement", "cosine", "SQNR dB", "accuracy"})
        + html_section(doc, n), source)


def bench_section(doc: dict, source: str, n: int) -> str:
    res = doc["results"]
    est = any(r.get("estimate_ms") for r in res)
    cols = ["model", "runtime", "provider", "threads", "batch", "p50 ms", "p90 ms", "p99 ms",
            "GMAC/s"] + (["estimate ms", "measured / estimate"] if est else [])
    rows = []
    for r in res:
        lat = r["latency_ms"]
        row = [r["model"], r["runtime"], r.get("provider"), r["threads"], r.get("batch"),
               lat["p50"], lat.get("p90"), lat.get("p99"), r.get("gmacs_per_s")]
        if est:
            row += [r.get("estimate_ms"), r.get("measured_over_estimate")]
        rows.append(row)
    env = doc.get("environment") or {}
    where = (doc.get("device") or {}).get("name") or "this machine"
    fp = kv([(k, v if not isinstance(v, dict | list) else dumps(v))
              for k, v in env.items()][:24])
    return _section(f"bench-{n}", f"Benchmark on {where}", table(
        cols, rows, numeric={"threads", "batch", "p50 ms", "p90 ms", "p99 ms", "GMAC/s",
                             "estimate ms", "measured / estimate"})
        + latency_chart(res) + f"<details><summary>device fingerprint</summary>{fp}</details>",
        source)


def profile_section(doc: dict, source: str, n: int) -> str:
    ops = doc.get("ops")
    if ops is not None:     # a .tflite, op by op in isolation
        rows = [[o["op_index"], o["op"], o.get("layer"), o.get("macs"), o.get("ms"),
                 None if o.get("share") is None else (f"{o['share']:.1%}", o["share"]),
                 o.get("gmacs_per_s")] for o in ops]
        listing = table(["#", "op", "layer", "MACs", "ms", "share", "GMAC/s"], rows,
                       numeric={"#", "MACs", "ms", "share", "GMAC/s"})
        whole = kv([("whole model p50 (ms)", doc.get("whole_ms")),
                     ("sum of isolated ops (ms)", doc.get("sum_ms")),
                     ("sum / whole", doc.get("sum_over_whole"))])
    else:                   # onnxruntime's profiler
        nodes = doc.get("layers") or doc.get("nodes") or []
        rows = [[x.get("name") or x.get("node"), x.get("op"), x.get("macs"), x.get("ms"),
                 x.get("gmacs_per_s")] for x in nodes]
        listing = table(["layer", "op", "MACs", "ms", "GMAC/s"], rows,
                       numeric={"MACs", "ms", "GMAC/s"})
        whole = ""
    by_op = doc.get("by_op") or []
    summary = table(["op", "count", "ms"], [[b["op"], b.get("count"), b.get("ms")]
                                             for b in by_op], numeric={"count", "ms"})
    return _section(f"profile-{n}", "Per-op profile", whole + listing
                    + ("<h3>By op type</h3>" + summary if by_op else ""), source)


def sweep_section(doc: dict, source: str, n: int) -> str:
    o = doc["objectives"]
    # MobileNet v3's minimalistic form: a column where a config is (as in the terminal)
    minimal = any(r.get("minimalistic") for r in doc["rows"])
    cols = ["", "config", *(["min."] if minimal else []), "runtime", "MACs", "peak RAM",
            "file", "published top-1", "estimate ms", "p50 ms"]
    rows = [[("★" if r["best"] else "") + ("◆" if r["pareto"] else "")
             + ("✗" if not r["feasible"] else ""), r["id"],
             *([{True: "yes", False: "no"}.get(r.get("minimalistic"), "")] if minimal else []),
             r.get("runtime"), r["macs"],
             (nbytes(r["peak_activation_bytes"]), r["peak_activation_bytes"]),
             (nbytes(r["file_bytes"]), r["file_bytes"]), r.get("published_top1"),
             r.get("estimate_ms"), r.get("latency_ms")] for r in doc["rows"]]
    head = (f"<p>Front over accuracy ({esc(o['accuracy']['source'])}), latency "
            f"({esc(o['latency']['source'])}) and {esc(o['memory']['source'])}. Best within the "
            f"limits: <strong>{esc(doc['best'] or 'none')}</strong>."
            + (" min.: MobileNet v3's minimalistic form (no squeeze-excite, hard-swish or 5x5 "
               "kernels)." if minimal else "") + "</p>")
    failed = doc.get("failed") or []
    failures = ("<h3>Failed configs</h3><p>Not on the front; a rerun of the sweep retries "
                "them.</p>" + table(["config", "runtime", "stage", "where", "reason"],
                                     [[f["id"], f.get("runtime") or "", f["stage"],
                                       f["where"], f["reason"]] for f in failed])
                if failed else "")
    title = f"Sweep of {doc['model']} ({len(doc['rows'])} configs" + (
        f", {len(failed)} failed)" if failed else ")")
    return _section(f"sweep-{n}", title,
                    head + pareto_chart(doc) + table(
                        cols, rows, numeric={"MACs", "peak RAM", "file", "published top-1",
                                             "estimate ms", "p50 ms"}) + failures, source)


def _change(old, new) -> tuple[str, float | None]:
    if old is None or new is None:
        return "–", None
    if old == new:
        return "=", 0.0
    rel = (new - old) / old if old else None
    text = f"{new - old:+,}" if isinstance(old, int) and isinstance(new, int) else \
        f"{new - old:+.3g}"
    return (f'<span class="{"up" if new > old else "down"}">{text}'
            f'{f" ({rel:+.1%})" if rel is not None else ""}</span>', rel)


def compare_section(a: tuple[str, str, dict], b: tuple[str, str, dict]) -> str:
    """What changed from ``a`` (old) to ``b`` (new): totals and layers of two analyses,
    p50 per setting of two benchmarks, the rows of two sweeps."""
    (ka, la, da), (kb, lb, db) = a, b
    if ka != kb or ka not in ("analysis", "bench", "sweep"):
        raise ReportInputError(f"--compare takes two analyze, two bench or two sweep "
                               f"documents; got {ka} ({la}) and {kb} ({lb})")
    if ka == "analysis":
        keys = ["params", "trainable_params", "macs", "other_ops", "peak_activation_bytes",
                "activation_bytes_total", "layers"]
        rows = [[k, da["totals"][k], db["totals"][k], _change(da["totals"][k],
                                                              db["totals"][k])] for k in keys]
        body = table(["total", "old", "new", "change"], rows, numeric={"old", "new"})
        old = {r["name"]: r for r in da["layers"]}
        new = {r["name"]: r for r in db["layers"]}
        diff = []
        for name in dict.fromkeys([*old, *new]):
            o, n = old.get(name), new.get(name)
            if o and n and all(o[k] == n[k] for k in ("op", "params", "macs",
                                                       "activation_bytes")):
                continue
            diff.append([name, (o or n)["op"], "removed" if n is None else "added"
                         if o is None else "changed",
                         _change(o and o["params"], n and n["params"]),
                         _change(o and o["macs"], n and n["macs"]),
                         _change(o and o["activation_bytes"], n and n["activation_bytes"])])
        body += f"<h3>Layers that differ ({len(diff)})</h3>" + table(
            ["layer", "op", "what", "params", "MACs", "activation"], diff)
    elif ka == "bench":
        def key(r):
            return (r["model"], r["runtime"], r.get("provider"), r["threads"], r.get("batch"))
        old = {key(r): r for r in da["results"]}
        rows = []
        for r in db["results"]:
            o = old.get(key(r))
            p_old = o["latency_ms"]["p50"] if o else None
            rows.append([r["model"], r["runtime"], r["threads"], p_old,
                         r["latency_ms"]["p50"], _change(p_old, r["latency_ms"]["p50"])])
        body = table(["model", "runtime", "threads", "old p50 ms", "new p50 ms", "change"],
                      rows, numeric={"threads", "old p50 ms", "new p50 ms"})
    else:
        old = {(r["id"], r.get("runtime")): r for r in da["rows"]}
        rows = []
        for r in db["rows"]:
            o = old.get((r["id"], r.get("runtime"))) or {}
            rows.append([r["id"], r.get("runtime"), o.get("latency_ms"), r.get("latency_ms"),
                         _change(o.get("latency_ms"), r.get("latency_ms")),
                         _change(o.get("file_bytes"), r.get("file_bytes"))])
        body = table(["config", "runtime", "old p50 ms", "new p50 ms", "change",
                       "file size change"], rows, numeric={"old p50 ms", "new p50 ms"})
    return _section("compare-0", "Comparison", f"<p>old: {esc(la)}<br>new: {esc(lb)}</p>"
                    + body, f"{la} → {lb}")


# ---- the page --------------------------------------------------------------------------------

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:1em 2em;color:#111}
h1{font-size:1.5em}h2{border-bottom:2px solid #0072B2;padding-bottom:.2em;margin-top:2em}
nav a{margin-right:1em}.source{color:#555;font-size:.85em;margin-top:-.6em}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}
th,td{border-bottom:1px solid #ddd;padding:.25em .6em;text-align:left;vertical-align:top}
th.num,td.num{text-align:right}thead th{background:#f2f2f2;cursor:pointer;position:sticky;top:0}
thead th[aria-sort=ascending]::after{content:" ▲"}
thead th[aria-sort=descending]::after{content:" ▼"}
table.kv th{background:none;cursor:default;font-weight:600;position:static}
tr.peak{background:#fff3d6}tr.peak td:nth-child(2)::after{content:" ◀ peak";color:#D55E00}
.bar{position:relative;min-width:9em;height:1.2em}
.bar span{position:absolute;left:0;top:.15em;bottom:.15em;opacity:.35}
.bar em{position:relative;font-style:normal;padding-left:.3em}
svg.chart{width:100%;max-width:760px;height:auto;font-size:11px;display:block;margin:.6em 0}
svg .grid{stroke:#e4e4e4}svg .tick{stroke:#333}svg .frame{fill:none;stroke:#999}
svg .label{font-size:12px}svg .over{fill:#999;fill-opacity:.18}svg .best{font-weight:700}
.legend .key::before{content:"●";color:var(--c);margin-right:.2em}.legend .key{margin-right:1em}
.up{color:#D55E00}.down{color:#0072B2}code{font-size:.9em}
@media print{thead th{position:static}nav{display:none}section{break-inside:avoid-page}}
"""

JS = """
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.querySelectorAll('thead th').forEach(function (th, col) {
    th.addEventListener('click', function () {
      var asc = th.getAttribute('aria-sort') !== 'ascending';
      table.querySelectorAll('thead th').forEach(function (h) { h.removeAttribute('aria-sort'); });
      th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      function key(row) {
        var cell = row.cells[col];
        var v = cell.hasAttribute('data-sort') ? cell.getAttribute('data-sort') : cell.textContent;
        var n = Number(v);
        return v.trim() !== '' && !isNaN(n) ? n : v;
      }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        var c = typeof x !== typeof y ? (typeof x === 'number' ? -1 : 1)
          : (x < y ? -1 : x > y ? 1 : 0);
        return asc ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
document.querySelectorAll('select.opfilter').forEach(function (select) {
  select.addEventListener('change', function () {
    var table = select.closest('section').querySelector('table.layers');
    Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
      row.hidden = select.value !== '' && row.getAttribute('data-op') !== select.value;
    });
  });
});
"""


def render_page(inputs: list[tuple[str, str, dict]], compare=None, title: str | None = None
                ) -> str:
    """The page for ``inputs`` ((kind, label, document) each) and, optionally, a
    comparison of two more."""
    from edgekit import __version__

    sections: list[str] = []
    if compare is not None:
        sections.append(compare_section(*compare))
    from edgekit.core.documents import BY_KIND

    counts = dict.fromkeys(BY_KIND, 0)
    for kind, label, doc in inputs:
        n = counts[kind]
        counts[kind] += 1
        if kind == "analysis":
            sections += analysis_sections(doc, label, n)
        else:
            sections.append({"export": export_section, "bench": bench_section,
                             "profile": profile_section, "sweep": sweep_section}[kind](
                doc, label, n))
    nav = "".join(f'<a href="#{s.split(chr(34))[1]}">{s.split("<h2>")[1].split("</h2>")[0]}'
                  f'</a>' for s in sections)
    title = title or "edgekit report"
    made = datetime.now(UTC).isoformat(timespec="seconds")
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f'<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
            f'style-src \'unsafe-inline\'; script-src \'unsafe-inline\'; img-src data:">'
            f'<title>{esc(title)}</title><style>{CSS}</style></head><body>'
            f'<h1>{esc(title)}</h1><p class="source">edgekit {esc(__version__)}, {made}; '
            f'{len(inputs)} input(s)</p><nav>{nav}</nav>{"".join(sections)}'
            f'<script>{JS}</script></body></html>')
