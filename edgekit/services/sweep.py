"""`edgekit sweep`: every config of a zoo model over α × resolution × quantization, each
analyzed, exported (content-addressed cache), checked against float, estimated on a device
profile and, where a runtime is named, timed; then the Pareto front over accuracy, latency
and memory, and the best config within the user's limits.

Work is split in two stages so that it can fan out without distorting a latency:

- *build* (Keras build, analysis, export, fidelity, estimate, validation accuracy): pure
  functions of the config; run in this process (``--executor local``) or as Ray tasks
  (``--executor ray``) that share nothing but the export cache.
- *time*: one queue per device, in this process. On the host, timing waits until no build
  runs here; on a ``--device`` it goes on while the host converts.

Each finished stage is appended to ``OUT/sweep.jsonl`` at once (one JSON line, flushed and
fsynced): a killed sweep loses nothing finished, and the rerun does only what is missing.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from edgekit.core.errors import EdgekitError, UsageError, first_line

STORE = "sweep.jsonl"
WEIGHT_BYTES = {"none": 4, "fp16": 2, "dynamic": 1, "int8": 1}
TIMED_RUNTIMES = ("litert", "onnxruntime")


@dataclass
class SweepSpec:
    model: str = "mobilenet"
    alphas: list[float] = field(default_factory=lambda: [0.25, 0.5, 0.75, 1.0])
    resolutions: list[int] = field(default_factory=lambda: [128, 160, 192, 224])
    quants: list[str] = field(default_factory=lambda: ["none", "int8"])
    profile: str | None = None
    runtimes: list[str] = field(default_factory=list)     # measured latency on these
    device: str | None = None
    threads: int = 1
    runs: int = 50
    xnnpack: bool = True
    validation: Path | None = None
    max_latency_ms: float | None = None
    max_ram_bytes: int | None = None
    max_flash_bytes: int | None = None
    executor: str = "local"
    ray_address: str | None = None
    workers: int | None = None
    out_dir: Path = Path("sweep-out")

    def validate(self) -> list[dict]:
        """Check everything that can be checked without TensorFlow; the configs."""
        from edgekit.core import choices as C
        from edgekit.core.device_profiles import get_profile
        from edgekit.core.numbers import read_number
        from edgekit.services.targets import resolve_target
        from edgekit.zoo import registry

        entry = registry.get(self.model)
        missing = [k for k in ("alpha", "resolution") if entry.knob(k) is None]
        if missing:
            raise UsageError(f"sweep {self.model}: it has no --{' or --'.join(missing)} knob; "
                             "the sweep varies the width multiplier and the resolution "
                             "(mobilenet, mobilenet_v2)")
        self.quants = C.many(C.Quant, self.quants, "--quant")
        self.runtimes = C.many(C.Runtime, self.runtimes, "--runtime") if self.runtimes else []
        if "keras" in self.runtimes:
            raise UsageError("--runtime keras: a sweep times the exported files "
                             f"({', '.join(TIMED_RUNTIMES)})")
        C.in_range(self.threads, 1, C.MAX_THREADS, "--threads")
        C.in_range(self.runs, 1, C.MAX_RUNS, "--runs")
        if self.profile:
            get_profile(self.profile)
        if self.device and not self.runtimes:
            raise UsageError("--device: name the runtime to time there with --runtime "
                             "(litert, onnxruntime)")
        if self.max_latency_ms is not None:
            self.max_latency_ms = read_number(self.max_latency_ms, "--max-latency", 0,
                                              C.MAX_SECONDS * 1e3, "ms", lo_open=True)
        if self.max_latency_ms is not None and not (self.runtimes or self.profile):
            raise UsageError("--max-latency needs a latency: time the configs (--runtime) or "
                             "estimate them on a device profile (--profile)")
        if self.validation is not None:
            _validation_data(self.validation, classes=entry.defaults().get("classes"))
        if self.executor not in ("local", "ray"):
            raise UsageError(f"--executor {self.executor}: must be local or ray")
        if self.executor == "local" and (self.ray_address or self.workers):
            raise UsageError("--ray-address and --workers go with --executor ray")
        if self.workers is not None:
            C.in_range(self.workers, 1, 1024, "--workers")
        out = Path(self.out_dir)
        if out.exists() and not out.is_dir():
            raise UsageError(f"output folder {out} is a file")
        configs = []
        for a in dict.fromkeys(self.alphas):
            for r in dict.fromkeys(self.resolutions):
                resolve_target(self.model, {"alpha": a, "resolution": r})  # knob ranges
                for q in self.quants:
                    configs.append({"id": config_id(self.model, a, r, q), "model": self.model,
                                    "alpha": a, "resolution": r, "quant": q})
        return configs

    def build_settings(self) -> dict:
        """What a build depends on besides the config (and so goes into its store key)."""
        val = None
        if self.validation is not None:
            from edgekit.core.files import sha256_file

            val = {"path": str(self.validation), "sha256": sha256_file(self.validation)}
        return {"profile": self.profile, "runtimes": sorted(self.runtimes) or ["litert"],
                "validation": val}

    def timing_settings(self, runtime: str) -> dict:
        return {"runtime": runtime, "where": self.device or "host", "threads": self.threads,
                "runs": self.runs, "xnnpack": self.xnnpack}


def config_id(model: str, alpha: float, resolution: int, quant: str) -> str:
    return f"{model}_a{alpha:g}_r{resolution}_{quant}"


def _key(config: dict, settings: dict) -> str:
    from edgekit.export.cache import versions_digest

    text = json.dumps({"config": config["id"], **settings, "tools": versions_digest()},
                      sort_keys=True)
    return f"{config['id']}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


# ---- the store ------------------------------------------------------------------------------

def _store_schemas():
    from edgekit.core import schema as S

    count = S.Num(0, None, integer=True)
    ms = S.Nullable(S.Num(0, 1e9, "ms"))
    frac = S.Nullable(S.OneOf((S.Num(-1, 1), S.Str())))
    build = S.Table({
        "id": S.Str(), "model": S.Str(), "alpha": S.Num(0, 4, lo_open=True),
        "resolution": S.Num(1, 1e5, "px", integer=True), "quant": S.Str(),
        "params": count, "macs": count, "peak_activation_bytes": count,
        "weights_bytes": count,
        "files": S.MapOf(S.Table({"path": S.Str(), "bytes": count, "sha256": S.Str()})),
        "fidelity": S.MapOf(S.Table({"top1_agreement": frac, "cosine": frac,
                                     "sqnr_db": S.Nullable(S.OneOf((S.Num(), S.Str())))})),
        "estimate": S.Optional(S.Nullable(S.Table({"ms": S.Num(0, None, "ms"),
                                                   "fits": S.Nullable(S.Bool())}))),
        "validation": S.Optional(S.Nullable(S.Table({"top1": S.Num(0, 100, "%")}))),
        "published": S.Optional(S.Nullable(S.Table({"top1": S.Nullable(S.Num(0, 100, "%"))}))),
    })
    timed = S.Table({"runtime": S.Str(), "p50_ms": ms, "p90_ms": ms})
    line = S.Table({"stage": S.Str(choices=("build", "time")), "key": S.Str(),
                    "result": S.Table()})
    return line, {"build": build, "time": timed}


class Store:
    """Finished stages, one JSON line each, appended as they finish. Each line is checked
    on load (LINE_SCHEMA and the stage's schema); a line that fails (cut short by a kill or
    a full disk, edited) is skipped and its stage runs again, and the reasons are kept. A
    last line cut short is cut off the file before anything is appended, so that the next
    record starts on a line of its own."""

    def __init__(self, folder: Path):
        from edgekit.core import schema as S

        self.path = Path(folder) / STORE
        self.records: dict[tuple[str, str], dict] = {}
        self.skipped = 0
        self.problems: list[str] = []
        self.repaired = 0
        self._cut_at: int | None = None
        if not self.path.is_file():
            return
        raw = self.path.read_bytes()
        if raw and not raw.endswith(b"\n"):
            self._cut_at = raw.rfind(b"\n") + 1      # the start of the cut last line
        for n, line in enumerate(raw.decode("utf-8", errors="replace").splitlines(), 1):
            if not line.strip():
                continue
            where = f"{self.path} line {n}"
            try:
                rec = S.check(S.parse_json(line, where), LINE_SCHEMA, where)
                result = S.check(rec["result"], STAGE_SCHEMAS[rec["stage"]], where)
                self.records[(rec["stage"], rec["key"])] = result
            except S.SchemaError as e:
                self.skipped += 1
                if len(self.problems) < 5:
                    self.problems.append(str(e))

    def get(self, stage: str, key: str) -> dict | None:
        return self.records.get((stage, key))

    def drop(self, stage: str, key: str) -> None:
        """Forget a stage (its result is stale: it runs again, and its new line wins)."""
        self.records.pop((stage, key), None)

    def _repair(self) -> None:
        if self._cut_at is None:
            return
        with open(self.path, "r+b") as f:
            size = f.seek(0, os.SEEK_END)
            if size > self._cut_at:
                f.truncate(self._cut_at)
                self.repaired = size - self._cut_at
                f.flush()
                os.fsync(f.fileno())
        self._cut_at = None

    def add(self, stage: str, key: str, result: dict) -> None:
        from edgekit.core.numbers import dumps

        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = dumps({"stage": stage, "key": key, "result": result})
        self._repair()
        with open(self.path, "a") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.records[(stage, key)] = result


LINE_SCHEMA, STAGE_SCHEMAS = _store_schemas()


# ---- the build stage (runs here or in a Ray worker) -----------------------------------------

def build_config(config: dict, settings: dict) -> dict:
    """Analysis, export (cached), fidelity, published figure, estimate and fit, validation
    accuracy of one config. A plain function of its arguments: a Ray task runs it as is."""
    from edgekit.core.choices import RUNTIME_OF_FORMAT
    from edgekit.core.device_profiles import fit, get_profile
    from edgekit.services.analyze import analysis
    from edgekit.services.export import cached_export
    from edgekit.services.targets import keras_model, resolve_target
    from edgekit.zoo.published import lookup

    t0 = time.monotonic()
    quant = config["quant"]
    target = resolve_target(config["model"], {"alpha": config["alpha"],
                                              "resolution": config["resolution"]})
    model = keras_model(target)
    a = analysis(target, dtype="int8" if quant == "int8" else "float32",
                 profile=settings["profile"], model=model)
    totals = a.report.totals()
    files = cached_export(target, quant, model=model, runtimes=tuple(settings["runtimes"]))
    folder = next(iter(files.values())).parent
    manifest = json.loads((folder / "manifest.json").read_text())
    arts = {RUNTIME_OF_FORMAT[x["format"]]: x for x in manifest["artifacts"]
            if x["quant"] == quant}
    row = {**config, "params": totals["params"], "macs": totals["macs"],
           "peak_activation_bytes": totals["peak_activation_bytes"],
           "weights_bytes": totals["params"] * WEIGHT_BYTES[quant],
           "files": {rt: {"path": str(p), "bytes": arts[rt]["bytes"],
                          "sha256": arts[rt]["sha256"]} for rt, p in files.items()},
           "fidelity": {rt: {k: arts[rt]["fidelity"].get(k)
                             for k in ("top1_agreement", "cosine", "sqnr_db")}
                        for rt in files},
           "fidelity_samples": manifest["validation"]["samples"]}
    published = lookup(config["model"], config["alpha"], config["resolution"], quant)
    row["published"] = None if published is None else {
        k: published[k] for k in ("top1", "top5", "checkpoint", "macs_millions",
                                  "params_millions")} | {"source": published["source"]["id"],
                                                         "url": published["source"]["url"]}
    if a.estimate is not None:
        est = a.estimate
        flash = row["files"][settings["runtimes"][0]]["bytes"]
        f = fit(flash, totals["peak_activation_bytes"], get_profile(settings["profile"]))
        row["estimate"] = {"profile": settings["profile"], "ms": est["time_s"] * 1e3,
                           "method": est["method"], "flash_fit": f["weights_fit"],
                           "ram_fit": f["activations_fit"], "fits": f["fits"]}
    if settings["validation"] is not None:
        row["validation"] = validation_accuracy(
            files[settings["runtimes"][0]], Path(settings["validation"]["path"]),
            tuple(a.report.model["input_shape"]))
    row["build_s"] = round(time.monotonic() - t0, 2)
    return row


def _validation_data(path: Path, classes: int | None = None):
    """Labelled images (any size), checked by export's one data check (samples.check_data):
    finite 0..255 pixels, one integer class index per image within the model's classes."""
    import numpy as np

    from edgekit.export.samples import check_data

    try:
        data = np.load(path, allow_pickle=False)
        x, y = data["x"], data["y"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError) as e:
        raise UsageError(f"--validation {path}: needs an .npz with 'x' (images, N×H×W×C, "
                         f"0..255, any size) and 'y' (class indices): {first_line(e)}") from None
    if x.ndim != 4 or x.shape[-1] not in (1, 3) or not len(x):
        raise UsageError(f"--validation {path}: 'x' must be N×H×W×C images, C 1 or 3 (got "
                         f"{x.shape})")
    return check_data(f"--validation {path}", x, y, classes=classes, pixels=True)


