"""`edgekit profile --lut`: measure a device's latency table (the kernels of zoo models over
a grid of knobs, each timed alone in LiteRT) and predict models from it
(:mod:`edgekit.core.lut`)."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from edgekit.core import lut as L
from edgekit.core.errors import UsageError

# the grids of the issue: MobileNet v1 and v2 over their published width multipliers and
# the resolutions 96..224
DEFAULT_GRID = {"mobilenet": [0.25, 0.5, 0.75, 1.0], "mobilenet_v2": [0.35, 0.5, 0.75, 1.0]}
DEFAULT_RESOLUTIONS = [96, 128, 160, 192, 224]
STATISTIC = {"p50": "ms", "min": "min_ms"}     # a table's times: which of a timing's
DTYPE_OF_QUANT = {"none": "float32", "fp16": "float32", "dynamic": "float32", "int8": "int8"}


@dataclass
class Grid:
    models: list[str] = field(default_factory=lambda: list(DEFAULT_GRID))
    alphas: list[float] | None = None          # None: each model's own list
    resolutions: list[int] = field(default_factory=lambda: list(DEFAULT_RESOLUTIONS))
    quants: list[str] = field(default_factory=lambda: ["none", "int8"])
    # a model's own knob settings instead of alphas x resolutions (the families whose
    # knobs are variants: mobilenet_v3, efficientnet_lite, mobilenet_v4)
    knobs: dict[str, list[dict]] = field(default_factory=dict)
    # the synthetic kernels of the newer families (services.lut_synthetic: hard-swish,
    # squeeze-and-excite, 5x5 depthwise) in the grid's quants; None: with a grid of both
    # MobileNet v1 and v2 (the table the newer families are predicted from)
    synthetic: bool | None = None

    def with_synthetic(self) -> bool:
        if self.synthetic is not None:
            return self.synthetic
        return {"mobilenet", "mobilenet_v2"} <= set(self.models)

    def configs(self) -> list[tuple[str, dict, str]]:
        """(model, knobs, quant) of every config."""
        out = []
        for model in self.models:
            if model in self.knobs:
                out += [(model, k, q) for k in self.knobs[model] for q in self.quants]
                continue
            alphas = self.alphas or DEFAULT_GRID.get(model)
            if alphas is None:
                raise UsageError(f"--lut {model}: give --lut-alpha (the default grid knows "
                                 f"{', '.join(DEFAULT_GRID)})")
            out += [(model, {"alpha": a, "resolution": r}, q) for a in alphas
                    for r in self.resolutions for q in self.quants]
        return out


def lut_dir() -> Path:
    from edgekit.core.device_profiles import user_dir

    return user_dir()


def find_table(name: str) -> L.Table | None:
    """The latency table measured for device/profile ``name``, if there is one."""
    from edgekit.core.files import note_input

    path = L.table_path(lut_dir(), name)
    if not path.is_file():
        return None
    note_input(path)   # read by this command: no output of it may be written onto it
    return L.Table.load(path)


def config_files(grid: Grid, notify) -> list[dict]:
    """Export (or find in the cache) the TFLite file of every config of the grid and read
    its analysis: [{"model", "alpha", "resolution", "quant", "dtype", "path", "records"}]."""
    from edgekit.readers.tflite_reader import read_tflite
    from edgekit.services.export import cached_export
    from edgekit.services.targets import resolve_target

    configs = [(resolve_target(model, knobs, None), quant)
               for model, knobs, quant in grid.configs()]    # all checked first
    out = []
    for n, (target, quant) in enumerate(configs):
        notify(f"[{n + 1}/{len(configs)}] {target.describe()} ({quant})")
        path = cached_export(target, quant, notify, runtimes=("litert",))["litert"]
        records = [r for r in read_tflite(path)[0] if r.op != "INPUT"]
        out.append({"model": target.name, "alpha": target.knobs.get("alpha"),
                    "resolution": target.knobs.get("resolution"), "quant": quant,
                    "knobs": {k: v for k, v in target.knobs.items() if k != "classes"},
                    "dtype": DTYPE_OF_QUANT[quant], "path": path, "records": records,
                    "describe": target.describe()})
    return out


def check_table(grid: Grid, device: str | None, name: str | None,
                output: Path | None) -> tuple[Path, object, str]:
    """Everything about a table that can be checked before the first export: the grid
    (models, knobs), the --device (a typo fails now, not after the exports), the name (a
    plain name: the table stays in the profiles folder) and that the file can be written.
    Returns (the table's path, the device or None, the table's name)."""
    from edgekit.core.devices import get_device
    from edgekit.core.files import check_writable, plain_name
    from edgekit.services.targets import resolve_target

    for model, knobs, _ in grid.configs():
        resolve_target(model, knobs, None)
    board = get_device(device) if device else None
    name = plain_name(name, "--lut-name") if name is not None else \
        board.name if board else "host"
    path = check_writable(output or L.table_path(lut_dir(), name))
    from edgekit.export.cache import check_cache

    check_cache()           # the models are exported into it: usable, before the first
    if board is not None:   # reached now, before the exports (services.remote.reachable)
        from edgekit.services.remote import reachable

        reachable(board)
    return Path(path), board, name


def measure_table(grid: Grid, method, threads: int | None = None, xnnpack: bool = True,
                  device: str | None = None, name: str | None = None,
                  output: Path | None = None, notify=lambda m: None,
                  statistic: str = "p50", rounds: int = 3) -> dict:
    """Measure every distinct kernel of the grid's models once (and each model whole),
    and the synthetic kernels where the grid has them (rows marked ``synthetic``, never
    timed whole), on this machine or a ``device``; write the table; return it.
    ``statistic``: what a time is, 'p50' of the runs or their 'min' (on a machine shared
    with other work, the run least disturbed; kernels and whole models alike).
    ``rounds``: on this machine, each model is then timed whole again in that many
    rounds interleaved over the models (every other round in reverse order); its whole
    time is the median of these and of its isolation pass's timing (a disturbed one is
    outvoted) and their spread is the table's noise (``core.lut.Table.noise``)."""
    from edgekit.services.isolation import isolate_files

    path, board, name = check_table(grid, device, name, output)
    configs = config_files(grid, notify)
    if grid.with_synthetic():
        from edgekit.services.lut_synthetic import configs as synthetic

        configs += synthetic(grid.quants, notify)
    sources: dict[str, list[int]] = {}      # kernel -> the models that have it
    jobs = []
    for n, c in enumerate(configs):
        todo = []
        for pos, r in enumerate(c["records"]):
            if L.key_of(r) not in sources:
                todo.append(pos)
            if n not in sources.setdefault(L.key_of(r), []):
                sources[L.key_of(r)].append(n)
        c["positions"] = todo
        jobs.append((Path(c["path"]), todo, not c.get("synthetic")))
    notify(f"Timing {len(sources)} distinct kernels of {len(configs)} models")
    t0 = time.monotonic()
    done, where, error = isolate_files(jobs, threads, xnnpack, method, board, notify)
    if error is not None:
        raise error
    kernels = []
    for n, prof in done:
        records = configs[n]["records"]
        for o in prof["ops"]:
            if o.get("ms") is not None:
                r = records[o["position"]]
                kernels.append(L.entry(r, o[STATISTIC[statistic]], sources[L.key_of(r)]))
    models = [model_row(configs[n], prof, kernels, statistic) for n, prof in done]
    if board is None and rounds > 1:
        _in_rounds(models, threads, method, rounds, xnnpack, statistic, notify)
    table = {"format": L.FORMAT, "version": L.VERSION, "name": name,
             "runtime": "litert", "provider": "xnnpack" if xnnpack else "builtin",
             "threads": threads, "runs": method.runs, "statistic": statistic,
             "rounds": rounds if board is None else 1,
             "clock": getattr(method, "clock", "wall"),
             "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
             "seconds": round(time.monotonic() - t0, 1), **where,
             "models": models, "kernels": kernels}
    L.Table.write(path, table)   # the table's home: core/lut.py
    table["path"] = str(path)
    return table


