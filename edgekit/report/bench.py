"""Render benchmark results: table, comparison with a previous run, latency plot."""

from __future__ import annotations

import os
from pathlib import Path

from edgekit.core.stats import regression
from edgekit.report.figures import save_figure

SHORT_RUNTIME = {"onnxruntime": "ort"}
KEY = ("model", "runtime", "provider", "threads", "batch")


def row_key(r: dict) -> tuple:
    return tuple(r.get(k) for k in KEY)


def load_previous(path: Path) -> tuple[dict[tuple, dict], dict]:
    """(rows by key, the environment they were measured in) of a 'bench --json' file,
    checked on load (core.schema): a hand-edited or foreign file is one line naming the
    file and the key."""
    from edgekit.core import schema as S
    from edgekit.core.documents import BENCH_COMPARED

    try:   # read by core.reading: registered, no output of this command lands on it
        data = S.load_json(path, BENCH_COMPARED.schema, "--compare")
    except S.SchemaError as e:
        if not os.path.isfile(path):
            raise
        raise S.SchemaError(f"{e}: not an 'edgekit bench --json' file") from None
    return {row_key(r): r for r in data["results"]}, data.get("environment") or {}


def compare_rows(results: list[dict], previous: dict[tuple, dict]) -> None:
    """Annotate each result with its change against the previous run (in place)."""
    for r in results:
        old = previous.get(row_key(r))
        if old is None:
            continue
        o, n = old["latency_ms"], r["latency_ms"]
        r["compare"] = {"previous_p50": o["p50"], "change": n["p50"] / o["p50"] - 1,
                        "verdict": regression(o["p50"], n["p50"], o["stdev"], n["stdev"])}


FINGERPRINT_KEYS = ("hostname", "cpu", "machine", "usable_cores", "os", "kernel", "python",
                    "versions", "governor", "max_freq_mhz")


def fingerprint_changes(old: dict, new: dict) -> list[str]:
    """'cpu: A -> B' for each part of the machine that differs between two runs."""
    changes = []
    for k in FINGERPRINT_KEYS:
        a, b = old.get(k), new.get(k)
        if k == "versions" and isinstance(a, dict) and isinstance(b, dict):
            changes += [f"{p}: {a.get(p)} -> {b.get(p)}" for p in sorted(set(a) | set(b))
                        if a.get(p) != b.get(p)]
        elif a != b and (a is not None or b is not None):
            changes.append(f"{k}: {a} -> {b}")
    return changes


def state_warnings(results: list[dict]) -> list[str]:
    """One line per row whose machine throttled, heated or slowed while it was timed."""
    return [f"{Path(r['model']).name} {r['runtime']} t={r['threads'] or '-'} b={r['batch']}"
            f": {r['state']['warning']}; its figures may be low, rerun with --cooldown"
            for r in results if (r.get("state") or {}).get("warning")]


MAX_CV = 0.25   # a p50 whose runs vary more than this is not a figure to compare


def unstable_rows(results: list[dict]) -> list[str]:
    """'model runtime t=N b=N cv 31%' for each row whose coefficient of variation is
    above MAX_CV (marked in the JSON as 'unstable': true)."""
    rows = []
    for r in results:
        r["unstable"] = r["cv"] > MAX_CV
        if r["unstable"]:
            rows.append(f"{Path(r['model']).name} {r['runtime']} t={r['threads'] or '-'} "
                        f"b={r['batch']} cv {r['cv']:.0%}")
    return rows


def short_labels(models: list[str]) -> dict[str, str]:
    """File names without the prefix they share and without the .tflite/.onnx suffix (the
    runtime column says it): 'fp32', 'int8'."""
    names = [Path(m).name.removesuffix(".tflite").removesuffix(".onnx") for m in models]
    cut = len(os.path.commonprefix(names)) if len(names) > 1 else 0

    def fit(label: str, width: int = 20) -> str:  # keep both ends: they tell files apart
        return label if len(label) <= width else label[:6] + "…" + label[-(width - 7):]

    return {m: fit(n[cut:] or n) for m, n in zip(models, names, strict=True)}


def _title(models: list[str], data: dict) -> str:
    env = data["environment"]
    title = f"{env['cpu']} ({env['usable_cores']} cores)"
    if data.get("device"):
        title = f"{data['device']['name']}: {title}"
    if data.get("partial"):
        title += " [partial]"
    if len(models) == 1:
        return f"{models[0]} on {title}"
    prefix = os.path.commonprefix([Path(m).name for m in models])
    prefix = prefix[:len(prefix) - len(prefix.split("_")[-1])] if "_" in prefix else prefix
    return f"{prefix}* on {title}" if prefix else title