def validation_accuracy(path: Path, validation: Path, shape: tuple) -> dict:
    """Top-1 of an exported file on images resized to its input (preprocess: x/127.5-1)."""
    import numpy as np

    from edgekit.export.pipeline import run_artifact
    from edgekit.export.samples import fit_pixels, preprocess

    x, y = _validation_data(validation)
    out, _ = run_artifact(Path(path), preprocess(fit_pixels(x, shape), "tf"))
    _validation_data(validation, classes=int(np.prod(out.shape[1:])))  # labels vs outputs
    return {"top1": float(np.mean(np.argmax(out, axis=1) == y)) * 100, "samples": len(y)}


# ---- the time stage: one queue per device ----------------------------------------------------

class Timer:
    """Times files one at a time, here or on one device (a session held open)."""

    def __init__(self, spec: SweepSpec, notify):
        self.spec, self.notify, self.board, self._session = spec, notify, None, None

    def __enter__(self):
        if self.spec.device:
            from edgekit.services.remote import session

            self._session = session(self.spec.device, self.notify)
            self.board = self._session.__enter__()
        return self

    def __exit__(self, *exc):
        if self._session is not None:
            self._session.__exit__(*exc)

    def time(self, row: dict, runtime: str) -> dict:
        from edgekit.bench.run import BenchOptions, Subject, check_providers, run_bench

        opts = BenchOptions(runtimes=[runtime], threads=[self.spec.threads],
                            runs=self.spec.runs, xnnpack=self.spec.xnnpack,
                            quant=row["quant"])
        opts.validate()
        subject = Subject(row["id"], {runtime: Path(row["files"][runtime]["path"])},
                          macs=row["macs"])
        if self.board is None:
            check_providers(opts)
            results = run_bench([subject], opts)
        else:
            from edgekit.services.remote import bench_on

            results, error = bench_on(self.board, [subject], opts)
            if error is not None:
                raise error
        r = results[0]
        return {"runtime": runtime, "provider": r["provider"], "threads": r["threads"],
                "where": self.spec.device or "host", "p50_ms": r["latency_ms"]["p50"],
                "p90_ms": r["latency_ms"]["p90"], "runs": self.spec.runs}


