"""Render benchmark results: table, comparison with a previous run, latency plot."""

from __future__ import annotations

import json
from pathlib import Path

from edgekit.core.errors import UsageError
from edgekit.core.stats import regression
from edgekit.report.files import atomic_write

KEY = ("model", "runtime", "provider", "threads", "batch")


def row_key(r: dict) -> tuple:
    return tuple(r.get(k) for k in KEY)


def load_previous(path: Path) -> dict[tuple, dict]:
    try:
        data = json.loads(Path(path).read_text())
        return {row_key(r): r for r in data["results"]}
    except FileNotFoundError:
        raise UsageError(f"--compare: file not found: {path}") from None
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise UsageError(f"--compare {path}: not an 'edgekit bench --json' file ({e})") from None


def compare_rows(results: list[dict], previous: dict[tuple, dict]) -> None:
    """Annotate each result with its change against the previous run (in place)."""
    for r in results:
        old = previous.get(row_key(r))
        if old is None:
            continue
        o, n = old["latency_ms"], r["latency_ms"]
        r["compare"] = {"previous_p50": o["p50"], "change": n["p50"] / o["p50"] - 1,
                        "verdict": regression(o["p50"], n["p50"], o["stdev"], n["stdev"])}


def render_bench(data: dict, console) -> None:
    from rich.table import Table

    results = data["results"]
    env = data["environment"]
    models = list(dict.fromkeys(r["model"] for r in results))
    title = f"{env['cpu']} ({env['usable_cores']} cores)"
    if len(models) == 1:
        title = f"{models[0]} on {title}"
    table = Table(title=title, title_justify="left",
                  box=None, pad_edge=False, header_style="bold")
    has_gmacs = any("gmacs_per_s" in r for r in results)
    has_peak = any("fraction_of_peak" in r for r in results)
    has_cmp = any("compare" in r for r in results)
    batches = len({r["batch"] for r in results}) > 1
    cols = (["model"] if len(models) > 1 else []) + ["runtime", "thr"] + (
        ["batch"] if batches else []) + ["p50 ms", "p90", "p99", "cv", "items/s"]
    cols += ["GMAC/s"] if has_gmacs else []
    cols += ["% peak"] if has_peak else []
    cols += ["load ms", "1st ms"]
    cols += ["vs prev"] if has_cmp else []
    for c in cols:
        table.add_column(c, justify="left" if c in ("model", "runtime") else "right",
                         overflow="fold", no_wrap=c != "model")
    for r in results:
        lat = r["latency_ms"]
        default_provider = r["provider"] in ("cpu", "xnnpack", None)
        runtime = r["runtime"] + ("" if default_provider else f"/{r['provider']}")
        row = ([Path(r["model"]).name] if len(models) > 1 else []) + [
               runtime, str(r["threads"] or "-")] + ([str(r["batch"])] if batches else []) + [
               f"{lat['p50']:.3f}", f"{lat['p90']:.3f}", f"{lat['p99']:.3f}",
               f"{r['cv']:.1%}", f"{r['throughput_items_s']:.1f}"]
        if has_gmacs:
            row.append(f"{r['gmacs_per_s']:.2f}" if "gmacs_per_s" in r else "")
        if has_peak:
            row.append(f"{r['fraction_of_peak']:.1%}" if "fraction_of_peak" in r else "")
        row += [f"{r['load_ms']:.0f}", f"{r['first_run_ms']:.1f}"]
        if has_cmp:
            c = r.get("compare")
            if c is None:
                row.append("new")
            else:
                color = {"slower": "red", "faster": "green"}.get(c["verdict"], "dim")
                row.append(f"[{color}]{c['change']:+.1%} {c['verdict']}[/{color}]")
        table.add_row(*row)
    console.print(table)
    console.print("[dim]latency per call in ms (p50/p90/p99 over the timed runs); cv = stdev/"
                  "mean; items/s = batch/p50; GMAC/s = MACs per call / p50; litert runs "
                  "with XNNPACK unless marked /builtin.[/dim]")


def plot_latency(data: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = data["results"]
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(results)), 4.5))
    ax.boxplot([r["samples_ms"] for r in results], showfliers=True)
    ax.set_xticks(range(1, len(results) + 1))
    ax.set_xticklabels([f"{r['runtime']}\n{r['provider']} t={r['threads'] or '-'} "
                        f"b={r['batch']}" for r in results], fontsize=7)
    ax.set_ylabel("latency per call (ms)")
    ax.set_title(", ".join(sorted({r["model"] for r in results}))[:100], fontsize=9)
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110), mode="wb")
    plt.close(fig)