def _in_rounds(models: list[dict], threads, method, rounds: int, xnnpack: bool,
               statistic: str, notify) -> None:
    """Each model row timed whole again: its timing of the isolation pass (spread over
    the whole table's measurement, minutes apart) and ``rounds`` interleaved rounds after
    it are kept as ``whole_rounds_ms``, their median is its whole time (a disturbed
    timing is outvoted) and their spread the table's noise: what moves between
    timings, drift included."""
    timed = [n for n, m in enumerate(models) if m["whole_ms"]]
    notify(f"Timing {len(timed)} models whole in {rounds} interleaved rounds")
    for n, r in zip(timed, whole_rounds([Path(models[n]["file"]) for n in timed], threads,
                                        method, rounds, xnnpack, statistic), strict=True):
        r = [models[n]["whole_ms"], *r]
        models[n].update(whole_ms=statistics.median(r), whole_rounds_ms=r)


def whole_rounds(files: list[Path], threads: int | None, method, rounds: int,
                 xnnpack: bool = True, statistic: str = "p50") -> list[list[float]]:
    """The ``statistic`` of ``method.runs`` timed invokes of every file, in ``rounds``
    rounds interleaved over the files (odd rounds in reverse order: a drift of the
    machine is shared), inputs set once per file; [[ms per round] per file]."""
    from edgekit.runtimes.isolate import interpreter, reference_tensors, time_invoke

    its = []
    for path in files:
        _, fed = reference_tensors(path, method.seed)
        it = interpreter(path, threads=threads, xnnpack=xnnpack)
        for d, x in zip(it.get_input_details(), fed, strict=False):
            it.set_tensor(d["index"], x)
        its.append(it)
    out: list[list[float]] = [[] for _ in files]
    for r in range(rounds):
        order = range(len(files)) if r % 2 == 0 else reversed(range(len(files)))
        for n in order:
            out[n].append(time_invoke(its[n].invoke, method)[STATISTIC[statistic]])
    return out


