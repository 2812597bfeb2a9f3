"""The 8-config sweep (mobilenet α {0.25, 0.5} × {96, 128} px × {none, int8}, with a device
profile, no timing) three ways in one run: the local executor from a cold export cache, Ray
with 2 workers from another cold cache, and the fully cached rerun (the store holds every
stage). Prints wall times and their ratios to the local run.

    .venv/bin/python tools/bench_sweep.py [--workers 2] [--runtime litert]

Each run is a fresh `edgekit sweep` process (TensorFlow import included, as a user sees
it). With --runtime the configs are timed too (on the host, after the builds).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GRID = ["mobilenet", "--alpha", "0.25,0.5", "--resolution", "96,128", "--quant", "none,int8",
        "--profile", "stm32h7"]


def run(args: list[str], cache: Path) -> tuple[float, dict]:
    env = {**os.environ, "EDGEKIT_CACHE": str(cache), "EDGEKIT_QUIET": "1"}
    t0 = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "edgekit", "sweep", *GRID, *args, "--json"],
                          env=env, capture_output=True, text=True)
    seconds = time.monotonic() - t0
    if done.returncode:
        sys.exit(f"sweep failed: {done.stderr.strip().splitlines()[-1]}")
    return seconds, json.loads(done.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--runtime", default=None)
    args = ap.parse_args()
    timing = ["--runtime", args.runtime, "--runs", "50"] if args.runtime else []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        local_s, local = run(["-o", str(tmp / "local"), *timing], tmp / "cache-local")
        ray_s, ray = run(["-o", str(tmp / "ray"), "--executor", "ray", "--workers",
                          str(args.workers), *timing], tmp / "cache-ray")
        again_s, again = run(["-o", str(tmp / "local"), *timing], tmp / "cache-local")
    def strip(rows):    # the caches differ (so do the paths); timings are not compared
        return [{k: v for k, v in r.items() if k not in ("file", "latency_ms",
                                                          "latency_p90_ms")} for r in rows]

    same = strip(local["rows"]) == strip(ray["rows"])
    print(f"cpus: {os.cpu_count()}; 8 configs{' timed on ' + args.runtime if timing else ''}")
    print(f"{'local, cold cache':28} {local_s:7.1f} s  1.00  "
          f"(stages run {local['work']['ran']})")
    print(f"{f'ray, {args.workers} workers, cold cache':28} {ray_s:7.1f} s  "
          f"{ray_s / local_s:.2f}  (stages run {ray['work']['ran']})")
    print(f"{'rerun, everything stored':28} {again_s:7.1f} s  {again_s / local_s:.2f}  "
          f"(stages run {again['work']['ran']}, reused {again['work']['reused']})")
    print(f"ray rows equal to local rows (timing aside): {same}")


if __name__ == "__main__":
    main()
