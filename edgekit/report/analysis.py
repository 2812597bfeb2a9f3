"""Render an analysis Report: rich table, JSON, CSV, plot."""

from __future__ import annotations

import csv
from pathlib import Path

from edgekit.core.counting import CONVENTIONS
from edgekit.core.files import write_output
from edgekit.core.records import Report
from edgekit.core.units import nbytes, shape, si
from edgekit.report.figures import save_figure

CSV_FIELDS = ("index", "name", "op", "inputs", "output_shape", "params", "trainable_params",
              "non_trainable_params", "macs", "other_ops", "activation_bytes", "counted")


def to_json(report: Report, estimate: dict | None = None, schedule=None) -> str:
    from edgekit.core.documents import ANALYSIS

    return ANALYSIS.dumps(to_document(report, estimate, schedule))


def to_document(report: Report, estimate: dict | None = None, schedule=None) -> dict:
    """The analyze JSON document (README: JSON schema)."""
    data = report.to_dict()
    plan = report.memory_plan()
    data["memory_timeline"] = {"order": plan.order, "live_bytes": plan.live_bytes}
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
    return data


def render_estimate(estimate: dict, console) -> None:
    """The latency from the device's measured kernels (when it has a table), the
    roofline total, the slowest layers, and the fit verdict."""
    from edgekit.report.user_text import esc, marked, styled

    f = estimate["fit"]
    console.print(marked(f"[bold]on {esc(estimate['profile'])}[/bold] "
                         f"({esc(estimate['title'])})"))
    t = estimate.get("table")
    if t is not None:
        console.print(styled(
            f"  latency from measured kernels {estimate['time_s'] * 1e3:.3f} ms per batch "
            f"(table {t['table']}, {t['provider']}, threads {t['threads'] or 'default'}, of "
            f"{Path(t['file']).name}: {t['measured']} ops looked up, {t['scaled']} scaled "
            f"from similar kernels, {t['missing']} without any)"))
        if t.get("interval_ms"):      # per call of the file: scaled as time_s is
            k = estimate["time_s"] * 1e3 / t["ms"] if t["ms"] else 1.0
            console.print(f"  {t['coverage']:.0%} interval {t['interval_ms'][0] * k:.3f}.."
                          f"{t['interval_ms'][1] * k:.3f} ms (from {t['interval_from']} "
                          "models of the table, each predicted with itself left out)")
        elif "interval_ms" in t:
            console.print(f"  no interval: {t['interval_from']} models of the table timed "
                          "whole on this device (9 needed)")
        if t.get("table_noise") is not None:
            console.print(f"  the table's noise: its whole-model timings vary by "
                          f"±{t['table_noise']:.1%} (median)")
        for note in t.get("notes") or []:
            console.print(styled(f"  no measured neighbour: {note}", "yellow"))
    elif estimate.get("table_unused"):
        console.print(styled(f"  {estimate['table_unused']}", "dim"))
    roof = estimate.get("roofline_s", estimate["time_s"])
    console.print(f"  roofline estimate {roof * 1e3:.3f} ms per batch "
                  f"({estimate['compute_bound_layers']} layers compute-bound, "
                  f"{estimate['memory_bound_layers']} memory-bound; a lower bound: real "
                  "kernels reach a fraction of peak)")
    top = sorted(estimate["layers"], key=lambda x: -x["time_s"])[:5]
    console.print(styled("  slowest: " + ", ".join(
        f"{x['name']} {x['time_s'] * 1e3:.3f} ms ({x['bound']})" for x in top)))
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

    write_output(path, write, mode="w", stdout=True, newline="")


def batch_label(report: Report) -> str:
    """'batch 8', or for a report of one call (ONNX) the batch its axis was bound to, or
    'one call' where the file declares no batch axis."""
    if report.batch_in_shapes and report.model.get("batch") is None:
        return "one call"
    return f"batch {report.batch}"


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
                             f"({batch_label(report)}, "
                             f"{report.act_dtype or 'dtypes as stored'})"),
        ("all activations", f"{nbytes(t['activation_bytes_total'])} "
                            "(training-style sum; views count 0)"),
    ]
    shapes = report.model.get("input_shapes")
    if shapes:
        rows.insert(0, ("input shapes", ", ".join(f"{k} {v}" for k, v in shapes.items())))
    unknown = t["unknown_size_layers"]
    if unknown:
        need = report.model.get("unbound_inputs") or {}
        why = (f"the file leaves their sizes dynamic; give --input-shape for "
               f"{', '.join(need)} (full shape, batch first)" if need else
               "neither shape inference nor a run could tell their sizes (ops that no "
               "evaluator here implements, or sizes that depend on input values: try "
               "--inputs)")
        rows.append(("unknown sizes", f"{len(unknown)} layers are left out of the "
                                      f"totals: {why}"))
    macs_left = t["uncounted_mac_layers"]
    rest = [n for n in t["uncounted_layers"] if n not in set(unknown) | set(macs_left)]
    if rest:
        rows.append(("not counted", ", ".join(rest)))
    if macs_left:
        rows.append(("MACs incomplete", f"{len(macs_left)} op(s) that hold (or may hold) "
                     "multiply-adds are not in the MAC total: " + ", ".join(macs_left)))
    params_left = t.get("uncounted_param_layers") or []
    if params_left:
        rows.append(("params incomplete", f"{len(params_left)} op(s) that edgekit does not "
                     "know read stored tensors the params total leaves out: "
                     + ", ".join(params_left)))
    return rows