# the columns a table drops, in this order, where the terminal is too narrow for all:
# what is in --json anyway, never a verdict or a figure the row is about
OPTIONAL = ("1st ms", "load ms", "p50 95% CI", "items/s")


def _columns(results: list[dict], several_models: bool) -> list[str]:
    cols = (["model"] if several_models else []) + ["runtime", "thr"] + (
        ["batch"] if len({r["batch"] for r in results}) > 1 else []) + [
        "p50 ms", "p90", "p99", "cv", "items/s", "p50 95% CI"]
    cols += ["est ms", "meas/est"] if any("estimate_ms" in r for r in results) else []
    cols += ["GMAC/s"] if any("gmacs_per_s" in r for r in results) else []
    cols += ["% peak"] if any("fraction_of_peak" in r for r in results) else []
    cols += ["load ms", "1st ms"]
    cols += ["vs prev"] if any("compare" in r for r in results) else []
    return cols


def _cell(col: str, r: dict, label: str):
    lat = r["latency_ms"]
    if col == "runtime":
        default_provider = r["provider"] in ("cpu", "xnnpack", None)
        return SHORT_RUNTIME.get(r["runtime"], r["runtime"]) + (
            "" if default_provider else f"/{r['provider']}")
    if col == "vs prev":
        c = r.get("compare")
        if c is None:
            return "new"
        from edgekit.report.user_text import styled

        color = {"slower": "red", "faster": "green"}.get(c["verdict"], "dim")
        return styled(f"{c['change']:+.1%} {c['verdict']}", color)
    values = {
        "model": label, "thr": str(r["threads"] or "-"), "batch": str(r["batch"]),
        "p50 ms": f"{lat['p50']:.3f}", "p90": f"{lat['p90']:.3f}", "p99": f"{lat['p99']:.3f}",
        "cv": f"{r['cv']:.1%}", "items/s": f"{r['throughput_items_s']:.1f}",
        "GMAC/s": f"{r['gmacs_per_s']:.2f}" if "gmacs_per_s" in r else "",
        "% peak": f"{r['fraction_of_peak']:.1%}" if "fraction_of_peak" in r else "",
        "load ms": f"{r['load_ms']:.0f}", "1st ms": f"{r['first_run_ms']:.1f}",
        "p50 95% CI": "{:.3f}-{:.3f}".format(*r["p50_ci95_ms"]) if "p50_ci95_ms" in r else "",
        "est ms": f"{r['estimate_ms']:.3f}" if "estimate_ms" in r else "",
        "meas/est": f"{r['measured_over_estimate']:.2f}x" if "estimate_ms" in r else ""}
    return values[col]


def _bench_table(title: str, console, cols: list[str], results: list[dict], labels: dict,
                 one_line: bool):
    from edgekit.report.user_text import text_table

    table = text_table(title, console)
    for c in cols:
        table.add_column(c, justify="left" if c in ("model", "runtime") else "right",
                         overflow="ellipsis" if one_line else "fold", no_wrap=one_line,
                         max_width=20 if c == "model" else None)
    for r in results:
        table.add_row(*(_cell(c, r, labels[r["model"]]) for c in cols))
    return table


def render_bench(data: dict, console) -> None:
    from edgekit.report.user_text import esc, marked, styled

    results = data["results"]
    models = list(dict.fromkeys(r["model"] for r in results))
    labels = short_labels(models)
    cols = _columns(results, len(models) > 1)
    wide = console.options.update_width(1 << 16)    # what a table needs, uncapped
    while True:   # every cell whole: optional columns go until the table fits
        table = _bench_table(_title(models, data), console, cols, results, labels, True)
        drop = next((c for c in OPTIONAL if c in cols), None)
        fits = console.measure(table, options=wide).maximum <= console.width
        if fits or drop is None:
            break
        cols.remove(drop)
    if not fits:      # still too wide: cells fold onto a second line, never cut
        table = _bench_table(_title(models, data), console, cols, results, labels, False)
    narrow = any(c not in cols for c in OPTIONAL)
    console.print(table)
    console.print(marked("[dim]latency per call in ms (p50/p90/p99 over the timed runs); cv = "
                  "stdev/mean; items/s = batch/p50; GMAC/s = MACs per call / p50; ort = "
                  "onnxruntime; litert runs with XNNPACK unless marked /builtin"
                  + ("; more columns (load and first-run times, the p50's CI): --json or a "
                     "wider terminal" if narrow
                     else "; 95% CI: bootstrap interval of the p50")
                  + ("; MLPerf rule (--min-duration): p90 is the headline" if any(
                      r.get("headline") == "p90" for r in results) else "")
                  + ("; est = roofline estimate on the device's calibrated profile "
                     f"{esc(results[0].get('estimate_profile', ''))}" if any(
                         "estimate_ms" in r for r in results) else "") + ".[/dim]"))
    changes = data.get("compared_environment")
    if changes:
        console.print(styled("vs prev: measured on a different machine or setup: "
                             + "; ".join(changes), "yellow"))


