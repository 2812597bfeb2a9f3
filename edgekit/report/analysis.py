"""Render an analysis Report: rich table, JSON, CSV, plot."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from edgekit.core.counting import CONVENTIONS
from edgekit.core.files import atomic_write
from edgekit.core.records import Report
from edgekit.core.units import nbytes, shape, si

CSV_FIELDS = ("index", "name", "op", "inputs", "output_shape", "params", "trainable_params",
              "non_trainable_params", "macs", "other_ops", "activation_bytes", "counted")


def to_json(report: Report, estimate: dict | None = None, schedule=None) -> str:
    data = report.to_dict()
    if schedule is not None:
        data["memory_schedule"] = {
            "given_peak_bytes": data["totals"]["peak_activation_bytes"],
            "best_peak_bytes": schedule.peak_bytes, "method": schedule.method,
            "states": schedule.states, "order": schedule.order}
    if estimate is not None:
        per_layer = {x["name"]: x for x in estimate["layers"]}
        for layer in data["layers"]:
            est = per_layer[layer["name"]]
            layer["roofline"] = {k: est[k] for k in ("time_s", "compute_s", "memory_s",
                                                     "bound")}
        data["profile"] = {k: v for k, v in estimate.items() if k != "layers"}
    return json.dumps(data, indent=2)


def render_estimate(estimate: dict, console) -> None:
    """Roofline total, the slowest layers, and the fit verdict."""
    f = estimate["fit"]
    console.print(f"[bold]on {estimate['profile']}[/bold] ({estimate['title']})")
    console.print(f"  roofline estimate {estimate['time_s'] * 1e3:.3f} ms per batch "
                  f"({estimate['compute_bound_layers']} layers compute-bound, "
                  f"{estimate['memory_bound_layers']} memory-bound; a lower bound: real "
                  "kernels reach a fraction of peak)")
    top = sorted(estimate["layers"], key=lambda x: -x["time_s"])[:5]
    console.print("  slowest: " + ", ".join(
        f"{x['name']} {x['time_s'] * 1e3:.3f} ms ({x['bound']})" for x in top))
    verdict = "[bold green]fits[/bold green]" if f["fits"] else "[bold red]does not fit[/bold red]"
    console.print(
        f"  {verdict}: weights {nbytes(f['weights_bytes'])} of {nbytes(f['storage_bytes'])} "
        f"storage ({'ok' if f['weights_fit'] else 'too big'}), peak activations "
        f"{nbytes(f['peak_activation_bytes'])} of {nbytes(f['ram_bytes'])} RAM "
        f"({'ok' if f['activations_fit'] else 'too big'})")


def write_csv(report: Report, path: Path) -> None:
    rows = report.to_dict()["layers"]

    def write(f):
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({**r, "inputs": " ".join(r["inputs"]),
                        "output_shape": "x".join(map(str, r["output_shape"]))})

    atomic_write(path, write, mode="w", newline="")


def totals_lines(report: Report) -> list[tuple[str, str]]:
    t = report.totals()
    wb = t["weight_bytes"]
    rows = [
        ("params", f"{t['params']:,} ({t['trainable_params']:,} trainable, "
                   f"{t['non_trainable_params']:,} non-trainable)"),
        ("MACs", f"{t['macs']:,} ({si(t['macs'])}; FLOPs {si(t['flops'])})"),
        ("other ops", f"{si(t['other_ops'])} (bias, norm, activation, pooling, element-wise)"),
        ("weights", f"{nbytes(wb['fp32'])} fp32 | {nbytes(wb['fp16'])} fp16 | "
                    f"{nbytes(wb['int8'])} int8"),
        ("peak activations", f"{nbytes(t['peak_activation_bytes'])} at {t['peak_at_layer']} "
                             f"(batch {report.batch}, "
                             f"{report.act_dtype or 'dtypes as stored'})"),
        ("all activations", f"{nbytes(t['activation_bytes_total'])} "
                            "(training-style sum; views count 0)"),
    ]
    if t["uncounted_layers"]:
        rows.append(("not counted", ", ".join(t["uncounted_layers"])))
    return rows


def render_table(report: Report, console, layers: bool = True) -> None:
    from rich.table import Table

    m = report.model
    title = f"{m['name']}  {shape(m['input_shape'])}  ({m['source']}, {m['format']})"
    if layers:
        table = Table(title=title, title_justify="left", pad_edge=False, box=None,
                      header_style="bold")
        for col, just in (("#", "right"), ("layer", "left"), ("op", "left"),
                          ("output", "left"), ("params", "right"), ("MACs", "right"),
                          ("act", "right")):
            table.add_column(col, justify=just, no_wrap=col != "layer", overflow="fold")
        for r in report.layers:
            table.add_row(str(r.index), r.name, r.op + ("" if r.counted else " (?)"),
                          shape(r.output_shape), si(r.params) if r.params else "",
                          si(r.macs * report.batch) if r.macs else "",
                          "view" if r.alias else nbytes(report.activation_bytes(r)))
        console.print(table)
    else:
        console.print(f"[bold]{title}[/bold]")
    for key, value in totals_lines(report):
        console.print(f"[bold]{key:>17}[/bold]  {value}")
    console.print("[dim]" + "\n".join(f"* {c}" for c in CONVENTIONS) + "[/dim]",
                  highlight=False)


def plot_layers(report: Report, path: Path) -> None:
    """Bar charts per layer: MACs, and activation bytes with the live memory curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layers = report.layers
    x = range(len(layers))
    plan = report.memory_plan()
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(max(8, len(layers) * 0.12), 7), sharex=True)
    ax1.bar(x, [r.macs * report.batch / 1e6 for r in layers], color="tab:blue")
    ax1.set_ylabel("MMACs")
    ax1.set_title(f"{report.model['name']}: per-layer compute and memory")
    ax2.bar(x, [report.activation_bytes(r) / 2**10 for r in layers], color="tab:orange",
            label="output activation")
    ax2.plot(x, [b / 2**10 for b in plan.live_bytes], color="black", lw=1,
             label="live (liveness)")
    ax2.set_ylabel(f"KiB ({report.act_dtype or 'stored dtypes'}, batch {report.batch})")
    ax2.legend(loc="upper right")
    step = max(1, len(layers) // 40)
    ax2.set_xticks(list(x)[::step])
    ax2.set_xticklabels([r.name for r in layers][::step], rotation=90, fontsize=6)
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110), mode="wb")
    plt.close(fig)


