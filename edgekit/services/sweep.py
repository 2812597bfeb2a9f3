"""`edgekit sweep`: every config of a zoo model over its variants × α × resolution ×
quantization (the axes the model has: α × resolution for MobileNet v1/v2, variant ×
minimalistic × α × resolution for v3, variant alone for EfficientNet-Lite and MobileNet v4,
each at its own resolution unless one is given; services.sweep_configs), as the command's
frozen plan gives them (services.sweep_plan), each analyzed, exported
(content-addressed cache), checked against float, estimated on a device profile and, where
a runtime is named, timed; then the Pareto front over accuracy, latency
and memory, and the best config within the user's limits.

Work is split in two stages so that it can fan out without distorting a latency:

- *build* (Keras build, analysis, export, fidelity, estimate, validation accuracy; in
  services.sweep_build): a pure function of the config; run in this process (``--executor
  local``) or as Ray tasks on nodes that share nothing with it but Ray (services.sweep_ray).
- *time*: one queue per device, in this process. On the host, timing waits until no build
  runs here; on a ``--device`` it goes on while the builds run. A file is timed only when it
  is the file whose sha256 its row carries.

Each finished stage is appended to ``OUT/sweep.jsonl`` at once (services.sweep_store): a
killed sweep loses nothing finished, and the rerun does only what is missing. A config that
fails is reported (where and why) and the others go on; the sweep then exits non-zero.
"""

from __future__ import annotations

import time
from pathlib import Path

from edgekit.core.errors import EdgekitError
from edgekit.services.sweep_build import build_config, failure_reason, validation_data
from edgekit.services.sweep_configs import config_id, config_knobs, grid_of
from edgekit.services.sweep_plan import TIMED_RUNTIMES, SweepSpec
from edgekit.services.sweep_store import Store, forget_missing_files, is_the_file, stage_key

__all__ = ["TIMED_RUNTIMES", "Store", "SweepSpec", "build_config", "choose",
           "config_id", "flat_row", "sweep"]   # config_id: services.sweep_configs


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
        """Time the row's file on ``runtime``, once it is checked to be the file whose
        sha256 the row carries (one line naming it otherwise)."""
        from edgekit.bench.run import BenchOptions, Subject, check_providers, run_bench

        f = row["files"][runtime]
        if f.get("node") is not None or not is_the_file(f["path"], f):
            raise EdgekitError(f"{f['path']} is not the {runtime} file {row['id']} was built "
                               f"as (sha256 {f['sha256'][:12]}…); nothing was timed")
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
    """Run what the store does not hold yet, and return the sweep document (failed
    configs in its 'failed' list, with where and why). ``spec``: the checked plan (the
    CLI checks it before its own checks of the outputs); one not checked yet is checked
    here first."""
    spec = spec.validate()
    data = None
    if spec.validation is not None:     # read once; sent to the builds as arrays
        data = validation_data(spec.validation)
    run = _Run(spec, spec.configs, notify)
    with Timer(spec, notify) as timer:
        run.timer = timer
        if spec.executor == "ray":
            from edgekit.services.sweep_ray import run_builds

            run.work.update(object_store_bytes=run_builds(
                run.todo_builds, run.bset, spec, data, spec.runtimes, keep=run.keep,
                ready=run.ready_remote, fail=run.fail_build, notify=notify))
        else:
            for c in run.todo_builds:
                run.say(f"{c['id']}: build, analyze, export")
                try:
                    row = build_config(c, run.bset, data)
                except Exception as e:   # as on Ray: this config fails, the others go on
                    run.fail_build(c, "this machine", failure_reason(e))
                    continue
                run.keep(c, row)
                run.time_all(c)
        for c, rt in run.todo_times:    # the host's queue: no build runs here any more
            run.time_one(c, rt)
    return run.document()


