"""The measurement method, the same on the host and on a board: optional core pinning,
warm-up (a count, or until the latency is stable), timed runs (a count, a time budget, or
MLPerf's minimum duration), the machine's state before and after each setting, a
cool-down between settings, and the statistics of one setting (percentiles and a
bootstrap confidence interval of the median)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

from edgekit.core.shapes import ShapeSpec, format_dims
from edgekit.core.stats import median_ci, summarize
from edgekit.runtimes.env import state
from edgekit.runtimes.tensors import call_inputs
from edgekit.runtimes.timing import measure, rss_bytes

HOT_RISE_C = 10.0       # a setting that heated the board this much is flagged
HOT_C = 80.0            # ... or that ended above this (most boards throttle at 80-85 °C)
FREQ_DROP = 0.10        # ... or whose cores ended this much slower than they started


@dataclass
class Method:
    """How one setting is timed (serialized as it is to a board)."""

    runs: int = 100
    warmup: int | str = 10              # a count, or "auto"
    budget_s: float | None = None
    min_duration_s: float | None = None
    cooldown_s: float = 0.0
    cores: list[int] | None = None
    seed: int = 0
    input_shapes: list = field(default_factory=list)   # ShapeSpec
    feeds: dict | None = None           # --inputs: {input: array}
    feeds_file: str | None = None       # on a board: the .npz of ``feeds`` it was sent
    clock: str = "wall"                 # or "thread": CPU time, single-threaded runs only

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("feeds")
        d["input_shapes"] = [[s.name, list(s.dims)] for s in self.input_shapes]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Method:
        d = dict(d)
        d["input_shapes"] = [ShapeSpec(n, tuple(dims)) for n, dims in d["input_shapes"]]
        if d.get("feeds_file"):
            from edgekit.core.feeds import load_feeds

            d["feeds"] = load_feeds(d["feeds_file"])
        return cls(**d)


@contextmanager
def pinned(cores: list[int] | None):
    """Run on ``cores`` only (the runtime's threads inherit the affinity); restored after.
    One line when a core does not exist or is not ours to use."""
    if not cores:
        yield
        return
    from edgekit.core.errors import UsageError

    if not hasattr(os, "sched_setaffinity"):
        raise UsageError("--cores: this system cannot pin threads to cores")
    previous = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, cores)
    except (OSError, ValueError):
        raise UsageError(f"--cores {','.join(map(str, cores))}: not cores this machine can "
                         f"use (usable: {','.join(map(str, sorted(previous)))})") from None
    try:
        yield
    finally:
        os.sched_setaffinity(0, previous)


def state_warning(before: dict, after: dict) -> str | None:
    """Why a setting's figures may be off because of the machine: throttling flags set,
    the board heated, or its cores slowed during the measurement; None when nothing did."""
    said = []
    if after.get("throttled") not in (None, "0x0") and after["throttled"] != before.get(
            "throttled"):
        from edgekit.core.cpuinfo import throttle_words

        said.append(f"{throttle_words(after['throttled'])} (throttling flags "
                    f"{before.get('throttled')} -> {after['throttled']})")
    t0, t1 = before.get("temperature_c"), after.get("temperature_c")
    if t0 is not None and t1 is not None and (t1 - t0 >= HOT_RISE_C or t1 >= HOT_C):
        said.append(f"heated from {t0:.0f} to {t1:.0f} °C")
    f0, f1 = before.get("freq_mhz") or [], after.get("freq_mhz") or []
    pairs = [(a, b) for a, b in zip(f0, f1, strict=False) if a and b]
    if pairs and min(b / a for a, b in pairs) < 1 - FREQ_DROP:
        said.append(f"cores slowed from {max(a for a, _ in pairs):.0f} to "
                    f"{min(b for _, b in pairs):.0f} MHz")
    return "; ".join(said) or None


def cool_down(seconds: float, baseline_c: float | None) -> float:
    """Wait up to ``seconds``: until the temperature is back within 2 °C of
    ``baseline_c`` where the machine has a sensor, the whole time where it has none.
    Returns the seconds waited."""
    if seconds <= 0:
        return 0.0
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        now = state([])["temperature_c"]
        if baseline_c is not None and now is not None and now <= baseline_c + 2:
            break
        time.sleep(min(0.5, seconds))
    return time.monotonic() - start


def time_runner(runner, batch: int | None, method: Method) -> dict:
    """Time one runner at one batch size (None: as declared or given) on the given input
    values (--inputs), else seeded uniform inputs."""
    bound, arrays, batch = call_inputs(runner, method.input_shapes, batch, method.feeds,
                                       method.seed)
    prepared = runner.prepare(arrays)
    before = state(method.cores)
    timing = measure(runner.invoke, prepared, method.warmup, method.runs, method.budget_s,
                     min_duration_s=method.min_duration_s, clock=method.clock)
    after = state(method.cores)
    stats = summarize(timing.samples_ms)
    spec = runner.inputs[0].to_dict()
    spec["shape"] = list(bound[spec["name"]])
    return {
        "batch": batch, "input": spec,
        "input_shapes": {k: format_dims(v) for k, v in bound.items()},
        "latency_ms": {k: stats[k] for k in ("min", "p50", "p90", "p99", "max", "mean",
                                             "stdev")},
        "p50_ci95_ms": list(median_ci(timing.samples_ms)),
        "headline": "p90" if method.min_duration_s else "p50",
        "cv": stats["cv"], "runs": stats["n"], "warmup": timing.warmup,
        "duration_s": timing.elapsed_s,
        "throughput_items_s": batch * 1e3 / stats["p50"],
        "state": {"before": before, "after": after,
                  "warning": state_warning(before, after)},
        "first_ms": timing.first_ms, "samples_ms": timing.samples_ms,
    }


def time_setting(factory: Callable, batches: list[int], method: Method,
                 notify: Callable[[object, int], None]) -> Iterator[dict]:
    """Open a runner (timing its load and memory) and time it at every batch size;
    ``notify(runner, batch)`` before each."""
    rss0 = rss_bytes()
    t0 = time.perf_counter()
    runner = factory()
    load_ms = (time.perf_counter() - t0) * 1e3
    for batch in batches:
        notify(runner, batch)
        timed = time_runner(runner, batch, method)
        rss1 = rss_bytes()
        timed.update(provider=runner.provider, load_ms=load_ms,
                     rss_delta_mb=None if rss0 is None or rss1 is None
                     else (rss1 - rss0) / 2**20)
        yield timed


def time_plan(plan: list[tuple[str, int | None, Callable]], batches: list[int],
              method: Method, notify: Callable[[str], None]) -> Iterator[tuple[int, dict]]:
    """Time every setting of ``plan`` ((label, threads, runner factory) each) at every
    batch size, pinned to ``method.cores``, cooling down between settings; yields (index
    in plan, measurement) as each finishes, so that a caller keeps what is done when the
    rest fails."""
    total = len(plan) * len(batches)
    done = [0]              # measurements finished, read by the progress line
    baseline = None
    with pinned(method.cores):
        for i, (label, threads, factory) in enumerate(plan):
            if i:
                cool_down(method.cooldown_s, baseline)

            def said(runner, batch, label=label, threads=threads):
                notify(f"[{done[0] + 1}/{total}] Timing {label} {runner.provider} "
                       f"threads={threads or 'default'} batch={batch or 'as declared'}")

            for timed in time_setting(factory, batches, method, said):
                if baseline is None:
                    baseline = timed["state"]["before"]["temperature_c"]
                done[0] += 1
                yield i, timed
