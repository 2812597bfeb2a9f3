"""Timing a set of models: every setting (runtime x provider x threads x batch) of every
subject, on fixed inputs, through the runtime adapters. What a subject is (a file, or the
exports of a zoo/Keras model) is decided by the service that calls this."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from edgekit.core.choices import (
    MAX_BATCH,
    MAX_RUNS,
    MAX_SECONDS,
    MAX_THREADS,
    MAX_WARMUP,
    Quant,
    Runtime,
    in_range,
    many,
    one,
)
from edgekit.core.shapes import format_dims
from edgekit.core.stats import summarize
from edgekit.runtimes.base import input_shapes, random_inputs
from edgekit.runtimes.timing import measure, rss_bytes


@dataclass
class BenchOptions:
    runtimes: list[str] = field(default_factory=lambda: [r.value for r in Runtime])
    providers: list[str] = field(default_factory=lambda: ["cpu"])
    threads: list[int] = field(default_factory=lambda: [1])
    batches: list[int] = field(default_factory=lambda: [1])
    runs: int = 100
    warmup: int = 10
    budget_s: float | None = None
    xnnpack: bool = True
    quant: str = "none"
    allow_fallback: bool = False
    seed: int = 0
    input_shapes: list = field(default_factory=list)   # core.shapes.ShapeSpec

    def validate(self) -> None:
        self.runtimes = many(Runtime, self.runtimes, "--runtime")
        for t in self.threads:
            in_range(t, 1, MAX_THREADS, "--threads")
        for b in self.batches:
            in_range(b, 1, MAX_BATCH, "--batch")
        in_range(self.runs, 1, MAX_RUNS, "--runs")
        in_range(self.warmup, 0, MAX_WARMUP, "--warmup")
        if self.budget_s is not None:
            in_range(self.budget_s, 0.001, MAX_SECONDS, "--time-budget")
        self.quant = one(Quant, self.quant, "--quant")


@dataclass
class Subject:
    """One model to benchmark, as files per runtime (and the Keras model, if any)."""

    name: str
    files: dict[str, Path]          # runtime -> file
    keras_model: object = None
    macs: int | None = None         # per item, from the analysis, when known


def _runners(subject: Subject, opts: BenchOptions):
    """(runtime, threads, factory) for every setting of one subject."""
    from edgekit.runtimes.litert import TFLiteRunner
    from edgekit.runtimes.onnxrt import OnnxRunner

    for runtime, path in subject.files.items():
        if runtime == "litert":
            for th in opts.threads:
                yield runtime, th, (lambda p=path, th=th: TFLiteRunner(
                    p, threads=th, xnnpack=opts.xnnpack))
        else:
            for prov in opts.providers:
                for th in opts.threads:
                    yield runtime, th, (lambda p=path, th=th, prov=prov: OnnxRunner(
                        p, provider=prov, threads=th, allow_fallback=opts.allow_fallback))
    if subject.keras_model is not None:
        from edgekit.runtimes.keras_runner import KerasRunner

        yield "keras", None, (lambda: KerasRunner(subject.keras_model))


def check_providers(opts: BenchOptions) -> None:
    """Fail before any work when an ONNX provider is not in this onnxruntime build."""
    if "onnxruntime" not in opts.runtimes or opts.allow_fallback:
        return
    from edgekit.runtimes.onnxrt import check_provider

    for p in opts.providers:
        check_provider(p)


def run_bench(subjects: list[Subject], opts: BenchOptions,
              notify: Callable[[str], None] = lambda m: None,
              host_peak_gmacs: float | None = None) -> list[dict]:
    results = []
    plan = [(subject, *setting) for subject in subjects for setting in _runners(subject, opts)]
    total = len(plan) * len(opts.batches)
    for subject, runtime, threads, factory in plan:
        rss0 = rss_bytes()
        t0 = time.perf_counter()
        runner = factory()
        load_ms = (time.perf_counter() - t0) * 1e3
        for batch in opts.batches:
            notify(f"[{len(results) + 1}/{total}] Timing {subject.name} | {runtime} "
                   f"{runner.provider} threads={threads or 'default'} batch={batch}")
            timed = _time_setting(runner, batch, opts)
            rss1 = rss_bytes()
            results.append(_entry(subject, runtime, runner, threads, timed, load_ms,
                                  None if rss0 is None or rss1 is None
                                  else (rss1 - rss0) / 2**20, host_peak_gmacs))
    return results


def _entry(subject: Subject, runtime: str, runner, threads, timed: dict, load_ms: float,
           rss_delta_mb, host_peak_gmacs) -> dict:
    """One result row, in the documented key order."""
    first_ms, samples = timed.pop("first_ms"), timed.pop("samples_ms")
    entry = {"model": subject.name, "file": str(subject.files.get(runtime, "")) or None,
             "runtime": runtime, "provider": runner.provider, "threads": threads, **timed,
             "load_ms": load_ms, "first_run_ms": first_ms, "rss_delta_mb": rss_delta_mb,
             "macs_per_item": subject.macs, "samples_ms": samples}
    if subject.macs:
        gmacs = subject.macs * entry["batch"] / (entry["latency_ms"]["p50"] * 1e-3) / 1e9
        entry["gmacs_per_s"] = gmacs
        if host_peak_gmacs:
            entry["fraction_of_peak"] = gmacs / host_peak_gmacs
    return entry


def _time_setting(runner, batch: int, opts: BenchOptions) -> dict:
    """Time one runner at one batch size on seeded uniform inputs."""
    bound = input_shapes(runner, opts.input_shapes, batch)
    xs = random_inputs(runner, bound, opts.seed)
    timing = measure(runner.invoke, runner.prepare(xs), opts.warmup, opts.runs, opts.budget_s)
    stats = summarize(timing.samples_ms)
    spec = runner.inputs[0].to_dict()
    spec["shape"] = list(bound[spec["name"]])
    return {
        "batch": batch, "input": spec,
        "input_shapes": {k: format_dims(v) for k, v in bound.items()},
        "latency_ms": {k: stats[k] for k in ("min", "p50", "p90", "p99", "max", "mean",
                                             "stdev")},
        "cv": stats["cv"], "runs": stats["n"], "warmup": timing.warmup,
        "throughput_items_s": batch * 1e3 / stats["p50"],
        "first_ms": timing.first_ms, "samples_ms": timing.samples_ms,
    }
