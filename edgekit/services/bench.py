"""`edgekit bench` use case: turn targets into subjects (a .tflite/.onnx file runs as it
is; a zoo model or a .keras file is exported first, to the cache, so that every runtime
runs the same model) and time them."""

from __future__ import annotations

from pathlib import Path

from edgekit.bench.run import BenchOptions, Subject, check_providers, run_bench
from edgekit.core.choices import RUNTIME_OF_FORMAT
from edgekit.core.errors import EdgekitError, UsageError
from edgekit.core.records import SCHEMA_VERSION
from edgekit.services.analyze import analyze, file_macs_split
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
            macs, int8 = file_macs_split(t, opts.input_shapes, opts.feeds)
            subjects.append(Subject(t.name, {runtime: Path(t.path)}, macs=macs,
                                    int8_macs={runtime: int8 or 0}))
            continue
        model = keras_model(t)
        files: dict[str, Path] = {}
        if {"litert", "onnxruntime"} & set(opts.runtimes):
            wanted = [r for r in ("litert", "onnxruntime") if r in opts.runtimes]
            files = cached_export(t, opts.quant, notify, model=model, runtimes=wanted)
        macs = analyze(t, model=model).totals()["macs"]
        subjects.append(Subject(t.describe(), files,
                                model if "keras" in opts.runtimes else None, macs=macs,
                                int8_macs={r: round(macs * _integer_share(p))
                                           for r, p in files.items()}))
    return subjects


def _integer_share(path: Path) -> float:
    """The share of an exported file's MACs in layers that compute in integers (a
    dynamic-range export leaves small layers float): read from the file itself."""
    total, integer = file_macs_split(Target("file", path.stem, {}, path))
    return integer / total if total and integer is not None else 0.0


def bench(targets: list[Target], opts: BenchOptions, notify=lambda m: None,
          device: str | None = None) -> dict:
    """The bench document: where it ran (environment, and the device block for a board),
    one result per setting, and for a board with a calibrated profile the estimate beside
    each measurement. A board run that stops early keeps its finished rows ("partial")."""
    opts.validate()
    check_feeds(targets, opts.feeds)
    if device is not None:
        return _bench_device(targets, opts, notify, device)
    from edgekit.core.device_profiles import host_peak_gmacs
    from edgekit.runtimes.env import fingerprint

    check_providers(opts)
    subjects = _named(subjects_for(targets, opts, notify))
    results = run_bench(subjects, opts, notify, host_peak_gmacs=host_peak_gmacs())
    return {"schema": SCHEMA_VERSION, "environment": fingerprint(), "results": results}


def check_feeds(targets: list[Target], feeds: dict) -> None:
    """--inputs gives the values of an .onnx file's inputs (sent to a --device with the
    model: the board times exactly these arrays)."""
    from edgekit.core.feeds import declared

    if not feeds:
        return
    for name, value in declared(feeds).items():   # 0 items timed: any number of items/s
        if value.size == 0:
            raise UsageError(f"--inputs: array {name!r} is "
                             f"{'x'.join(map(str, value.shape)) or 'a scalar'} and holds "
                             "no items; timing needs at least one")
    for t in targets:
        if t.format != "onnx":
            raise UsageError(f"--inputs: gives the inputs of .onnx files; "
                             f"{t.describe()} is not one")


def _named(subjects: list[Subject]) -> list[Subject]:
    keys = [(s.name, tuple(s.files)) for s in subjects]
    for s, key in zip(subjects, keys, strict=True):  # a/m.tflite and b/m.tflite: paths
        if keys.count(key) > 1 and s.files:
            s.name = str(next(iter(s.files.values())))
    return subjects


def _bench_device(targets: list[Target], opts: BenchOptions, notify, device: str) -> dict:
    from edgekit.services.remote import bench_on, device_block, device_runtimes, session

    with session(device, notify) as board:
        for t in targets:   # a file needs its runtime on the board, asked for or not
            if t.kind == "file" and t.format in RUNTIME_OF_FORMAT:
                board.require(RUNTIME_OF_FORMAT[t.format])
        opts.runtimes = device_runtimes(board, None if opts.runtimes_default
                                        else opts.runtimes)
        if not opts.threads:
            opts.threads = sorted({1, len(opts.cores or []) or
                                   board.hello["fingerprint"]["usable_cores"]})
        subjects = _named(subjects_for(targets, opts, notify))
        rows, error = bench_on(board, subjects, opts)
        doc = {"schema": SCHEMA_VERSION, "environment": board.hello["fingerprint"],
               "device": device_block(board), "results": rows}
    if board.device.profile:
        add_estimates(rows, board.device.profile, opts.input_shapes)
    if error is not None and not rows:
        raise error
    if error is not None:
        doc.update(partial=True, error=str(error), error_exit_code=error.exit_code)
    return doc


def add_estimates(rows: list[dict], profile_name: str, specs=()) -> None:
    """Beside each row: the roofline estimate of its file on the profile, and measured /
    estimated (rows whose file cannot be analyzed get none)."""
    from edgekit.core.device_profiles import estimate, get_profile

    profile = get_profile(profile_name)
    cache: dict = {}
    for r in rows:
        key = (r["file"], r["batch"])
        if r["file"] and key not in cache:
            try:
                t = Target("file", Path(r["file"]).stem, {}, Path(r["file"]))
                cache[key] = estimate(analyze(t, batch=r["batch"], input_shapes=list(
                    specs) if t.format == "onnx" else None), profile)["time_s"] * 1e3
            except EdgekitError:
                cache[key] = None
        est = cache.get(key)
        if est:
            r.update(estimate_profile=profile.name, estimate_ms=est,
                     measured_over_estimate=r["latency_ms"]["p50"] / est)
