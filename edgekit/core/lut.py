"""Latency tables: measured kernel times of a device, and a model's latency predicted
from them (after nn-Meter, MobiSys 2021: a model's latency is the sum of its kernels').

A kernel is one op of a TFLite model as the analysis of the file describes it (op type,
dtypes, input and output shapes, kernel size, strides, fused activation). A table holds
the median time of each kernel measured in isolation on one device, runtime and thread
count (``edgekit profile --lut``). To predict a model, each of its ops is

- looked up: the same kernel was measured;
- or scaled: the two nearest kernels of the same kind (same op, dtypes, kernel size,
  strides and activation; nearest in the logarithm of their sizes) give their time per
  unit of work (MACs, or elements moved for ops without MACs), times this op's work;
- or missing: nothing of its kind was measured (counted as 0 ms, and said).

The sum is then corrected with a line, whole ≈ a·sum + b, fitted on the models the table
was made from, each timed whole as well (what isolation cannot see: the cost of a run
counted once per op in the sum, fusion, caches).
Pure Python.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from edgekit.core import schema as S
from edgekit.core.errors import UsageError
from edgekit.core.shapes import format_dims

FORMAT = "edgekit-latency-table"
VERSION = 1
NEIGHBOURS = 2


def _schemas():
    head = S.Table(expected="a JSON object (an edgekit latency table)")
    ms = S.Num(0, 1e9, "ms")
    table = S.Table({
        "format": S.Str(), "version": S.Num(0, None, integer=True),
        "name": S.Optional(S.Str()),
        "threads": S.Optional(S.Nullable(S.Num(1, 4096, integer=True))),
        "models": S.ListOf(S.Table({
            "dtype": S.Optional(S.Nullable(S.Str())),
            "whole_ms": S.Optional(S.Nullable(S.Num(0, 1e9, "ms", lo_open=True))),
            "sum_ms": S.Optional(S.Nullable(ms)),
        })),
        "kernels": S.ListOf(S.Table({
            "key": S.Str(), "kind": S.Str(), "op": S.Optional(S.Str()),
            "macs": S.Optional(S.Num(0, None, integer=True)),
            "work": S.Num(0, 1e30, lo_open=True),
            "features": S.ListOf(S.Num(-1e6, 1e6)),
            "ms": ms,
            "sources": S.ListOf(S.Num(0, 1e9, integer=True)),
        })),
    })
    return head, table


# What a latency table holds (README: "Latency tables"), checked on load: every time
# finite and >= 0 ms (a whole model's > 0), every kernel's work > 0.
HEAD_SCHEMA, TABLE_SCHEMA = _schemas()


def _dims(shapes) -> str:
    return ";".join(format_dims(s) for s in shapes)


def kind_of(r) -> str:
    """What a kernel is, apart from its sizes: op, dtypes, kernel size, strides,
    activation, pooling window and the ranks of its tensors."""
    a = r.attrs or {}
    kernel = a.get("kernel")
    hw = "x".join(map(str, kernel[1:3])) if kernel and len(kernel) == 4 else ""
    return "|".join([r.op, r.act_dtype, r.weight_dtype, hw,
                     "x".join(map(str, a.get("strides") or [])), a.get("activation") or "",
                     "x".join(map(str, a.get("pool") or [])),
                     ",".join(str(len(s)) for s in [*r.input_shapes, r.output_shape])])


def key_of(r) -> str:
    """The kernel exactly: its kind and every size."""
    return f"{kind_of(r)}|{_dims(r.input_shapes)}|{_dims([r.output_shape])}"


def work_of(r) -> float:
    """What a kernel's time scales with: its MACs, or the elements it reads and writes."""
    if r.macs:
        return float(r.macs)
    return float(sum(math.prod(s) for s in r.input_shapes) + math.prod(r.output_shape)) or 1.0


def features_of(r) -> list[float]:
    return [math.log(max(int(d), 1)) for s in [*r.input_shapes, r.output_shape] for d in s]


def entry(r, ms: float, sources: list[int]) -> dict:
    """A table row for analysis record ``r`` measured at ``ms``; ``sources``: the models
    of the table that have this kernel."""
    return {"key": key_of(r), "kind": kind_of(r), "op": r.op, "macs": int(r.macs),
            "work": work_of(r), "features": features_of(r), "ms": ms, "sources": sources}


