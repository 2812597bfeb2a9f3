"""`edgekit bench` use case: turn targets into subjects (a .tflite/.onnx file runs as it
is; a zoo model or a .keras file is exported first, to the cache, so that every runtime
runs the same model) and time them."""

from __future__ import annotations

from pathlib import Path

from edgekit.bench.run import BenchOptions, Subject, check_providers, run_bench
from edgekit.core.choices import RUNTIME_OF_FORMAT
from edgekit.core.errors import UsageError
from edgekit.core.records import SCHEMA_VERSION
from edgekit.services.analyze import analyze, file_macs
from edgekit.services.export import cached_export
from edgekit.services.targets import Target, keras_model


def subjects_for(targets: list[Target], opts: BenchOptions, notify) -> list[Subject]:
    subjects = []
    for t in targets:
        if t.kind == "file" and t.format in RUNTIME_OF_FORMAT:
            runtime = RUNTIME_OF_FORMAT[t.format]
            if runtime not in opts.runtimes:
                raise UsageError(f"{t.path} is a {t.format} file: it runs on {runtime}, "
                                 f"not on --runtime {','.join(opts.runtimes)}")
            subjects.append(Subject(t.name, {runtime: Path(t.path)},
                                    macs=file_macs(t, opts.input_shapes)))
            continue
        model = keras_model(t)
        files: dict[str, Path] = {}
        if {"litert", "onnxruntime"} & set(opts.runtimes):
            wanted = [r for r in ("litert", "onnxruntime") if r in opts.runtimes]
            files = cached_export(t, opts.quant, notify, model=model, runtimes=wanted)
        macs = analyze(t, model=model).totals()["macs"]
        subjects.append(Subject(t.describe(), files,
                                model if "keras" in opts.runtimes else None, macs=macs))
    return subjects


def bench(targets: list[Target], opts: BenchOptions, notify=lambda m: None) -> dict:
    """The bench document: environment and one result per setting."""
    from edgekit.core.device_profiles import host_peak_gmacs
    from edgekit.runtimes.env import environment

    opts.validate()
    check_providers(opts)
    subjects = subjects_for(targets, opts, notify)
    keys = [(s.name, tuple(s.files)) for s in subjects]
    for s, key in zip(subjects, keys, strict=True):  # a/m.tflite and b/m.tflite: paths
        if keys.count(key) > 1 and s.files:
            s.name = str(next(iter(s.files.values())))
    results = run_bench(subjects, opts, notify, host_peak_gmacs=host_peak_gmacs())
    return {"schema": SCHEMA_VERSION, "environment": environment(), "results": results}
