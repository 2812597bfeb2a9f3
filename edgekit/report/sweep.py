"""Rendering a sweep: the terminal table, the CSV, and the Pareto plot with the limits."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from edgekit.core.units import nbytes, si

# variant, minimalistic and alpha are blank for a model without them (no made-up α of 1.0)
CSV_COLUMNS = ["id", "model", "variant", "minimalistic", "alpha", "resolution", "quant",
               "runtime", "params",
               "macs", "peak_activation_bytes", "weights_bytes", "file_bytes", "file_sha256",
               "built_on",
               "top1_agreement", "cosine", "sqnr_db", "published_top1", "published_source",
               "published_checkpoint", "validation_top1", "estimate_ms", "estimate_method",
               "fits", "latency_ms", "latency_p90_ms", "provider", "pareto", "feasible",
               "violates", "best"]


def write_csv(doc: dict, path: Path) -> None:
    from edgekit.core.files import write_text

    buf = io.StringIO()
    w = csv.DictWriter(buf, CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in doc["rows"]:
        w.writerow({**r, "violates": " ".join(r["violates"])})
    write_text(path, buf.getvalue())


AXIS_HEADS = {"variant": "variant", "minimalistic": "min.", "alpha": "α"}


def _axis_cell(r: dict, axis: str) -> str:
    v = r.get(axis)
    if axis == "minimalistic":
        return "yes" if v else "no"
    return f"{v:g}" if axis == "alpha" else str(v)


def point_label(r: dict) -> str:
    """A point's name on the plot: its variant, 'min.' when minimalistic."""
    parts = [str(r["variant"])] if r.get("variant") is not None else []
    return " ".join(parts + (["min."] if r.get("minimalistic") else []))


def _ms(v) -> str:
    return "-" if v is None else f"{v:.3g}" if v < 10 else f"{v:.1f}"


def _pct(v) -> str:
    return "-" if v is None else f"{v:.1f}"


def render_sweep(doc: dict, console) -> None:
    from rich.box import HEAVY_HEAD

    from edgekit.report.user_text import text_table

    rows = doc["rows"]
    timed = any(r["latency_ms"] is not None for r in rows)
    estimated = any(r["estimate_ms"] is not None for r in rows)
    failed = len(doc.get("failed") or [])
    t = text_table(f"sweep of {doc['model']}: {len(rows)} configs"
                   + (f" ({failed} failed, below)" if failed else "")
                   + (f" on {doc['device']}" if doc["device"] else ""), console,
                   box=HEAVY_HEAD, pad_edge=True, header_style="table.header")
    # the model's own axes; minimalistic where a config is
    axes = [a for a in AXIS_HEADS if a in doc["grid"]
            and (a != "minimalistic" or True in doc["grid"][a])]
    cols = ["", *[AXIS_HEADS[a] for a in axes], "px", "quant"] + (
        ["runtime"] if doc["grid"]["runtime"] else []) + [
        "MACs", "params", "peak RAM", "file", "SQNR dB", "top-1 pub."]
    if doc["rows"] and rows[0]["validation_top1"] is not None:
        cols.append("top-1 val.")
    if estimated:
        cols += ["est. ms", "fits"]
    if timed:
        cols.append("p50 ms")
    for c in cols:
        t.add_column(c, justify="left" if c in ("", "variant", "min.", "quant", "runtime",
                                                "fits") else "right")
    for r in rows:
        mark = ("★" if r["best"] else "") + ("◆" if r["pareto"] else "") \
            + ("✗" if not r["feasible"] else "")
        cells = [mark, *[_axis_cell(r, a) for a in axes], str(r["resolution"]), r["quant"]]
        if doc["grid"]["runtime"]:
            cells.append(r["runtime"])
        cells += [si(r["macs"]), si(r["params"]), nbytes(r["peak_activation_bytes"]),
                  nbytes(r["file_bytes"]),
                  "-" if r["sqnr_db"] is None else f"{float(r['sqnr_db']):.1f}",
                  _pct(r["published_top1"])]
        if "top-1 val." in cols:
            cells.append(_pct(r["validation_top1"]))
        if estimated:
            cells += [_ms(r["estimate_ms"]), {True: "yes", False: "no", None: "-"}[r["fits"]]]
        if timed:
            cells.append(_ms(r["latency_ms"]))
        t.add_row(*cells)
    console.print(t)
    _notes(doc, console, minimalistic="minimalistic" in axes)
    _work(doc, console)


def _notes(doc: dict, console, minimalistic: bool) -> None:
    """Under the table: the front's objectives and their sources, the columns, the best."""
    from edgekit.report.user_text import styled

    acc, lat = doc["objectives"]["accuracy"], doc["objectives"]["latency"]
    console.print(styled(f"◆ Pareto front over accuracy ({acc['source']}), latency "
                         f"({lat['source']}) and peak activation RAM; ✗ over a limit; ★ best "
                         "within the limits (most accurate, then fastest)."), soft_wrap=True)
    console.print("SQNR dB: the exported file's outputs against the float Keras model's "
                  "(inf: identical; the JSON has cosine and top-1 agreement too); top-1 "
                  "pub.: the published ImageNet figure of the same config (sources in the "
                  "JSON)." + (" min.: MobileNet v3's minimalistic form (no squeeze-excite, "
                              "hard-swish or 5x5 kernels)." if minimalistic else ""),
                  soft_wrap=True)
    limits = _limits(doc)
    best = doc["best"] or "none: no config meets the limits"
    console.print(styled(f"best{' within ' + ', '.join(limits) if limits else ''}: {best}"),
                  soft_wrap=True)