class _Run:
    """One sweep's bookkeeping: the store and its keys, what is left to do, the progress
    count, the failures (never stored: a rerun tries them again)."""

    def __init__(self, spec: SweepSpec, configs: tuple[dict, ...], notify):
        self.spec, self.configs, self.notify, self.timer = spec, configs, notify, None
        self.t0 = time.monotonic()
        self.store = Store(Path(spec.out_dir))
        self.bset = spec.build_settings()
        self.builds = {c["id"]: stage_key(c, self.bset) for c in configs}
        forget_missing_files(self.store, self.builds.values(), needed=spec.runtimes)
        self.todo_builds = [c for c in configs if self.build(c) is None]
        timings = [(c, rt) for c in configs for rt in spec.runtimes]
        self.tkeys = {(c["id"], rt): stage_key(c, spec.timing_settings(rt))
                      for c, rt in timings}
        self.todo_times = [(c, rt) for c, rt in timings if self.timed(c, rt) is None]
        self.total = len(self.todo_builds) + len(self.todo_times)
        reused = len(configs) - len(self.todo_builds) + len(timings) - len(self.todo_times)
        self.work = {"ran": self.total, "reused": reused}
        self.failed: dict[tuple[str, str | None], dict] = {}
        self.step = 0
        notify(f"{len(configs)} configs: {len(self.todo_builds)} to build, "
               f"{len(self.todo_times)} to time, {reused} stages already in "
               f"{self.store.path}")

    def build(self, c: dict) -> dict | None:
        return self.store.get("build", self.builds[c["id"]])

    def timed(self, c: dict, rt: str) -> dict | None:
        return self.store.get("time", self.tkeys[(c["id"], rt)])

    def say(self, what: str) -> None:
        self.step += 1
        self.notify(f"[{self.step}/{self.total}] {what}")

    def keep(self, c: dict, row: dict) -> None:
        self.store.add("build", self.builds[c["id"]], row)

    def ready_remote(self, c: dict, row: dict) -> None:
        self.say(f"{c['id']}: built in {row['build_s']:.1f} s on {row.get('node')}")
        if self.spec.device:        # the board times while the nodes convert
            self.time_all(c)

    def fail_build(self, c: dict, where: str, reason: str) -> None:
        self.failed[(c["id"], None)] = {"id": c["id"], "runtime": None, "stage": "build",
                                        "where": where, "reason": reason}
        self.say(f"{c['id']}: failed on {where}: {reason}")

    def time_all(self, c: dict) -> None:
        for rt in self.spec.runtimes:
            self.time_one(c, rt)

    def time_one(self, c: dict, rt: str) -> None:
        b = self.build(c)
        if b is None or (c["id"], None) in self.failed or self.timed(c, rt) is not None \
                or (c["id"], rt) in self.failed:
            return          # its build failed (its files not received), or it is timed
        where = self.spec.device or "this machine"
        self.say(f"{c['id']}: timing on {rt} ({where})")
        try:
            t = self.timer.time(b, rt)
        except EdgekitError as e:
            self.failed[(c["id"], rt)] = {"id": c["id"], "runtime": rt, "stage": "time",
                                          "where": where, "reason": str(e)}
            self.notify(f"{c['id']}: timing on {rt} failed: {e}")
            return
        self.store.add("time", self.tkeys[(c["id"], rt)], t)

    def document(self) -> dict:
        rows = []
        for c in self.configs:
            b = self.build(c)
            for rt in self.spec.runtimes or [None]:
                t = self.timed(c, rt) if rt else None
                if b is None or (rt and t is None):
                    continue        # failed: listed in 'failed', not on the front
                # the config's axes under the stored row: a row stored before an axis
                # was swept (v3's minimalistic) has none, and was built at its default
                rows.append(flat_row({**config_knobs(c), **b}, rt, t))
        work = {**self.work, "failed": len(self.failed),
                "seconds": round(time.monotonic() - self.t0, 1),
                "unreadable_store_lines": self.store.skipped,
                "store_problems": self.store.problems, "store_bytes_cut": self.store.repaired}
        return _document(self.spec, rows, work, self.store.path,
                         failed=list(self.failed.values()), configs=self.configs)


def _document(spec: SweepSpec, rows: list[dict], work: dict, store: Path,
              failed: list[dict] | None = None, configs=None) -> dict:
    return {"schema": 1, "kind": "sweep", "model": spec.model,
            "grid": grid_of(configs or [], spec.quants, spec.runtimes),
            "profile": spec.profile, "device": spec.device, "threads": spec.threads,
            "executor": spec.executor, "store": str(store), "work": work,
            "failed": failed or [], **choose(rows, spec)}


def flat_row(build: dict, runtime: str | None, timed: dict | None) -> dict:
    """One row of the table/CSV/JSON: a config (and runtime) with every figure."""
    rt = runtime or next(iter(build["files"]))
    fid = build["fidelity"].get(rt) or {}
    est = build.get("estimate") or {}
    pub = build.get("published") or {}
    row = {k: build[k] for k in ("id", "model", "variant", "minimalistic", "alpha",
                                 "resolution", "quant", "params", "macs",
                                 "peak_activation_bytes", "weights_bytes")
           if k in build}       # variant, minimalistic, alpha: only where the model has them
    row.update(runtime=runtime, file=build["files"][rt]["path"],
               file_bytes=build["files"][rt]["bytes"], file_sha256=build["files"][rt]["sha256"],
               node=build["files"][rt].get("node"), built_on=build.get("node"),
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
