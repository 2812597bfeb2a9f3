"""`edgekit bench`: plan the runs (model x runtime x provider x threads x batch), time them,
collect results. A zoo model or a .keras file is exported first (to a cache) so that every
runtime runs the same model; .tflite and .onnx files are run as they are, without
TensorFlow."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgekit.bench.timing import measure, rss_bytes
from edgekit.core.errors import UsageError
from edgekit.core.stats import summarize
from edgekit.export.pipeline import cached_export

RUNTIMES = ("litert", "onnxruntime", "keras")


@dataclass
class BenchOptions:
    runtimes: list[str] = field(default_factory=lambda: list(RUNTIMES))
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
        for r in self.runtimes:
            if r not in RUNTIMES:
                raise UsageError(f"--runtime {r}: must be one of {', '.join(RUNTIMES)}")
        if any(t < 1 for t in self.threads):
            raise UsageError("--threads: every value must be >= 1")
        if any(b < 1 for b in self.batches):
            raise UsageError("--batch: every value must be >= 1")
        if self.runs < 1 or self.warmup < 0:
            raise UsageError("--runs must be >= 1 and --warmup >= 0")
        if self.budget_s is not None and self.budget_s <= 0:
            raise UsageError("--time-budget must be > 0 seconds")
        from edgekit.export.converters import QUANTS

        if self.quant not in QUANTS:
            raise UsageError(f"--quant {self.quant}: must be one of {', '.join(QUANTS)}")


@dataclass
class Subject:
    """One model to benchmark, as files per runtime (and the Keras model, if any)."""

    name: str
    files: dict[str, Path]          # runtime -> file
    keras_model: object = None
    macs: int | None = None         # per item, from the analysis, when known


def subjects_for(targets: list, opts: BenchOptions, notify) -> list[Subject]:
    from edgekit import services

    subjects = []
    for t in targets:
        if t.kind == "file" and t.format in ("tflite", "onnx"):
            runtime = "litert" if t.format == "tflite" else "onnxruntime"
            if runtime not in opts.runtimes:
                raise UsageError(f"{t.path} is a {t.format} file: it runs on {runtime}, "
                                 f"not on --runtime {','.join(opts.runtimes)}")
            subjects.append(Subject(str(t.path), {runtime: Path(t.path)},
                                    macs=services.file_macs(t)))
            continue
        model = services.keras_model(t)
        files: dict[str, Path] = {}
        if {"litert", "onnxruntime"} & set(opts.runtimes):
            files = cached_export(t, opts.quant, notify, model=model)
            files = {k: v for k, v in files.items() if k in opts.runtimes}
        report = services.analyze_keras(model, t)
        subjects.append(Subject(t.describe(), files,
                                model if "keras" in opts.runtimes else None,
                                macs=report.totals()["macs"]))
    return subjects


def _runners(subject: Subject, opts: BenchOptions):
    """(runtime, provider label, threads, factory) for every setting of one subject."""
    from edgekit.bench.runners import OnnxRunner, TFLiteRunner

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
        from edgekit.bench.keras_runner import KerasRunner

        yield "keras", None, (lambda: KerasRunner(subject.keras_model))


def check_providers(opts: BenchOptions) -> None:
    """Fail before any work when an ONNX provider is not in this onnxruntime build."""
    if "onnxruntime" not in opts.runtimes:
        return
    from edgekit.bench.runners import available_onnx_providers, provider_name, short_provider

    available = available_onnx_providers()
    for p in opts.providers:
        if provider_name(p) not in available and not opts.allow_fallback:
            raise UsageError(f"execution provider {p!r} is not available in this onnxruntime "
                             f"build; available: "
                             f"{', '.join(short_provider(a) for a in available)}")


def run_bench(subjects: list[Subject], opts: BenchOptions,
              notify: Callable[[str], None] = lambda m: None,
              host_peak_gmacs: float | None = None) -> list[dict]:
    import time

    results = []
    for subject in subjects:
        for runtime, threads, factory in _runners(subject, opts):
            rss0 = rss_bytes()
            t0 = time.perf_counter()
            runner = factory()
            load_ms = (time.perf_counter() - t0) * 1e3
            spec = runner.inputs[0]
            for batch in opts.batches:
                label = (f"{subject.name} | {runtime} {runner.provider} "
                         f"threads={threads or 'default'} batch={batch}")
                notify(f"Timing {label}")
                shape = (batch, *[int(d) for d in spec.shape[1:]])
                x = np.random.default_rng(opts.seed).uniform(-1, 1, shape).astype(np.float32)
                prepared = runner.prepare(x)
                timing = measure(runner.invoke, prepared, opts.warmup, opts.runs, opts.budget_s)
                stats = summarize(timing.samples_ms)
                rss1 = rss_bytes()
                entry = {
                    "model": subject.name,
                    "file": str(subject.files.get(runtime, "")) or None,
                    "runtime": runtime, "provider": runner.provider,
                    "threads": threads, "batch": batch,
                    "input": spec.to_dict(),
                    "latency_ms": {k: stats[k] for k in
                                   ("min", "p50", "p90", "p99", "max", "mean", "stdev")},
                    "cv": stats["cv"], "runs": stats["n"], "warmup": timing.warmup,
                    "throughput_items_s": batch * 1e3 / stats["p50"],
                    "load_ms": load_ms, "first_run_ms": timing.first_ms,
                    "rss_delta_mb": None if rss0 is None or rss1 is None
                    else (rss1 - rss0) / 2**20,
                    "macs_per_item": subject.macs,
                    "samples_ms": timing.samples_ms,
                }
                if subject.macs:
                    gmacs = subject.macs * batch / (stats["p50"] * 1e-3) / 1e9
                    entry["gmacs_per_s"] = gmacs
                    if host_peak_gmacs:
                        entry["fraction_of_peak"] = gmacs / host_peak_gmacs
                results.append(entry)
    return results