def render_table(report: Report, console, layers: bool = True) -> None:
    from rich.text import Text

    from edgekit.report.user_text import esc, marked, text_table

    m = report.model
    title = (f"{m.get('target', m['name'])}  input {shape(m['input_shape'])}  "
             f"{batch_label(report)}  {report.act_dtype or 'dtypes as stored'}  "
             f"({m['source']}, {m['format']})")
    if layers:
        # piped, the title is one line (not wrapped at the table's width); names from the
        # file are text, never markup
        table = text_table(title, console)
        for col, just in (("#", "right"), ("layer", "left"), ("op", "left"),
                          ("output", "left"), ("params", "right"), ("MACs", "right"),
                          ("act", "right")):
            table.add_column(col, justify=just, no_wrap=col != "layer", overflow="fold")
        for r in report.layers:
            table.add_row(str(r.index), Text(r.name), r.op + ("" if r.counted else " (?)"),
                          shape(r.output_shape), si(r.params) if r.params else "",
                          si(r.macs * report.multiplier) if r.macs else "",
                          "view" if r.alias else nbytes(report.activation_bytes(r)))
        console.print(table)
    else:
        console.print(Text(title, style="bold"), soft_wrap=True)
    for key, value in totals_lines(report):
        console.print(marked(f"[bold]{key:>17}[/bold]  {esc(value)}"))
    if layers:  # --summary: totals only
        console.print("[dim]" + "\n".join(f"* {c}" for c in CONVENTIONS) + "[/dim]",
                      highlight=False)


def byte_unit(peak: float) -> tuple[str, float]:
    """One unit for every memory figure of a chart, chosen by its largest value."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if peak >= size:
            return unit, size
    return "bytes", 1


def _title(report: Report, what: str) -> str:
    m = report.model
    return (f"{m.get('target', m['name'])}: {what} ({batch_label(report)}, "
            f"{report.act_dtype or 'dtypes as stored'})")


def plot_layers(report: Report, path: Path) -> None:
    """Per layer: MACs, and output bytes with the live-memory curve, the peak marked. At
    most ~45 layer names are written (every k-th), so any model size stays readable."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layers = report.layers
    x = range(len(layers))
    plan = report.memory_plan()
    unit, size = byte_unit(max(plan.live_bytes, default=1))
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(min(16, max(8, len(layers) * 0.09)), 7.5),
                                   sharex=True)
    ax1.bar(x, [r.macs * report.multiplier / 1e6 for r in layers], color="#1f77b4")
    ax1.set_ylabel("multiply-accumulates (millions)")
    ax1.set_title(_title(report, "compute and activation memory per layer"), fontsize=10)
    ax2.bar(x, [report.allocated_bytes(r) / size for r in layers], color="#ff7f0e",
            label="layer output")
    ax2.plot(x, [b / size for b in plan.live_bytes], color="black", lw=1,
             label="live activations (liveness)")
    peak = plan.peak_step
    ax2.plot([peak], [plan.peak_bytes / size], "v", color="#d62728", ms=9,
             label=f"peak {nbytes(plan.peak_bytes)} at {layers[peak].name}")
    ax2.set_ylabel(f"activation memory ({unit})")
    ax2.legend(loc="upper right", fontsize=8)
    step = max(1, -(-len(layers) // 45))
    ax2.set_xticks(list(x)[::step])
    ax2.set_xticklabels([_short(r.name) for r in layers][::step], rotation=90, fontsize=7)
    ax2.set_xlabel("layer (execution order)" + (f"; one name in {step}" if step > 1
                                                 else ""))
    fig.tight_layout()
    save_figure(fig, path)


def _short(name: str, width: int = 28) -> str:
    return name if len(name) <= width else name[:12] + "…" + name[-(width - 13):]


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
    unit, size = byte_unit(max(given.live_bytes, default=1))
    fig, ax = plt.subplots(figsize=(min(16, max(8, len(report.layers) * 0.08)), 4.5))
    ax.step(range(len(given.live_bytes)), [b / size for b in given.live_bytes], where="mid",
            label=f"given order (peak {nbytes(given.peak_bytes)})")
    if schedule is not None:
        best = report.memory_plan(schedule.order)
        ax.step(range(len(best.live_bytes)), [b / size for b in best.live_bytes],
                where="mid", label=f"best order (peak {nbytes(best.peak_bytes)})")
    ax.plot([given.peak_step], [given.peak_bytes / size], "v", color="#d62728", ms=9)
    ax.annotate(f"peak at {report.layers[given.peak_step].name}",
                (given.peak_step, given.peak_bytes / size), textcoords="offset points",
                xytext=(6, 6), fontsize=8)
    ax.set_xlabel("execution step")
    ax.set_ylabel(f"live activations ({unit})")
    ax.set_title(_title(report, "activation memory over time"), fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