# ---- the sweep -------------------------------------------------------------------------------

def sweep(spec: SweepSpec, notify=lambda m: None) -> dict:
    """Run what the store does not hold yet, and return the sweep document."""
    configs = spec.validate()
    t0 = time.monotonic()
    out = Path(spec.out_dir)
    store = Store(out)
    bset = spec.build_settings()
    builds = {c["id"]: _key(c, bset) for c in configs}
    _forget_missing_files(store, builds.values())
    todo_builds = [c for c in configs if store.get("build", builds[c["id"]]) is None]
    timings = [(c, rt) for c in configs for rt in spec.runtimes]
    tkeys = {(c["id"], rt): _key(c, spec.timing_settings(rt)) for c, rt in timings}
    todo_times = [(c, rt) for c, rt in timings
                  if store.get("time", tkeys[(c["id"], rt)]) is None]
    total = len(todo_builds) + len(todo_times)
    reused = len(configs) - len(todo_builds) + len(timings) - len(todo_times)
    notify(f"{len(configs)} configs: {len(todo_builds)} to build, {len(todo_times)} to "
           f"time, {reused} stages already in {store.path}")
    step = [0]

    def say(what: str) -> None:
        step[0] += 1
        notify(f"[{step[0]}/{total}] {what}")

    with Timer(spec, notify) as timer:
        def time_one(c: dict, rt: str) -> None:
            key = tkeys[(c["id"], rt)]
            if store.get("time", key) is not None:
                return
            say(f"{c['id']}: timing on {rt} ({spec.device or 'this machine'})")
            store.add("time", key, timer.time(store.get("build", builds[c["id"]]), rt))

        if spec.executor == "ray":
            def built(c: dict, row: dict) -> None:
                store.add("build", builds[c["id"]], row)
                say(f"{c['id']}: built in {row['build_s']:.1f} s (Ray)")
                if spec.device:     # the board times while the host converts
                    for rt in spec.runtimes:
                        time_one(c, rt)
            _ray_builds(todo_builds, bset, spec, built)
        else:
            for c in todo_builds:
                say(f"{c['id']}: build, analyze, export")
                store.add("build", builds[c["id"]], build_config(c, bset))
                for rt in spec.runtimes:
                    time_one(c, rt)
        for c, rt in todo_times:    # the host's queue: no build runs here any more
            time_one(c, rt)

    rows = []
    for c in configs:
        b = store.get("build", builds[c["id"]])
        for rt in spec.runtimes or [None]:
            t = store.get("time", tkeys[(c["id"], rt)]) if rt else None
            rows.append(flat_row(b, rt, t))
    work = {"ran": total, "reused": reused, "seconds": round(time.monotonic() - t0, 1),
            "unreadable_store_lines": store.skipped, "store_problems": store.problems,
            "store_bytes_cut": store.repaired}
    return _document(spec, rows, work, store.path)


