"""Timing a set of models: every setting (runtime x provider x threads x batch) of every
subject, on fixed inputs, through the runtime adapters. What a subject is (a file, or the
exports of a zoo/Keras model) is decided by the service that calls this."""

from __future__ import annotations

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
from edgekit.runtimes.measure import Method, time_plan


@dataclass
class BenchOptions:
    runtimes: list[str] = field(default_factory=lambda: [r.value for r in Runtime])
    runtimes_default: bool = False      # not chosen by the user (a device picks its own)
    providers: list[str] = field(default_factory=lambda: ["cpu"])
    threads: list[int] = field(default_factory=lambda: [1])
    batches: list = field(default_factory=lambda: [None])   # None: as declared or given
    runs: int = 100
    warmup: int | str = 10              # a count, or "auto": until the latency is stable
    budget_s: float | None = None
    min_duration_s: float | None = None
    cooldown_s: float = 0.0
    cores: list[int] | None = None
    xnnpack: bool = True
    quant: str = "none"
    allow_fallback: bool = False
    seed: int = 0
    input_shapes: list = field(default_factory=list)   # core.shapes.ShapeSpec
    feeds: dict = field(default_factory=dict)           # --inputs: {input: array}

    def validate(self) -> None:
        self.runtimes = many(Runtime, self.runtimes, "--runtime")
        for t in self.threads:
            in_range(t, 1, MAX_THREADS, "--threads")
        for b in self.batches:
            if b is not None:           # None: the sizes the model declares or is given
                in_range(b, 1, MAX_BATCH, "--batch")
        in_range(self.runs, 1, MAX_RUNS, "--runs")
        if self.warmup != "auto":
            in_range(self.warmup, 0, MAX_WARMUP, "--warmup")
        if self.budget_s is not None:
            in_range(self.budget_s, 0.001, MAX_SECONDS, "--time-budget")
        if self.min_duration_s is not None:
            in_range(self.min_duration_s, 0.001, MAX_SECONDS, "--min-duration")
            if self.budget_s is not None:
                from edgekit.core.errors import UsageError

                raise UsageError("--min-duration and --time-budget contradict each other: "
                                 "one sets a floor on the timed runs, the other a ceiling")
        in_range(self.cooldown_s, 0, MAX_SECONDS, "--cooldown")
        for c in self.cores or []:
            in_range(c, 0, MAX_THREADS - 1, "--cores")
        self.quant = one(Quant, self.quant, "--quant")

    def method(self) -> Method:
        return Method(runs=self.runs, warmup=self.warmup, budget_s=self.budget_s,
                      min_duration_s=self.min_duration_s, cooldown_s=self.cooldown_s,
                      cores=self.cores, seed=self.seed, input_shapes=list(self.input_shapes),
                      feeds=self.feeds or None)


@dataclass
class Subject:
    """One model to benchmark, as files per runtime (and the Keras model, if any)."""

    name: str
    files: dict[str, Path]          # runtime -> file
    keras_model: object = None
    macs: int | None = None         # per item, from the analysis, when known
    int8_macs: dict = field(default_factory=dict)   # runtime -> of macs, integer GEMMs


@dataclass(frozen=True)
class Setting:
    """One way to run one file: what the runtime layer needs to open a runner, here or on
    a board (the file's path there)."""

    runtime: str
    threads: int | None
    provider: str | None        # onnxruntime's execution provider; None for LiteRT/Keras
    file: str | None
    xnnpack: bool = True
    allow_fallback: bool = False

    def options(self) -> dict:
        """``open_runner``'s keyword arguments (the same here and in a board's agent)."""
        return {"threads": self.threads, "xnnpack": self.xnnpack,
                "provider": self.provider or "cpu", "allow_fallback": self.allow_fallback}

    def open(self):
        from edgekit.runtimes.base import open_runner

        return open_runner(self.file, **self.options())

    def to_dict(self, label: str, file: str) -> dict:
        """The setting as a board's agent takes it, with the file's name there."""
        return {"label": label, "file": file, "threads": self.threads,
                "options": self.options()}


def settings(subject: Subject, opts: BenchOptions) -> list[Setting]:
    """Every setting of one subject: each file on its runtime at each thread count (and
    each provider for onnxruntime), then the Keras model, if any."""
    found = []
    for runtime, path in subject.files.items():
        for provider in (opts.providers if runtime == "onnxruntime" else [None]):
            found += [Setting(runtime, th, provider, str(path), opts.xnnpack,
                              opts.allow_fallback) for th in opts.threads]
    if subject.keras_model is not None:
        found.append(Setting("keras", None, None, None))
    return found


def _factory(subject: Subject, setting: Setting):
    if setting.runtime == "keras":
        from edgekit.runtimes.keras_runner import KerasRunner

        return lambda: KerasRunner(subject.keras_model)
    return setting.open


def check_providers(opts: BenchOptions) -> None:
    """Fail before any work when an ONNX provider is not in this onnxruntime build."""
    if "onnxruntime" not in opts.runtimes or opts.allow_fallback:
        return
    from edgekit.runtimes.onnxrt import check_provider

    for p in opts.providers:
        check_provider(p)


def run_bench(subjects: list[Subject], opts: BenchOptions,
              notify: Callable[[str], None] = lambda m: None,
              host_peak_gmacs: dict | None = None) -> list[dict]:
    plan = [(subject, s) for subject in subjects for s in settings(subject, opts)]
    labelled = [(f"{subject.name} | {s.runtime}", s.threads, _factory(subject, s))
                for subject, s in plan]
    return [entry(plan[i][0], plan[i][1], timed, host_peak_gmacs)
            for i, timed in time_plan(labelled, opts.batches, opts.method(), notify)]


def entry(subject: Subject, setting: Setting, timed: dict, host_peak_gmacs) -> dict:
    """One result row, in the documented key order, from what the runtime layer measured
    (here or on a board)."""
    timed = dict(timed)
    first_ms, samples = timed.pop("first_ms"), timed.pop("samples_ms")
    provider, load_ms, rss = (timed.pop(k) for k in ("provider", "load_ms", "rss_delta_mb"))
    state = timed.pop("state")
    runtime = setting.runtime
    row = {"model": subject.name, "file": str(subject.files.get(runtime, "")) or None,
           "runtime": runtime, "provider": provider, "threads": setting.threads, **timed,
           "load_ms": load_ms, "first_run_ms": first_ms, "rss_delta_mb": rss,
           "macs_per_item": subject.macs, "state": state, "samples_ms": samples}
    if subject.macs:
        gmacs = subject.macs * row["batch"] / (row["latency_ms"]["p50"] * 1e-3) / 1e9
        row["gmacs_per_s"] = gmacs
        if host_peak_gmacs:
            from edgekit.core.device_profiles import peak_seconds

            ideal = peak_seconds(subject.macs, subject.int8_macs.get(runtime, 0),
                                 host_peak_gmacs)
            if ideal:
                row["fraction_of_peak"] = ideal * row["batch"] / (
                    row["latency_ms"]["p50"] * 1e-3)
    return row