@dataclass
class Table:
    """A latency table (the JSON file ``profile --lut`` writes)."""

    name: str
    data: dict
    path: Path | None = None
    by_key: dict = field(default_factory=dict)
    by_kind: dict = field(default_factory=dict)

    def __post_init__(self):
        for e in self.data["kernels"]:
            self.by_key[e["key"]] = e
            self.by_kind.setdefault(e["kind"], []).append(e)

    @classmethod
    def load(cls, path: Path) -> Table:
        data = S.load_json(path, HEAD_SCHEMA, "latency table")
        if data.get("format") != FORMAT:
            raise UsageError(f"latency table {path}: not an edgekit latency table")
        if data.get("version") != VERSION:
            raise UsageError(f"latency table {path}: version {data.get('version')}, this "
                             f"edgekit reads version {VERSION}; measure it again")
        data = S.check(data, TABLE_SCHEMA, f"latency table {path}")
        return cls(data.get("name", Path(path).stem), data, Path(path))

    def correction(self, dtype: str, exclude: set[int] = frozenset()) -> tuple[float, float]:
        """(a, b) of whole ≈ a·sum + b (ms), fitted on the table's models of ``dtype``
        (all of its models if too few are) that were timed whole, least squares on the
        relative error; what isolation misses: a per-run cost counted once per op in the
        sum but once in the whole model, and caches. (1, 0) without such models."""
        timed = [(n, m) for n, m in enumerate(self.data["models"])
                 if m.get("whole_ms") and m.get("sum_ms") and n not in exclude]
        same = [m for _, m in timed if m.get("dtype") == dtype]
        use = same if len(same) >= 3 else [m for _, m in timed]
        if len(use) >= 3:
            # minimise sum(((a s + b) / w - 1)^2): linear in (a, b) with rows (s/w, 1/w)
            xs = [(m["sum_ms"] / m["whole_ms"], 1 / m["whole_ms"]) for m in use]
            sxx = sum(x * x for x, _ in xs)
            sxy = sum(x * y for x, y in xs)
            syy = sum(y * y for _, y in xs)
            sx, sy = sum(x for x, _ in xs), sum(y for _, y in xs)
            det = sxx * syy - sxy * sxy
            if det > 1e-12:
                return (sx * syy - sy * sxy) / det, (sy * sxx - sx * sxy) / det
        if use:
            return statistics.median(m["whole_ms"] / m["sum_ms"] for m in use), 0.0
        return 1.0, 0.0

    def kernel_ms(self, r, exclude: set[int] = frozenset()) -> tuple[float, str]:
        """(time, 'measured' | 'scaled' | 'missing') of analysis record ``r``. Kernels
        that only the models in ``exclude`` have are not used (to predict a model the table
        was made from as if the table had never seen it)."""

        def usable(e: dict) -> bool:
            return not set(e["sources"]) <= exclude

        hit = self.by_key.get(key_of(r))
        if hit is not None and usable(hit):
            return hit["ms"], "measured"
        f = features_of(r)
        near = sorted((sum(abs(a - b) for a, b in zip(e["features"], f, strict=True)), i, e)
                      for i, e in enumerate(self.by_kind.get(kind_of(r), []))
                      if usable(e) and len(e["features"]) == len(f))
        if not near:
            return 0.0, "missing"
        w = work_of(r)
        return statistics.fmean(e["ms"] / e["work"] * w for _, _, e in
                                near[:NEIGHBOURS]), "scaled"

    def predict(self, records, dtype: str, exclude: set[int] = frozenset()) -> dict:
        """Predicted latency (ms) of a TFLite model from its analysis records (INPUT
        records left out), with how each op was found."""
        ops, how = [], {"measured": 0, "scaled": 0, "missing": 0}
        for r in records:
            if r.op == "INPUT":
                continue
            ms, found = self.kernel_ms(r, exclude)
            how[found] += 1
            ops.append({"name": r.name, "op": r.op, "ms": ms, "found": found})
        total = sum(o["ms"] for o in ops)
        a, b = self.correction(dtype, exclude)
        ms = a * total + b
        if ms <= 0.5 * total:    # outside what the fit saw: keep the plain ratio
            a, b = self.correction(dtype, exclude | set(range(len(self.data["models"]))))
            ms = total
        return {"ms": ms, "sum_ms": total, "correction": {"scale": a, "offset_ms": b}, **how,
                "ops": ops, "table": self.name,
                "path": str(self.path) if self.path else None,
                "threads": self.data.get("threads"), "provider": self.data.get("provider")}


def table_path(folder: Path, name: str) -> Path:
    return Path(folder) / f"{name}.lut.json"
