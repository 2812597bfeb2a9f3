"""Timing a set of models: every setting (runtime x provider x threads x batch) of every
subject, on fixed inputs, through the runtime adapters. What a subject is (a file, or the
exports of a zoo/Keras model) is decided by the service that calls this."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgekit.core.choices import Quant, Runtime, many, one
from edgekit.core.errors import UsageError
from edgekit.core.stats import summarize
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

    def validate(self) -> None:
        self.runtimes = many(Runtime, self.runtimes, "--runtime")
        if any(t < 1 for t in self.threads):
            raise UsageError("--threads: every value must be >= 1")
        if any(b < 1 for b in self.batches):
            raise UsageError("--batch: every value must be >= 1")
        if self.runs < 1 or self.warmup < 0:
            raise UsageError("--runs must be >= 1 and --warmup >= 0")
        if self.budget_s is not None and self.budget_s <= 0:
            raise UsageError("--time-budget must be > 0 seconds")
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
    for subject in subjects:
        for runtime, threads, factory in _runners(subject, opts):
            rss0 = rss_bytes()
            t0 = time.perf_counter()
            runner = factory()
            load_ms = (time.perf_counter() - t0) * 1e3
            for batch in opts.batches:
                notify(f"Timing {subject.name} | {runtime} {runner.provider} "
                       f"threads={threads or 'default'} batch={batch}")
                timed = _time_setting(runner, batch, opts)
                first_ms, samples = timed.pop("first_ms"), timed.pop("samples_ms")
                rss1 = rss_bytes()
                entry = {"model": subject.name,
                         "file": str(subject.files.get(runtime, "")) or None,
                         "runtime": runtime, "provider": runner.provider, "threads": threads,
                         **timed, "load_ms": load_ms, "first_run_ms": first_ms,
                         "rss_delta_mb": None if rss0 is None or rss1 is None
                         else (rss1 - rss0) / 2**20, "macs_per_item": subject.macs,
                         "samples_ms": samples}
                if subject.macs:
                    gmacs = subject.macs * batch / (entry["latency_ms"]["p50"] * 1e-3) / 1e9
                    entry["gmacs_per_s"] = gmacs
                    if host_peak_gmacs:
                        entry["fraction_of_peak"] = gmacs / host_peak_gmacs
                results.append(entry)
    return results


def _time_setting(runner, batch: int, opts: BenchOptions) -> dict:
    """Time one runner at one batch size on seeded uniform inputs."""
    spec = runner.inputs[0]
    shape = (batch, *[int(d) for d in spec.shape[1:]])
    x = np.random.default_rng(opts.seed).uniform(-1, 1, shape).astype(np.float32)
    timing = measure(runner.invoke, runner.prepare(x), opts.warmup, opts.runs, opts.budget_s)
    stats = summarize(timing.samples_ms)
    return {
        "batch": batch, "input": spec.to_dict(),
        "latency_ms": {k: stats[k] for k in ("min", "p50", "p90", "p99", "max", "mean",
                                             "stdev")},
        "cv": stats["cv"], "runs": stats["n"], "warmup": timing.warmup,
        "throughput_items_s": batch * 1e3 / stats["p50"],
        "first_ms": timing.first_ms, "samples_ms": timing.samples_ms,
    }
