"""How well a latency table predicts whole models on this host (issue 13).

For every config of the MobileNet v1 α × resolution grid (16 configs) and both dtypes:
the table is measured once on all configs (each distinct kernel timed alone in LiteRT,
each model whole); each config is then predicted from the table *as if it had never seen
that config* (its own kernels left out unless another config has them too, and the
whole-vs-sum line fitted without it), and compared with its whole-model latency measured
again in the same run, after the table. Prints the share of predictions within ±10 %.

Also prints, with --ratios, the sum of the isolated ops over the whole model for
MobileNet α = 0.25 and 1.0 at 224 px, fp32 and int8, with and without XNNPACK.

    python tools/predict_latency.py [--runs 100] [--threads 1] [--ratios]

Exports come from the edgekit cache (the first run exports 32 models: minutes).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ALPHAS = [0.25, 0.5, 0.75, 1.0]
RESOLUTIONS = [128, 160, 192, 224]


def whole_ms(path: Path, threads: int, runs: int, rounds: int = 3) -> float:
    """Median over ``rounds`` of the p50 of ``runs`` timed invokes (inputs set once)."""
    from edgekit.runtimes.isolate import interpreter, reference_tensors, time_invoke
    from edgekit.runtimes.measure import Method

    _, fed = reference_tensors(path)
    it = interpreter(path, threads=threads, xnnpack=True)
    for d, x in zip(it.get_input_details(), fed, strict=False):
        it.set_tensor(d["index"], x)
    return statistics.median(time_invoke(it.invoke, Method(runs=runs, warmup=10))["ms"]
                             for _ in range(rounds))


def predictions(args) -> None:
    from edgekit.core.lut import Table
    from edgekit.runtimes.measure import Method
    from edgekit.services.lut import Grid, measure_table, predict_file

    grid = Grid(models=["mobilenet"], alphas=ALPHAS, resolutions=RESOLUTIONS,
                quants=["none", "int8"])
    out = Path(args.output)
    t0 = time.monotonic()
    data = measure_table(grid, Method(runs=args.runs, warmup=10), threads=args.threads,
                         output=out, notify=lambda m: print(m, file=sys.stderr))
    print(f"table: {len(data['kernels'])} kernels of {len(data['models'])} models, "
          f"{time.monotonic() - t0:.0f} s with the exports")
    table = Table.load(out)
    errors = []
    print(f"{'dtype':7} {'alpha':>5} {'res':>4} {'measured':>9} {'predicted':>9} "
          f"{'error':>7}  looked-up/scaled/missing")
    for n, m in enumerate(data["models"]):
        real = whole_ms(Path(m["file"]), args.threads, args.runs)
        pred = predict_file(m["file"], table, m["dtype"], exclude={n})
        err = pred["ms"] / real - 1
        errors.append((m, err))
        print(f"{m['dtype']:7} {m['alpha']:5g} {m['resolution']:4d} {real:9.3f} "
              f"{pred['ms']:9.3f} {err:+7.1%}  {pred['measured']}/{pred['scaled']}/"
              f"{pred['missing']}")
    within = [e for _, e in errors if abs(e) <= 0.10]
    print(f"\nwithin ±10 %: {len(within)} of {len(errors)} ({len(within) / len(errors):.0%}); "
          f"median |error| {statistics.median(abs(e) for _, e in errors):.1%}")
    for dtype in ("float32", "int8"):
        mine = [e for m, e in errors if m["dtype"] == dtype]
        print(f"  {dtype}: {sum(abs(e) <= 0.10 for e in mine)} of {len(mine)}")
    print("outside: " + ", ".join(f"{m['dtype']} α={m['alpha']:g} r={m['resolution']} "
                                  f"{e:+.0%}" for m, e in errors if abs(e) > 0.10))


def ratios(args) -> None:
    from edgekit.runtimes.isolate import profile
    from edgekit.runtimes.measure import Method
    from edgekit.services.export import cached_export
    from edgekit.services.targets import resolve_target

    print(f"\nsum of isolated ops / whole model (threads {args.threads}, p50 of "
          f"{args.runs} runs each)")
    for alpha in (0.25, 1.0):
        t = resolve_target("mobilenet", {"alpha": alpha, "resolution": 224})
        for quant in ("none", "int8"):
            path = cached_export(t, quant, runtimes=("litert",))["litert"]
            for xnnpack in (True, False):
                p = profile(path, threads=args.threads, xnnpack=xnnpack,
                            method=Method(runs=args.runs, warmup=10))
                total = sum(o["ms"] for o in p["ops"])
                print(f"  α={alpha:<4g} 224 {quant:4} {'xnnpack' if xnnpack else 'builtin':7}"
                      f"  whole {p['whole']['ms']:8.3f} ms  sum {total:8.3f} ms  "
                      f"ratio {total / p['whole']['ms']:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--output", default="/tmp/edgekit-predict.lut.json")
    ap.add_argument("--ratios", action="store_true", help="also the sum/whole ratios")
    ap.add_argument("--no-predictions", action="store_true")
    args = ap.parse_args()
    if not args.no_predictions:
        predictions(args)
    if args.ratios:
        ratios(args)


if __name__ == "__main__":
    main()
