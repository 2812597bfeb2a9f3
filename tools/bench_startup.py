#!/usr/bin/env python3
"""Wall time of `edgekit analyze mobilenet --alpha 0.25` as a ratio to `import tensorflow`,
both measured in this run, interleaved, median of N runs (these machines are noisy).

    .venv/bin/python tools/bench_startup.py [--runs 5]

The aim (issue 2) is a ratio of at most 1.6: analysis should cost little beyond the
TensorFlow import that building a Keras model needs.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def wall(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    baseline_cmd = [sys.executable, "-c", "import tensorflow"]
    edgekit_cmd = [str(BIN / "edgekit"), "analyze", "mobilenet", "--alpha", "0.25"]
    wall(baseline_cmd)  # warm the file cache for both
    wall(edgekit_cmd)
    base, ours = [], []
    for _ in range(args.runs):
        base.append(wall(baseline_cmd))
        ours.append(wall(edgekit_cmd))
    b, o = statistics.median(base), statistics.median(ours)
    print(f"import tensorflow                       median {b:.2f} s  (runs: "
          f"{', '.join(f'{x:.2f}' for x in base)})")
    print(f"edgekit analyze mobilenet --alpha 0.25  median {o:.2f} s  (runs: "
          f"{', '.join(f'{x:.2f}' for x in ours)})")
    print(f"ratio {o / b:.2f}x (aim: <= 1.6x)")


if __name__ == "__main__":
    main()
