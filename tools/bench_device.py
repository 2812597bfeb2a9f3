"""The same model timed locally and on the loopback SSH device, in one run: does a device
session change the figures (aim: ratio of p50s 1.00 +- 0.05), and what does a session cost
before the first timing (aim: under 3 s)?

    .venv/bin/python tools/bench_device.py [--rounds 5] [--runs 100] [--alpha 1.0]
        [--resolution 224]

The board is tools/loopback_board.py: a real sshd on 127.0.0.1 and the board Python
(.venv/board, `make board`). Local and device runs alternate (L D L D ...) so that drift in
the machine's speed falls on both; each ratio is the median over rounds of device p50 /
local p50 for the same file, runtime and thread count.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loopback_board import LoopbackBoard  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--alpha", type=float, default=1.0)
    ap.add_argument("--resolution", type=int, default=224)
    args = ap.parse_args()

    from edgekit.bench.run import BenchOptions
    from edgekit.core.devices import make_device
    from edgekit.services.bench import bench
    from edgekit.services.export import cached_export
    from edgekit.services.remote import session
    from edgekit.services.targets import resolve_target

    zoo = resolve_target("mobilenet", {"alpha": args.alpha, "resolution": args.resolution})
    files = [cached_export(zoo, q)[r] for q in ("none", "int8")
             for r in ("litert", "onnxruntime")]
    targets = [resolve_target(str(f), {}) for f in files]
    with tempfile.TemporaryDirectory(prefix="ek-board-") as tmp, LoopbackBoard(Path(tmp)) as lb:
        device = make_device("loopback", lb.url, str(lb.python), lb.ssh_options)
        costs = _session_costs(session, device)
        ratios: dict[tuple, list[float]] = {}
        for i in range(args.rounds):
            for where in ("local", "device"):
                opts = BenchOptions(runtimes=["litert", "onnxruntime"], threads=[1, 2],
                                    runs=args.runs, warmup=20)
                t0 = time.monotonic()
                data = bench(targets, opts, device=device if where == "device" else None)
                wall = time.monotonic() - t0
                timed = sum(r["duration_s"] for r in data["results"])
                print(f"round {i + 1} {where:6}: {wall:5.1f} s wall, {timed:5.1f} s timed",
                      flush=True)
                for r in data["results"]:
                    key = (Path(r["file"]).name, r["runtime"], r["threads"])
                    ratios.setdefault(key, []).append(r["latency_ms"]["p50"])
    _print(ratios, costs)


def _session_costs(session, device) -> dict[str, list[float]]:
    """Seconds from nothing to a board ready to time (connect, probe, copy the runtime
    layer when it is not there, start the agent): the first session and later ones."""
    import shutil

    from edgekit.remote.board import CACHE, bundle

    # the loopback board's cache is this machine's: empty it so that the first is a first
    shutil.rmtree(Path.home() / CACHE / "code" / bundle()[0], ignore_errors=True)
    costs: dict[str, list[float]] = {"first": [], "later": []}
    for i in range(4):
        t0 = time.monotonic()
        with session(device) as board:
            took = time.monotonic() - t0
            detail = board.timings
        costs["first" if i == 0 else "later"].append(took)
        parts = ", ".join(f"{k} {v:.2f}" for k, v in detail.items())
        print(f"session {i + 1}: {took:.2f} s ({parts})", flush=True)
    return costs


def _print(p50s: dict[tuple, list[float]], costs: dict) -> None:
    print(f"\n{'file':48} {'runtime':12} thr  local p50  device p50  device/local")
    ratios = []
    for (name, runtime, threads), values in sorted(p50s.items()):
        local, device = values[0::2], values[1::2]
        ratio = statistics.median(d / lo for d, lo in zip(device, local, strict=True))
        ratios.append(ratio)
        print(f"{name:48} {runtime:12} {threads:3}  {statistics.median(local):9.3f}  "
              f"{statistics.median(device):10.3f}  {ratio:11.3f}")
    print(f"\nratio of p50s, device/local: median {statistics.median(ratios):.3f}, "
          f"range {min(ratios):.3f}-{max(ratios):.3f} over {len(ratios)} settings")
    print(f"session cost: first {costs['first'][0]:.2f} s (copies the runtime layer), "
          f"later {statistics.median(costs['later']):.2f} s (median of "
          f"{len(costs['later'])})")


if __name__ == "__main__":
    main()
