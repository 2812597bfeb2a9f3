"""The 8-config sweep (mobilenet α {0.25, 0.5} × {96, 128} px × {none, int8}, with a device
profile) four ways in one run: the local executor from a cold export cache, a local Ray
with N workers from another cold cache, the fully cached rerun (the store holds every
stage), and (as root) a two-node Ray cluster on this machine whose worker node shares no
file with the driver (tests/integration/ray_cluster.py: a head with no CPUs, a worker with
N CPUs under `unshare -m` and a tmpfs over the driver's folders). Prints wall times, their
ratios to the local run, and what crossed Ray's object store (bytes).

    .venv/bin/python tools/bench_sweep.py [--workers 2] [--runtime litert] [--no-cluster]

Each run is a fresh `edgekit sweep` process (TensorFlow import included, as a user sees
it). With --runtime the configs are timed too (on the host, after the builds): then the
files to time are what comes back from the nodes; without it no file travels.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

GRID = ["mobilenet", "--alpha", "0.25,0.5", "--resolution", "96,128", "--quant", "none,int8",
        "--profile", "stm32h7"]
WHERE = ("file", "node", "built_on", "latency_ms", "latency_p90_ms", "provider", "pareto",
         "feasible", "best", "violates")     # where files lie, and what timing decides


def run(args: list[str], cache: Path, env: dict | None = None) -> tuple[float, dict]:
    env = {**(env or os.environ), "EDGEKIT_CACHE": str(cache), "EDGEKIT_QUIET": "1"}
    t0 = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "edgekit", "sweep", *GRID, *args, "--json"],
                          env=env, capture_output=True, text=True)
    seconds = time.monotonic() - t0
    if done.returncode:
        sys.exit(f"sweep failed: {done.stderr.strip().splitlines()[-1]}")
    return seconds, json.loads(done.stdout)


def two_nodes(tmp: Path, workers: int, timing: list[str]) -> tuple[float, dict] | str:
    """The sweep on a two-node cluster (root only), or why it was not run."""
    from tests.integration.ray_cluster import Cluster, why_not

    why = why_not()
    if why:
        return why
    base = tmp / "cluster"
    base.mkdir()
    cluster = Cluster(base, cpus=workers)
    try:
        cluster.start()
        return run(["-o", str(base / "out"), "--executor", "ray", "--ray-address",
                    cluster.address, *timing], cluster.cache, env=cluster.env)
    finally:
        cluster.stop()


def strip(rows):
    return [{k: v for k, v in r.items() if k not in WHERE} for r in rows]


def moved(doc: dict) -> str:
    m = doc["work"].get("object_store_bytes") or {"file_bytes": 0, "validation_bytes": 0}
    return f"object store: {m['file_bytes']:,} B of files back, " \
           f"{m['validation_bytes']:,} B of validation data out"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--runtime", default=None)
    ap.add_argument("--no-cluster", action="store_true", help="skip the two-node run")
    args = ap.parse_args()
    timing = ["--runtime", args.runtime, "--runs", "50"] if args.runtime else []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        local_s, local = run(["-o", str(tmp / "local"), *timing], tmp / "cache-local")
        ray_s, ray = run(["-o", str(tmp / "ray"), "--executor", "ray", "--workers",
                          str(args.workers), *timing], tmp / "cache-ray")
        again_s, again = run(["-o", str(tmp / "local"), *timing], tmp / "cache-local")
        cluster = "skipped (--no-cluster)" if args.no_cluster else \
            two_nodes(tmp, args.workers, timing)
    print(f"cpus: {os.cpu_count()}; 8 configs{' timed on ' + args.runtime if timing else ''}")
    print(f"{'local, cold cache':36} {local_s:7.1f} s  1.00  "
          f"(stages run {local['work']['ran']})")
    print(f"{f'local Ray, {args.workers} workers, cold cache':36} {ray_s:7.1f} s  "
          f"{ray_s / local_s:.2f}  (stages run {ray['work']['ran']}; {moved(ray)})")
    print(f"{'rerun, everything stored':36} {again_s:7.1f} s  {again_s / local_s:.2f}  "
          f"(stages run {again['work']['ran']}, reused {again['work']['reused']})")
    if isinstance(cluster, str):
        print(f"{'two nodes, nothing shared':36} not run: {cluster}")
    else:
        two_s, two = cluster
        print(f"{f'two nodes (worker: {args.workers} CPUs), cold':36} {two_s:7.1f} s  "
              f"{two_s / local_s:.2f}  (stages run {two['work']['ran']}; {moved(two)})")
        print(f"two-node rows equal to local rows (timing and file places aside): "
              f"{strip(local['rows']) == strip(two['rows'])}")
    print(f"local-Ray rows equal to local rows (timing aside): "
          f"{strip(local['rows']) == strip(ray['rows'])}")


if __name__ == "__main__":
    main()