def _document(spec: SweepSpec, rows: list[dict], work: dict, store: Path) -> dict:
    return {"schema": 1, "kind": "sweep", "model": spec.model,
            "grid": {"alpha": list(dict.fromkeys(spec.alphas)),
                     "resolution": list(dict.fromkeys(spec.resolutions)),
                     "quant": spec.quants, "runtime": spec.runtimes},
            "profile": spec.profile, "device": spec.device, "threads": spec.threads,
            "executor": spec.executor, "store": str(store), "work": work,
            **choose(rows, spec)}


def flat_row(build: dict, runtime: str | None, timed: dict | None) -> dict:
    """One row of the table/CSV/JSON: a config (and runtime) with every figure."""
    rt = runtime or next(iter(build["files"]))
    fid = build["fidelity"].get(rt) or {}
    est = build.get("estimate") or {}
    pub = build.get("published") or {}
    row = {k: build[k] for k in ("id", "model", "alpha", "resolution", "quant", "params",
                                 "macs", "peak_activation_bytes", "weights_bytes")}
    row.update(runtime=runtime, file=build["files"][rt]["path"],
               file_bytes=build["files"][rt]["bytes"],
               top1_agreement=fid.get("top1_agreement"), cosine=fid.get("cosine"),
               sqnr_db=fid.get("sqnr_db"),
               published_top1=pub.get("top1"), published_source=pub.get("source"),
               published_checkpoint=pub.get("checkpoint"),
               validation_top1=(build.get("validation") or {}).get("top1"),
               estimate_ms=est.get("ms"), estimate_method=est.get("method"),
               fits=est.get("fits"),
               latency_ms=timed["p50_ms"] if timed else None,
               latency_p90_ms=timed["p90_ms"] if timed else None,
               provider=timed["provider"] if timed else None)
    return row