def model_row(c: dict, prof: dict, kernels: list[dict], statistic: str = "p50") -> dict:
    """A table's row for config ``c`` profiled as ``prof``: its whole time (and the 95 %
    interval of that time's median), the sum of its kernels, and which kernels it has how
    many times (so that the table can predict it with itself left out)."""
    from collections import Counter

    index = {k["key"]: i for i, k in enumerate(kernels)}
    keys = [L.key_of(r) for r in c["records"]]
    sums = [kernels[index[k]]["ms"] if k in index else None for k in keys]
    whole = prof.get("whole")
    return {"model": c["model"], "alpha": c["alpha"], "resolution": c["resolution"],
            "knobs": c["knobs"], "quant": c["quant"], "dtype": c["dtype"],
            "file": str(c["path"]),
            "whole_ms": whole[STATISTIC[statistic]] if whole else None,
            "whole_ci95_ms": whole.get("ci95_ms") if whole else None,
            "sum_ms": sum(sums) if None not in sums else None,
            "kernels": sorted([index[k], n] for k, n in Counter(keys).items() if k in index),
            "ops": len(c["records"]), "measured_here": len(c["positions"]),
            **({"synthetic": True} if c.get("synthetic") else {})}


def predict_file(path: Path, table: L.Table, dtype: str, exclude=frozenset()) -> dict:
    """Predicted latency of a .tflite file from ``table``."""
    from edgekit.readers.tflite_reader import read_tflite

    return table.predict(read_tflite(Path(path))[0], dtype, exclude)