def render_schedule(report: Report, schedule, console) -> None:
    given = report.memory_plan()
    saved = given.peak_bytes - schedule.peak_bytes
    console.print(f"[bold]memory schedule[/bold]: peak {nbytes(given.peak_bytes)} in the "
                  f"given order, {nbytes(schedule.peak_bytes)} in the best order found "
                  f"({schedule.method} search, {schedule.states} states)"
                  + (f": saves {nbytes(saved)} ({saved / given.peak_bytes:.1%})" if saved
                     else ": the given order is already the best"))


def plot_timeline(report: Report, path: Path, schedule=None) -> None:
    """Live activation bytes at every step: the given order and, if searched, the best."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    given = report.memory_plan()
    fig, ax = plt.subplots(figsize=(max(8, len(report.layers) * 0.08), 4))
    ax.step(range(len(given.live_bytes)), [b / 2**10 for b in given.live_bytes], where="mid",
            label=f"given order (peak {nbytes(given.peak_bytes)})")
    if schedule is not None:
        best = report.memory_plan(schedule.order)
        ax.step(range(len(best.live_bytes)), [b / 2**10 for b in best.live_bytes],
                where="mid", label=f"best order (peak {nbytes(best.peak_bytes)})")
    ax.axvline(given.peak_step, color="grey", lw=0.5)
    ax.set_xlabel("execution step")
    ax.set_ylabel("live activations (KiB)")
    ax.set_title(f"{report.model['name']}: activation memory over time", fontsize=10)
    ax.legend()
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110), mode="wb")
    plt.close(fig)