def choose(rows: list[dict], spec: SweepSpec) -> dict:
    """The Pareto front and the best config within the limits, with the source of each
    objective stated: accuracy from validation data, else the published figure (where
    every config has one), else MACs as a proxy; latency measured, else estimated, else
    MACs."""
    from edgekit.core import pareto

    if spec.validation is not None:
        acc, acc_source = "validation_top1", "validation"
    elif all(r["published_top1"] is not None for r in rows):
        acc, acc_source = "published_top1", "published"
    else:
        acc, acc_source = "macs", "macs (proxy: no published top-1 for " + ", ".join(
            sorted({r["id"] for r in rows if r["published_top1"] is None})) + ")"
    lat, lat_source = (("latency_ms", "measured p50") if spec.runtimes else
                       ("estimate_ms", f"estimated on {spec.profile}") if spec.profile else
                       ("macs", "macs (proxy: no --runtime or --profile)"))
    mem = "peak_activation_bytes"
    objectives = [(acc, "max"), (lat, "min"), (mem, "min")]
    on_front = set(pareto.front(rows, objectives))
    limits = {"latency": spec.max_latency_ms, "ram": spec.max_ram_bytes,
              "flash": spec.max_flash_bytes}
    feasible = []
    for i, r in enumerate(rows):
        point = {"latency": r[lat] if lat != "macs" else None, "ram": r[mem],
                 "flash": r["file_bytes"]}
        r["violates"] = pareto.violations(point, limits) + (
            [f"fits {spec.profile}"] if r["fits"] is False else [])
        r["feasible"] = not r["violates"]
        r["pareto"] = i in on_front
        if r["feasible"]:
            feasible.append(i)
    best = pareto.best(rows, feasible, acc, lat)
    for i, r in enumerate(rows):
        r["best"] = i == best
    return {"objectives": {"accuracy": {"key": acc, "source": acc_source},
                           "latency": {"key": lat, "source": lat_source},
                           "memory": {"key": mem, "source": "peak activation RAM"}},
            "limits": {"profile_fits": spec.profile, "max_latency_ms": spec.max_latency_ms,
                       "max_ram_bytes": spec.max_ram_bytes,
                       "max_flash_bytes": spec.max_flash_bytes},
            "best": None if best is None else rows[best]["id"] + (
                f" on {rows[best]['runtime']}" if rows[best]["runtime"] else ""),
            "rows": rows}


