"""The timing loop. Kept minimal so that it does not distort small models: one
``perf_counter_ns`` pair and one list append around the runtime's own call
(``tools/bench_overhead.py`` measures the cost against a bare loop)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Timing:
    first_ms: float
    samples_ms: list[float]
    warmup: int


def measure(invoke: Callable, prepared, warmup: int = 10, runs: int = 100,
            budget_s: float | None = None, min_runs: int = 5) -> Timing:
    """First run, ``warmup`` untimed runs, then up to ``runs`` timed runs (stopping early
    once ``budget_s`` seconds of timed runs are spent and ``min_runs`` are done)."""
    perf = time.perf_counter_ns
    t = perf()
    invoke(prepared)
    first = (perf() - t) / 1e6
    for _ in range(warmup):
        invoke(prepared)
    samples: list[int] = []
    append = samples.append
    if budget_s is None:
        for _ in range(runs):
            t0 = perf()
            invoke(prepared)
            append(perf() - t0)
    else:
        deadline = perf() + int(budget_s * 1e9)
        for i in range(runs):
            t0 = perf()
            invoke(prepared)
            t1 = perf()
            append(t1 - t0)
            if t1 > deadline and i + 1 >= min_runs:
                break
    return Timing(first, [s / 1e6 for s in samples], warmup)


def rss_bytes() -> int | None:
    """Resident set size of this process now (Linux /proc), or None."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        import os

        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None
