"""How well a latency table predicts whole models on this host (issues 13, 32; 30 item 3).

Measures (or reads back, ``--from``) a latency table of a grid of zoo configs: MobileNet
v1 α 0.25–1.0 and v2 α 0.35–1.0 at 128–224 px, fp32 and int8, the newer families
(mobilenet_v3, efficientnet_lite, mobilenet_v4) where the zoo has them, and the synthetic
kernels of the newer families (services/lut_synthetic.py: hard-swish, squeeze-excite,
5x5 depthwise, full 3x3 stride-2 and 1x1 heads; ``--no-synthetic`` leaves them out). Each
distinct kernel is timed alone in LiteRT, each model whole in ``--rounds`` interleaved
rounds (its whole time in the table: the median of the rounds); then every model is timed
whole again in ``--rounds`` interleaved rounds, the truth predictions are compared with (the
median of those rounds); with ``--whole-from rounds`` the odd rounds give the table's
whole times (the whole-vs-sum line) and the even rounds the truth, timed alike.
Times are the calling thread's CPU time by default (``--clock thread``, one thread): on a
machine shared with other work, wall times of whole models carry the time the OS gave
others. Printed first: the load average and the noise ceiling (how often two timings of
the same file agree within ±10 %: no prediction can be checked better than that). Then,
from the per-kernel-type regressions (core/lut_model.py):

- the whole-vs-sum correction per dtype (core/lut_line.py: the cache line whole =
  sum·(a + c·log activation bytes per op) + d·MiB of weights that stay in cache alone,
  the footprint line without d, or the plain a·sum + b) with the leave-one-model-out
  error of each;
- leave-one-config-out: each config predicted from the table with its own kernels and
  its own whole-vs-sum point left out;
- leave-one-family-out: each family predicted from the other families' kernels only
  (v1 predicts v2 and the reverse; v1 + v2 predict the newer families, without and with
  the synthetic kernels);
- per miss (outside ±10 %): the part from the kernels (predicted vs measured isolated
  sum), from the whole-vs-sum line (the line on the measured sum vs the whole time in the
  table), and from noise (the table's whole time vs this run's, and the spread of the
  rounds);
- with ``--sample N``: the table adapted from N kernels per type (LitePred-style) from a
  reference table (``--reference``, measured elsewhere or with other settings), against
  the full table, with the time each took to measure.

    python tools/predict_latency.py [--runs 30] [--threads 1] [--save m.json]
    python tools/predict_latency.py --from m.json

Exports come from the edgekit cache (the first run exports the grid: minutes). Timings on
a shared machine are noisy: say so next to any figure quoted from it.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

FAMILIES = {"mobilenet": [0.25, 0.5, 0.75, 1.0], "mobilenet_v2": [0.35, 0.5, 0.75, 1.0]}
RESOLUTIONS = [128, 160, 192, 224]
# the newer families, where the zoo has them: a few configs each (their knobs are variants)
NEWER = {
    "mobilenet_v3": [{"variant": v, "alpha": 1.0, "resolution": r}
                     for v in ("small", "large") for r in (160, 224)],
    "efficientnet_lite": [{"variant": "0"}, {"variant": "1"}],
    "mobilenet_v4": [{"variant": "conv_small", "resolution": r} for r in (192, 224)],
}


def measure(args) -> dict:
    from edgekit.runtimes.measure import Method
    from edgekit.services.lut import Grid, measure_table, whole_rounds
    from edgekit.zoo.registry import names

    newer = {m: k for m, k in NEWER.items() if m in names()}
    models = [m for m in [*FAMILIES, *newer] if not args.families or m in args.families]
    grid = Grid(models=models, alphas=None,  # each family's own α list
                resolutions=RESOLUTIONS, quants=["none", "int8"], knobs=newer,
                synthetic=not args.no_synthetic)
    out = Path(args.save)
    t0 = time.monotonic()
    data = measure_table(grid, Method(runs=args.runs, warmup=10, clock=args.clock),
                         threads=args.threads,
                         xnnpack=not args.builtin, output=out,
                         notify=lambda m: print(m, file=sys.stderr),
                         statistic=args.statistic, rounds=args.rounds)
    data["table_s"] = time.monotonic() - t0
    t1 = time.monotonic()
    real = [n for n, m in enumerate(data["models"]) if not m.get("synthetic")]
    timed = whole_rounds([Path(data["models"][n]["file"]) for n in real], args.threads,
                         Method(runs=args.runs, warmup=5, clock=args.clock), args.rounds,
                         not args.builtin, args.statistic)
    data["remeasured_ms"] = [[] for _ in data["models"]]   # synthetic: never timed whole
    for n, t in zip(real, timed, strict=True):
        data["remeasured_ms"][n] = t
    data["remeasure_s"] = time.monotonic() - t1
    data["load"] = _load()
    out.write_text(json.dumps(data))
    return data


def _load() -> list[float] | None:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return None


def rows_of(table, n: int) -> list[tuple]:
    return [("", "", key, macs) for key, macs, c in table.model_kernels(n) for _ in range(c)]


def label(m: dict) -> str:
    k = m.get("knobs") or m
    said = " ".join(str(k[n]) for n in ("variant",) if k.get(n)) + " " + " ".join(
        f"{n[0]}{k[n]:g}" for n in ("alpha", "resolution") if k.get(n))
    return f"{m['model']} {said.strip()} {m['dtype']}"


def evaluate(table, data: dict, exclude_of) -> list[dict]:
    """Every model predicted with ``exclude_of(n)`` left out of the table, against its
    whole time measured again (median of the rounds); the error split into kernels,
    whole-vs-sum line and noise (multiplicative: (1+k)(1+l)(1+n) = 1 + error)."""
    out = []
    for n, m in enumerate(data["models"]):
        ex = exclude_of(n)
        if ex is None or m.get("synthetic"):
            continue
        # this run's time: the median of the rounds that are the truth (each round the
        # statistic of its runs: a disturbed round is outvoted, as in the table's own
        # rounds, services.lut.measure_table)
        truth = data.get("truth_rounds", slice(None))
        now = statistics.median(data["remeasured_ms"][n][truth])
        p = table.predict_kernels(rows_of(table, n), m["dtype"], ex)
        # the line on the table's own (measured) kernel times: what the line adds
        on_measured = table.whole_of([(k, table.by_key[k]["ms"]) for k, _, c
                                      in table.model_kernels(n) for _ in range(c)],
                                     m["dtype"], ex)[0]
        rounds = data["remeasured_ms"][n]
        out.append({"n": n, "m": m, "now": now, "p": p, "error": p["ms"] / now - 1,
                    "kernels": p["ms"] / on_measured - 1,
                    "line": on_measured / m["whole_ms"] - 1,
                    "noise": m["whole_ms"] / now - 1,
                    "spread": (max(rounds) - min(rounds)) / 2 / now,
                    "inside": p["interval_ms"] is not None
                    and p["interval_ms"][0] <= now <= p["interval_ms"][1]})
    return out


def report(title: str, rows: list[dict], verbose: bool = True) -> None:
    print(f"\n== {title} ==")
    if verbose:
        print(f"{'config':34} {'now ms':>8} {'pred ms':>8} {'error':>7} {'90 % interval':>17}"
              f"  kernels   line  noise (spread)")
    for r in rows:
        iv = r["p"]["interval_ms"]
        miss = abs(r["error"]) > 0.10
        if verbose or miss:
            print(f"{label(r['m']):34} {r['now']:8.3f} {r['p']['ms']:8.3f} {r['error']:+7.1%} "
                  + (f"{iv[0]:8.3f}..{iv[1]:<8.3f}" if iv else f"{'none':>17}")
                  + (f"  {r['kernels']:+6.1%} {r['line']:+6.1%} {r['noise']:+6.1%} "
                     f"(±{r['spread']:.1%})" if miss else "")
                  + ("  MISS" if miss else ""))
        for note in r["p"]["notes"] if miss or verbose else []:
            print(f"    {note}")
    families = sorted({r["m"]["model"] for r in rows})
    for fam in [*families, None]:
        mine = [r for r in rows if fam is None or r["m"]["model"] == fam]
        within = sum(abs(r["error"]) <= 0.10 for r in mine)
        with_interval = [r for r in mine if r["p"]["interval_ms"] is not None]
        covered = sum(r["inside"] for r in with_interval)
        # against the table's own whole timing of the model: the predictor apart from
        # the difference between two timings of the same file
        table = sum(abs((1 + r["error"]) / (1 + r["noise"]) - 1) <= 0.10 for r in mine)
        print(f"  {fam or 'all':14} within ±10 %: {within:3d} of {len(mine):3d} "
              f"({within / len(mine):4.0%}); median |error| "
              f"{statistics.median(abs(r['error']) for r in mine):5.1%}; interval holds "
              + (f"{covered} of {len(with_interval)} ({covered / len(with_interval):.0%})"
                 if with_interval else "- (no interval: under 9 models of the dtype were "
                 "timed whole)")
              + f"; within ±10 % of the table's own whole timing: {table} "
              f"({table / len(mine):.0%})")


def from_rounds(data: dict) -> dict:
    """The table's whole times from the interleaved rounds (the odd-numbered ones, 1st,
    3rd, ...), the truth from the others: both timed alike, the machine's drift between
    the table's pass and the rounds shared (the table's own pass timed each whole model
    once, minutes before)."""
    models = [{**m, "whole_first_ms": m["whole_ms"], "whole_ms": statistics.median(r[0::2]),
               "whole_ci95_ms": None} if r else m
              for m, r in zip(data["models"], data["remeasured_ms"], strict=True)]
    return {**data, "models": models, "truth_rounds": slice(1, None, 2)}


def noise_ceiling(data: dict) -> str:
    """What the noise alone allows: how often one timing of a model lands within ±10 %
    of another timing of the same file (each pair of this run's rounds; the table's own
    whole time against this run's), whatever the predictor. A prediction cannot be
    checked within ±10 % more often than the truth agrees with itself."""
    import itertools

    real = [(m, r) for m, r in zip(data["models"], data["remeasured_ms"], strict=True)
            if r and m.get("whole_ms")]
    if not real:
        return "noise: no model timed whole in rounds"
    said = []
    for i, j in itertools.combinations(range(min(len(r) for _, r in real)), 2):
        agree = sum(abs(r[i] / r[j] - 1) <= 0.10 for _, r in real)
        said.append(f"rounds {i + 1} and {j + 1}: {agree} of {len(real)}")
    table = sum(abs(m["whole_ms"] / statistics.median(r) - 1) <= 0.10 for m, r in real)
    return ("noise ceiling (the same file timed twice, within ±10 % of each other): "
            + "; ".join(said) + f"; the table's whole time and this run's median: {table} "
            f"of {len(real)} ({table / len(real):.0%})")


def analyse(data: dict, verbose: bool) -> None:
    from edgekit.core.lut import Table

    table = Table("measured", data)
    noise = [(max(r) - min(r)) / 2 / statistics.median(r) for r in data["remeasured_ms"] if r]
    synthetic = {n for n, m in enumerate(data["models"]) if m.get("synthetic")}
    print(f"table: {len(data['kernels'])} kernels of {len(data['models'])} models, threads "
          f"{data.get('threads')}, {data.get('statistic', 'p50')} of {data.get('runs')} runs "
          f"({data.get('clock', 'wall')} clock) "
          f"a timing, {data.get('provider')}, measured in "
          f"{data.get('table_s', 0):.0f} s (exports included); whole times "
          + ("from rounds 1, 3, ... (truth: 2, 4, ...)" if "truth_rounds" in data
             else "from the table pass (truth: all rounds)")
          + f"; load average {data.get('load')}; run-to-run spread of the whole models "
          f"(half-range of "
          f"{len(data['remeasured_ms'][0])} rounds): median {statistics.median(noise):.1%}, "
          f"max {max(noise):.1%}")
    print(noise_ceiling(data))
    fits = table.predictor().fits
    print("kernel types (fit, kernels, leave-one-kernel-out error): " + "; ".join(
        f"{t} {f.kind} {f.n} {math.expm1(f.loo_rms):.0%}" for t, f in sorted(fits.items())
        if f.n >= 3))
    for dtype in sorted({m["dtype"] for m in data["models"] if m.get("whole_ms")}):
        line = table.whole_line(dtype)
        loo = line.get("loo") or {}
        print(f"whole-vs-sum {dtype}: " + (
            f"whole = sum x ({line['a']:.3f} + {line['c']:.4f} x log activation bytes per op)"
            f" + {line['d']:.3f} ms x MiB of weights that stay in cache alone"
            if line["line"] == "cache" else
            f"whole = sum x ({line['a']:.3f} + {line['c']:.4f} x log activation bytes per op)"
            if line["line"] == "footprint" else
            f"whole = {line['a']:.3f} x sum + {line['b']:.3f} ms")
            + "".join(f"; leave-one-model-out {k} {v:.1%}" for k, v in loo.items()
                      if v is not None))
    t0 = time.monotonic()
    report("leave one config out", evaluate(table, data, lambda n: {n}), verbose)
    print(f"  ({time.monotonic() - t0:.1f} s)")
    families = sorted({m["model"] for m in data["models"] if not m.get("synthetic")})
    old = {"mobilenet", "mobilenet_v2"}
    groups = [{f} for f in families]
    if set(families) - old:
        groups += [set(families) - old, old & set(families)]
    for held in groups:
        ex = {n for n, m in enumerate(data["models"]) if m["model"] in held}
        rest = ", ".join(sorted(set(families) - held))
        if not rest:
            continue
        if synthetic and set(families) - old and held == set(families) - old:
            # the newer families from v1 + v2 alone (their hard-swish, squeeze-excite and
            # 5x5 kernels borrowed), then with the synthetic kernels too
            report(f"leave family out: {', '.join(sorted(held))} predicted from {rest} "
                   "(no synthetic kernels)",
                   evaluate(table, data, lambda n, ex=ex | synthetic: ex if n in ex else None),
                   verbose)
            rest += f" + {len(synthetic)} synthetic kernel files"
        report(f"leave family out: {', '.join(sorted(held))} predicted from {rest}",
               evaluate(table, data, lambda n, ex=ex: ex if n in ex else None), verbose)


def adapted(data: dict, args) -> None:
    """The table adapted from --reference with --sample kernels per type timed here,
    against this run's whole times; and the time each table took to measure."""
    from edgekit.core.lut import Table
    from edgekit.runtimes.measure import Method
    from edgekit.services.calibrate import calibrate_table

    ref = json.loads(Path(args.reference).read_text())
    here = {_config(m): n for n, m in enumerate(data["models"])}
    both = {r: here[_config(m)] for r, m in enumerate(ref["models"]) if _config(m) in here}
    if not both:
        sys.exit("--reference: none of its models is in this run")
    # this run's models and times in the reference's order (its indices are the table's)
    view = {**data, "models": [data["models"][both[r]] if r in both else m
                               for r, m in enumerate(ref["models"])],
            "remeasured_ms": [data["remeasured_ms"][both[r]] if r in both else [1.0]
                              for r in range(len(ref["models"]))]}
    t0 = time.monotonic()
    table = calibrate_table(Path(args.reference), args.sample,
                            Method(runs=args.runs, warmup=10, clock=args.clock),
                            Path(args.save + ".adapted"),
                            threads=args.threads,
                            notify=lambda m: print(m, file=sys.stderr))
    took = time.monotonic() - t0
    a = table["adapted"]
    report(f"adapted from {Path(args.reference).name} ({ref.get('provider')}) with "
           f"{args.sample} kernels per type ({a['kernels_measured']} kernels, "
           f"{a['models_measured']} models timed whole here)",
           evaluate(Table("adapted", table), view,
                    lambda n: set() if n in both else None), args.verbose)
    print(f"  time: the sample {table['seconds']:.0f} s of timing ({took:.0f} s in all); "
          f"the full table {data['seconds']:.0f} s of timing ({data['table_s']:.0f} s with "
          f"the exports)")
    print("  factors new/reference per kernel type: " + ", ".join(
        f"{t} {f:.2f}" for t, f in sorted(a["factors"].items())))


def _config(m: dict) -> tuple:
    return m["model"], json.dumps(m.get("knobs"), sort_keys=True), m["quant"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--save", default="/tmp/edgekit-predict.lut.json")
    ap.add_argument("--from", dest="source", help="a file --save wrote: no measurement")
    ap.add_argument("--quiet", action="store_true", help="only the misses and the shares")
    ap.add_argument("--builtin", action="store_true",
                    help="measure with LiteRT's builtin kernels, not XNNPACK (a stand-in "
                    "for another machine, to adapt from)")
    ap.add_argument("--reference", help="a table measured elsewhere (or --builtin) to adapt "
                    "to this machine from --sample kernels per type")
    ap.add_argument("--sample", type=int, default=48)
    ap.add_argument("--statistic", choices=["min", "p50"], default="min",
                    help="what a time is: the fastest of the runs (default: on a shared "
                    "machine, the run least disturbed) or their median")
    ap.add_argument("--no-analysis", action="store_true")
    ap.add_argument("--no-synthetic", action="store_true",
                    help="measure without the synthetic kernels of the newer families "
                    "(services/lut_synthetic.py)")
    ap.add_argument("--whole-from", choices=["rounds", "table"], default="table",
                    help="the whole times the table's line is fitted on: the table's own "
                    "pass (default; all rounds are the truth) or the odd rounds (the even "
                    "rounds the truth: both timed alike)")
    ap.add_argument("--families", type=lambda t: t.split(","), default=None,
                    help="measure only these zoo families (comma-separated)")
    ap.add_argument("--clock", choices=["wall", "thread"], default="thread",
                    help="time as the calling thread's CPU time (default; 1 thread only: "
                    "on a shared machine, what the run costs without the time the OS gave "
                    "others) or wall time")
    args = ap.parse_args()
    if args.clock == "thread" and args.threads != 1:
        sys.exit("--clock thread counts the calling thread only: use --threads 1")
    args.verbose = not args.quiet
    data = json.loads(Path(args.source).read_text()) if args.source else measure(args)
    if args.whole_from == "rounds" and len(data["remeasured_ms"][0]) >= 2:
        data = from_rounds(data)
    if not args.no_analysis:
        analyse(data, args.verbose)
    if args.reference:
        adapted(data, args)


if __name__ == "__main__":
    main()