# ---- Ray -----------------------------------------------------------------------------------

def _ray_builds(todo: list[dict], settings: dict, spec: SweepSpec, done) -> None:
    """Build ``todo`` as Ray tasks (a local Ray unless --ray-address), calling ``done``
    in this process as each finishes."""
    if not todo:
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no network at run time
    try:
        import ray
    except ImportError:
        raise UsageError("--executor ray needs Ray: pip install 'edgekit[ray]'") from None
    from edgekit.export.cache import cache_dir

    env = {"EDGEKIT_CACHE": str(cache_dir()), "TF_CPP_MIN_LOG_LEVEL": "3",
           "RAY_USAGE_STATS_ENABLED": "0"}
    kw = {} if spec.ray_address else {"num_cpus": spec.workers or os.cpu_count()}
    try:
        ray.init(address=spec.ray_address, include_dashboard=False, log_to_driver=False,
                 logging_level="ERROR", runtime_env={"env_vars": env}, **kw)
    except Exception as e:  # ConnectionError, ValueError, RuntimeError: all one line
        raise EdgekitError(f"cannot start or reach Ray"
                           f"{' at ' + spec.ray_address if spec.ray_address else ''}: "
                           f"{first_line(e)}") from None
    try:
        task = ray.remote(num_cpus=1, max_retries=0)(build_config)
        pending = {task.remote(c, settings): c for c in todo}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            c = pending.pop(ready[0])
            try:
                row = ray.get(ready[0])
            except ray.exceptions.RayTaskError as e:
                cause = e.cause if isinstance(getattr(e, "cause", None), Exception) else e
                if isinstance(cause, EdgekitError):
                    raise cause from None
                raise EdgekitError(f"{c['id']}: a Ray worker failed: {first_line(cause)}"
                                   ) from None
            _check_files(row)
            done(c, row)
    finally:
        ray.shutdown()


def _forget_missing_files(store: Store, keys) -> None:
    """A stored build whose files are gone (the export cache was cleared) is built again:
    resuming never depends on a cache."""
    for key in keys:
        b = store.get("build", key)
        if b is not None and not _files_present(b):
            store.drop("build", key)


def _files_present(build: dict) -> bool:
    """Every file of a stored build is still where it was, with its size (the export
    cache may have been cleared since)."""
    for f in build["files"].values():
        p = Path(f["path"])
        if not p.is_file() or p.stat().st_size != f["bytes"]:
            return False
    return True


def _check_files(row: dict) -> None:
    """A worker on another node wrote the files into its own cache: this process can time
    them only where the cache is shared (EDGEKIT_CACHE on a shared file system)."""
    for rt, f in row["files"].items():
        if not Path(f["path"]).is_file():
            raise EdgekitError(f"{row['id']}: the {rt} file a Ray worker exported is not here "
                               f"({f['path']}): put EDGEKIT_CACHE on a file system every "
                               "node shares")