def plot_latency(data: dict, path: Path) -> None:
    """Latency distributions per row: short labels that tell the files apart, the axis cut
    a little above the largest p99 so that rare outliers do not flatten the boxes (how
    many lie above is written on the chart)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = data["results"]
    labels = short_labels(list(dict.fromkeys(r["model"] for r in results)))
    fig, ax = plt.subplots(figsize=(min(16, max(6, 1.3 * len(results))), 4.8))
    ax.boxplot([r["samples_ms"] for r in results], showfliers=True, whis=(5, 95))
    ax.set_xticks(range(1, len(results) + 1))
    ax.set_xticklabels([f"{labels[r['model']]}\n{SHORT_RUNTIME.get(r['runtime'], r['runtime'])}"
                        f"/{r['provider']}\nt={r['threads'] or '-'} b={r['batch']}"
                        for r in results], fontsize=7)
    top = 1.15 * max(r["latency_ms"]["p99"] for r in results)
    above = sum(sum(s > top for s in r["samples_ms"]) for r in results)
    ax.set_ylim(0, top)
    if above:
        highest = max(max(r["samples_ms"]) for r in results)
        ax.text(0.99, 0.98, f"{above} samples above the axis (max {highest:.3g} ms)",
                transform=ax.transAxes, ha="right", va="top", fontsize=7)
    ax.set_ylabel("latency per call (ms)")
    env = data["environment"]
    ax.set_title(f"latency per call on {env['cpu']} ({env['usable_cores']} cores); "
                 "box: p25-p75, whiskers: p5-p95", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)


def render_profile(prof: dict, console, top: int = 20) -> None:
    if "ops" in prof:
        return render_isolated(prof, console, top)
    from edgekit.core.units import si
    from edgekit.report.user_text import esc, marked, styled, text_table

    console.print(marked(
        f"[bold]{esc(prof['file'])}[/bold]: {prof['total_ms']:.3f} ms per run in kernels "
        f"({esc(prof['runtime'])}/{esc(prof['provider'])}, median of {prof['runs']} runs"
        + (f", on {esc(prof['device']['name'])}" if prof.get("device") else "") + ")"))
    by_op = text_table("time per op type", console)
    for c in ("op", "ms", "share"):
        by_op.add_column(c, justify="left" if c == "op" else "right")
    for r in prof["by_op"]:
        by_op.add_row(r["op"], f"{r['ms']:.3f}", f"{r['share']:.1%}")
    console.print(by_op)
    fused = [r["op"] for r in prof["by_op"] if "subgraph" in r["op"].lower()]
    if fused:
        console.print(styled(f"{prof['provider']} compiled the graph into {len(fused)} "
                             "subgraph(s) of its own: onnxruntime's profiler times those, "
                             "not the layers inside them.", "dim"))
    if "layers" in prof:
        table = text_table(f"top {top} layers", console)
        for c in ("layer", "op", "ms", "share", "MACs", "GMAC/s"):
            table.add_column(c, justify="left" if c in ("layer", "op") else "right")
        for r in prof["layers"][:top]:
            table.add_row(r["layer"], r["op"], f"{r['ms']:.3f}", f"{r['share']:.1%}",
                          si(r["macs"]) if r["macs"] else "",
                          f"{r['gmacs_per_s']:.2f}" if r["gmacs_per_s"] else "")
    else:
        table = text_table(f"top {top} nodes", console)
        for c in ("node", "op", "ms", "share"):
            table.add_column(c, justify="left" if c in ("node", "op") else "right",
                             overflow="fold")
        for r in prof["nodes"][:top]:
            table.add_row(r["node"], r["op"], f"{r['ms']:.3f}", f"{r['share']:.1%}")
    console.print(table)


def _gmacs(v) -> str:
    return f"{v:.2f}" if v else ""


def render_isolated(prof: dict, console, top: int = 20) -> None:
    """A .tflite profile by isolation: the whole model beside the sum of its ops, by op
    type, the top ops, and the ops that could not be cut out."""
    from edgekit.core.units import si
    from edgekit.report.user_text import esc, marked, styled, text_table

    where = f", on {prof['device']['name']}" if prof.get("device") else ""
    console.print(marked(
        f"[bold]{esc(prof['file'])}[/bold]: {len(prof['ops'])} ops, each cut out and timed "
        f"alone ({esc(prof['runtime'])}/{esc(prof['provider'])}, threads "
        f"{prof['threads'] or 'default'}, median of {prof['runs']} runs{esc(where)})"))
    if prof.get("whole_ms"):
        console.print(f"  whole model {prof['whole_ms']:.3f} ms; sum of the isolated ops "
                      f"{prof['sum_ms']:.3f} ms = {prof['sum_over_whole']:.2f} x the whole "
                      "(fusion, caches and per-run costs that isolation cannot see)")
    by_op = text_table("time per op type", console)
    for c in ("op", "count", "ms", "share", "MACs", "GMAC/s"):
        by_op.add_column(c, justify="left" if c == "op" else "right")
    for r in prof["by_op"]:
        by_op.add_row(r["op"], str(r["count"]), f"{r['ms']:.3f}", f"{r['share']:.1%}",
                      si(r["macs"]) if r["macs"] else "", _gmacs(r["gmacs_per_s"]))
    console.print(by_op)
    rows = sorted((r for r in prof["ops"] if r.get("ms") is not None),
                  key=lambda r: -r["ms"])[:top]
    table = text_table(f"top {len(rows)} ops", console)
    for c in ("#", "op", "layer" if any(r["layer"] for r in rows) else "output tensor",
              "ms", "share", "MACs", "GMAC/s", "XNNPACK"):
        table.add_column(c, justify="left" if c in ("op", "layer", "output tensor")
                         else "right")
    for r in rows:
        xnn = {True: "yes", False: "no", None: "?"}[r.get("delegated")]
        table.add_row(str(r["op_index"]), r["op"], _ellipsis(r["layer"] or r["name"], 40),
                      f"{r['ms']:.3f}", f"{r['share']:.1%}", si(r["macs"]) if r["macs"]
                      else "", _gmacs(r["gmacs_per_s"]), xnn)
    console.print(table)
    for r in prof["not_isolated"]:
        console.print(styled(f"op {r['op_index']} {r['op']} not timed: {r['reason']}",
                             "yellow"))


def render_lut(table: dict, console) -> None:
    """What a measured latency table holds and how well its kernels add up."""
    from edgekit.report.user_text import esc, marked, text_table

    where = table["device"]["name"] if table.get("device") else "this machine"
    console.print(marked(
        f"[bold]latency table {esc(table['name'])}[/bold] ({esc(where)}, "
        f"{esc(table['runtime'])}/{esc(table['provider'])}, threads "
        f"{table['threads'] or 'default'}): {len(table['kernels'])} distinct kernels of "
        f"{len(table['models'])} models, measured in {table['seconds']:.0f} s"))
    t = text_table(None, console)
    for c in ("model", "alpha", "resolution", "quant", "whole ms", "sum ms", "sum/whole"):
        t.add_column(c, justify="left" if c in ("model", "quant") else "right")
    for m in table["models"]:
        ratio = m["sum_ms"] / m["whole_ms"] if m["sum_ms"] and m["whole_ms"] else None
        t.add_row(m["model"], "" if m.get("alpha") is None else f"{m['alpha']:g}",
                  str(m["resolution"]), m["quant"],
                  f"{m['whole_ms']:.3f}" if m["whole_ms"] else "",
                  f"{m['sum_ms']:.3f}" if m["sum_ms"] else "",
                  f"{ratio:.2f}" if ratio else "")
    console.print(t)


def plot_profile(prof: dict, path: Path, top: int = 20) -> None:
    """Horizontal bars: the ``top`` layers (or nodes) by median time, labelled in full."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if "ops" in prof:       # a .tflite profile: op index and op type tell ops apart
        rows = sorted((r for r in prof["ops"] if r.get("ms") is not None),
                      key=lambda r: -r["ms"])[:top]
        labels = [f"{r['op_index']} {r['op']} {r['layer'] or ''}".strip() for r in rows]
    else:
        rows = (prof.get("layers") or prof["nodes"])[:top]
        labels = [r.get("layer") or r["node"] for r in rows]
    labels = labels[::-1]
    ms = [r["ms"] for r in rows][::-1]
    fig, ax = plt.subplots(figsize=(8, max(2.5, 0.3 * len(rows) + 1)))
    ax.barh(range(len(rows)), ms, color="tab:blue")
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([_ellipsis(x, 40) for x in labels], fontsize=8)
    ax.set_xlabel("median time per run (ms)")
    shapes = ", ".join(f"{k} {v}" for k, v in prof.get("input_shapes", {}).items())
    ax.set_title(f"{Path(prof['file']).name}: top {len(rows)} by time "
                 f"({prof['runtime']}/{prof['provider']}; {shapes})", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)


def _ellipsis(label: str, width: int) -> str:
    """Both ends of a long label (they tell labels apart): 'model/blo…conv_dw_3'."""
    return label if len(label) <= width else label[:width // 2 - 1] + "…" + \
        label[-(width - width // 2):]