def _work(doc: dict, console) -> None:
    """What ran, what crossed Ray's object store, and what failed (where and why)."""
    from edgekit.report.user_text import styled

    w = doc["work"]
    console.print(styled(f"{w['ran']} stages run, {w['reused']} reused from {doc['store']} "
                         f"({w['seconds']:g} s)"), soft_wrap=True)
    moved = w.get("object_store_bytes")
    if moved:
        console.print(f"through Ray's object store: {nbytes(moved['file_bytes'])} of files "
                      f"to this machine, {nbytes(moved['validation_bytes'])} of validation "
                      "data to the nodes", soft_wrap=True)
    failed = doc.get("failed") or []
    if failed:
        console.print(f"{len(failed)} failed (not on the front; a rerun retries them):",
                      soft_wrap=True)
        for f in failed:
            on = f" on {f['runtime']}" if f["runtime"] else ""
            console.print(styled(f"  ✗ {f['id']}{on}: {f['stage']} failed on {f['where']}: "
                                 f"{f['reason']}"), soft_wrap=True, highlight=False)


def _limits(doc: dict, skip=()) -> list[str]:
    """The limits that were given, in words: 'fits stm32h7', 'latency ≤ 30 ms'."""
    words = []
    for key, value in doc["limits"].items():
        if value is None or key in skip:
            continue
        words.append(f"fits {value}" if key == "profile_fits" else
                     f"latency ≤ {value:g} ms" if key == "max_latency_ms" else
                     f"{key.removeprefix('max_').removesuffix('_bytes')} ≤ {nbytes(value)}")
    return words


def axis_labels(lat: str, acc: str) -> tuple[str, str]:
    return ({"latency_ms": "measured latency, p50 (ms)",
             "estimate_ms": "estimated latency (ms)"}.get(
                lat, "millions of MACs (proxy for latency)"),
            {"published_top1": "published ImageNet top-1 (%)",
             "validation_top1": "top-1 on the validation data (%)"}.get(
                acc, "millions of MACs (proxy for accuracy)"))


def _mark_points(ax, doc: dict, x_of, y_of) -> None:
    """The marks on single points: which variant each is, minimalistic or not (when
    several were swept), and the best config within the limits, starred and named."""
    rows = doc["rows"]
    lat, acc = doc["objectives"]["latency"]["key"], doc["objectives"]["accuracy"]["key"]
    if len(doc["grid"].get("variant") or []) > 1 or len(doc["grid"].get("minimalistic")
                                                        or []) > 1:
        for r in rows:
            if r[lat] is not None and r[acc] is not None:
                ax.annotate(point_label(r), (x_of(r), y_of(r)), fontsize=7,
                            textcoords="offset points", xytext=(5, 4), alpha=0.8)
    best = next((r for r in rows if r["best"]), None)
    if best is not None:
        ax.scatter([x_of(best)], [y_of(best)], marker="*", s=260, color="gold",
                   edgecolors="black", zorder=5, label="best within the limits")
        ax.annotate(f"{best['id']}" + (f" ({best['runtime']})" if best["runtime"] else ""),
                    (x_of(best), y_of(best)), textcoords="offset points",
                    xytext=(8, -14), fontsize=9)


def plot_pareto(doc: dict, path: Path) -> None:
    """Accuracy against latency, point size by peak RAM; the front as a step line; the
    latency limit shaded; configs over the RAM/flash limits hollow; the best one named."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from edgekit.report.figures import save_figure

    rows = doc["rows"]
    acc, lat = doc["objectives"]["accuracy"], doc["objectives"]["latency"]
    lat_label, acc_label = axis_labels(lat["key"], acc["key"])
    def scaled(key):        # MACs (a proxy) in millions; the rest as they are
        return (lambda r: r[key] / 1e6) if key == "macs" else (lambda r: r[key])

    x_of, y_of = scaled(lat["key"]), scaled(acc["key"])
    fig, ax = plt.subplots(figsize=(8, 5.5))
    peak = max((r["peak_activation_bytes"] for r in rows), default=0) or 1
    colours = {"none": "#0072B2", "fp16": "#009E73", "dynamic": "#CC79A7", "int8": "#D55E00"}
    for q in dict.fromkeys(r["quant"] for r in rows):
        for feasible in (True, False):
            pts = [r for r in rows if r["quant"] == q and r["feasible"] == feasible
                   and r[lat["key"]] is not None and r[acc["key"]] is not None]
            if not pts:
                continue
            ax.scatter([x_of(r) for r in pts], [y_of(r) for r in pts],
                       s=[30 + 300 * r["peak_activation_bytes"] / peak for r in pts],
                       facecolors=colours.get(q, "grey") if feasible else "none",
                       edgecolors=colours.get(q, "grey"), alpha=0.8, linewidths=1.2,
                       label=q if feasible else f"{q}, over a limit")
    front = sorted((r for r in rows if r["pareto"]), key=lambda r: r[lat["key"]])
    if front:
        ax.step([x_of(r) for r in front], [y_of(r) for r in front],
                where="post", color="black", lw=1, alpha=0.6, label="Pareto front")
    limit = doc["limits"].get("max_latency_ms")
    if limit is not None and lat["key"] != "macs":
        ax.axvspan(limit, ax.get_xlim()[1], color="grey", alpha=0.15,
                   label=f"over --max-latency {limit:g} ms")
    _mark_points(ax, doc, x_of, y_of)
    other = _limits(doc, skip=("max_latency_ms",))
    title = f"{doc['model']}: {len(rows)} configs" + (f" on {doc['device']}"
                                                       if doc["device"] else "")
    ax.set_title(title + ("; limits: " + ", ".join(other) if other else "")
                 + "\npoint area: peak activation RAM", fontsize=10)
    ax.set_xlabel(lat_label)
    ax.set_ylabel(acc_label)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:     # nothing to name when every config failed
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    save_figure(fig, path)
