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
    elapsed_s: float = 0.0      # wall time from the first timed run to the end of the last


CLOCKS = {"wall": time.perf_counter_ns,
          # CPU time of the calling thread: what a single-threaded run costs, without the
          # time the OS gave other processes meanwhile (a shared machine); meaningless for
          # a runtime that computes on other threads
          "thread": time.thread_time_ns}


def measure(invoke: Callable, prepared, warmup: int | str = 10, runs: int = 100,
            budget_s: float | None = None, min_runs: int = 5,
            min_duration_s: float | None = None, clock: str = "wall") -> Timing:
    """First run, ``warmup`` untimed runs ('auto': until stable), then ``runs`` timed runs.
    With ``budget_s``, stop early once that many seconds of timed runs are spent and
    ``min_runs`` are done; with
    ``min_duration_s`` (MLPerf's rule), go on past ``runs`` until that many seconds are
    spent too. ``clock``: 'wall' (default) or 'thread' (the calling thread's CPU time;
    the budget and duration stay wall time)."""
    perf = time.perf_counter_ns
    clk = CLOCKS[clock]
    t = clk()
    invoke(prepared)
    first = (clk() - t) / 1e6
    if warmup == "auto":
        warmup = warm_until_stable(invoke, prepared)
    else:
        for _ in range(int(warmup)):
            invoke(prepared)
    samples: list[int] = []
    append = samples.append
    start = perf()
    if budget_s is None and min_duration_s is None:
        for _ in range(runs):
            t0 = clk()
            invoke(prepared)
            append(clk() - t0)
        return Timing(first, [s / 1e6 for s in samples], warmup, (perf() - start) / 1e9)
    deadline = start + int((budget_s or 0) * 1e9)
    until = start + int((min_duration_s or 0) * 1e9)
    i = 0
    while True:
        t0 = clk()
        invoke(prepared)
        append(clk() - t0)
        t1 = perf()
        i += 1
        if budget_s is not None and t1 > deadline and i >= min_runs:
            break
        if i >= runs and t1 >= until:
            break
    return Timing(first, [s / 1e6 for s in samples], warmup, (perf() - start) / 1e9)


def warm_until_stable(invoke: Callable, prepared, window: int = 10, tolerance: float = 0.05,
                      max_runs: int = 2000, max_s: float = 60.0) -> int:
    """Untimed runs in windows of ``window`` until the median of a window is within
    ``tolerance`` of the previous window's (caches, frequency and the runtime's own lazy
    set-up have settled), or ``max_runs`` / ``max_s`` are spent. Returns the runs made."""
    import statistics

    perf = time.perf_counter_ns
    stop = perf() + int(max_s * 1e9)
    previous = None
    done = 0
    while done < max_runs and perf() < stop:
        window_ns = []
        for _ in range(window):
            t0 = perf()
            invoke(prepared)
            window_ns.append(perf() - t0)
        done += window
        median = statistics.median(window_ns)
        if previous is not None and abs(median - previous) <= tolerance * previous:
            break
        previous = median
    return done


def rss_bytes() -> int | None:
    """Resident set size of this process now (Linux /proc), or None."""
    try:
        with open("/proc/self/statm") as f:   # not a user file: /proc
            pages = int(f.read().split()[1])   # not user text: /proc
        import os

        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None
