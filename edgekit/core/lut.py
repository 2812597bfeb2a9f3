"""Latency tables: measured kernel times of a device, and a model's latency predicted
from them (after nn-Meter, MobiSys 2021: a model's latency is the sum of its kernels').

A kernel is one op of a TFLite model as the analysis of the file describes it (op type,
dtypes, input and output shapes, kernel size, strides, fused activation). A table holds
the median time of each kernel measured in isolation on one device, runtime and thread
count (``edgekit profile --lut``). To predict a model, each of its ops is

- looked up: the same kernel was measured;
- or predicted by its kernel type's regression (:mod:`edgekit.core.lut_model`: op and
  dtypes make the type; sizes, channels, kernel size, stride, MACs and bytes are the
  features), flagged where a feature lies outside what the type's kernels span;
- or borrowed: no kernel of its type was measured, so every kernel of its dtype and class
  gives a law in the work (flagged; a table of MobileNet v1 + v2 also times the newer
  families' kernel types on synthetic files, services/lut_synthetic.py);
- or missing: nothing of its class was measured (counted as 0 ms, and said).

The sum is then corrected, fitted per dtype on the models the table was made from, each
timed whole as well (what isolation cannot see: the cost of a run counted once per op in
the sum, fusion, caches) by one of core/lut_line.py's lines: whole ≈ sum·(a + c·g) + d·w
(the cache line: g the log of the model's mean activation bytes per op, w the MiB of
weights of its ops that fit the machine's L2 alone, where the table says its L2), whole ≈
sum·(a + c·g) (the footprint line) or whole ≈ a·sum + b, chosen by leave-one-model-out on
the same models (the first two need the models' kernel counts, which old tables lack).
Each prediction has an interval meant to
hold 90 % of models: from the errors of the table's own models, each predicted with that
model left out (split-conformal), widened by the table's noise (the spread of each
model's whole timings: what another timing of the same model adds).
Pure Python and numpy.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from edgekit.core import lut_line
from edgekit.core import schema as S
from edgekit.core.errors import UsageError
from edgekit.core.lut_features import Described, bytes_per_op, cached_weights_mib, describe
from edgekit.core.lut_model import KernelPrediction, Predictor, conformal_halfwidth
from edgekit.core.shapes import format_dims

FORMAT = "edgekit-latency-table"
VERSION = 1
COVERAGE = 0.9       # what each prediction's interval is meant to hold
PLAIN_MARGIN = lut_line.PLAIN_MARGIN


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
            "whole_ci95_ms": S.Optional(S.Nullable(S.ListOf(ms))),
            "whole_rounds_ms": S.Optional(S.ListOf(S.Num(0, 1e9, "ms", lo_open=True))),
            "synthetic": S.Optional(S.Bool()),
            "kernels": S.Optional(S.ListOf(S.ListOf(S.Num(0, None, integer=True)))),
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
    activation, pooling window and the ranks of its tensors. The op's name is the file's
    (a custom op's): the key's field separator in it is replaced, so that every key
    parses back (core.lut_features.parse_key)."""
    a = r.attrs or {}
    kernel = a.get("kernel")
    hw = "x".join(map(str, kernel[1:3])) if kernel and len(kernel) == 4 else ""
    return "|".join([r.op.replace("|", "/"), r.act_dtype, r.weight_dtype, hw,
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
    _predictors: dict = field(default_factory=dict, repr=False)
    _errors: dict = field(default_factory=dict, repr=False)
    _described: dict = field(default_factory=dict, repr=False)
    _footprints: dict = field(default_factory=dict, repr=False)
    _lines: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        for e in self.data["kernels"]:
            self.by_key[e["key"]] = e

    @staticmethod
    def write(path: Path, data: dict, indent: int | None = 1) -> None:
        """Write a latency table (the one writer of the document this class reads: NaN
        refused, by core.files' rules)."""
        from edgekit.core.files import write_text
        from edgekit.core.numbers import dumps

        write_text(path, dumps(data, indent=indent))

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
        """(a, b) of the plain line whole ≈ a·sum + b (ms), fitted on the table's models
        of ``dtype`` outside ``exclude`` (all of its models if under 3 are) that were
        timed whole (core.lut_line.plain). (1, 0) without such models."""
        return lut_line.plain(self._points(dtype, exclude, detail=False))

    def _points(self, dtype: str, exclude, detail: bool = True) -> list[lut_line.Point]:
        """The models timed whole (those of ``dtype`` outside ``exclude``; all dtypes if
        under 3), with their footprint where ``detail``."""
        timed = [(n, m) for n, m in enumerate(self.data["models"])
                 if m.get("whole_ms") and m.get("sum_ms") and n not in exclude]
        same = [(n, m) for n, m in timed if m.get("dtype") == dtype]
        return [lut_line.Point(m["sum_ms"], m["whole_ms"],
                               *(self.model_footprint(n) if detail else (None, None)))
                for n, m in (same if len(same) >= 3 else timed)]

    def whole_line(self, dtype: str, exclude: set[int] = frozenset()) -> dict:
        """How the sum of kernels becomes the whole model's time, for ``dtype``
        (core.lut_line: the plain, footprint or cache line, fitted on the table's models
        of ``dtype`` outside ``exclude`` that were timed whole, all dtypes if under 3). The
        footprint and cache lines need the models' kernel counts (tables written before
        they were kept: plain), the cache line the table's L2 too."""
        key = (dtype, frozenset(exclude))
        if key not in self._lines:
            self._lines[key] = lut_line.choose(self._points(dtype, exclude))
        return self._lines[key]

    def model_footprint(self, n: int) -> tuple[float | None, float | None]:
        """(bytes_per_op, cached_weights_mib) of the table's model ``n`` (None where its
        counts are not kept or are not ours, or the table does not say its L2)."""
        if n not in self._footprints:
            try:
                kernels = self.model_kernels(n)
                self._footprints[n] = (None, None) if kernels is None else \
                    self._footprint([k for k, _, c in kernels for _ in range(c)])
            except (IndexError, ValueError):   # a count past the kernels, a key not ours
                self._footprints[n] = None, None
        return self._footprints[n]

    def _footprint(self, keys: list[str]) -> tuple[float | None, float | None]:
        limit = self.cache_limit()
        return bytes_per_op(keys), None if limit is None else cached_weights_mib(keys, limit)

    def cache_limit(self) -> float | None:
        """Bytes of an op's working set that stay in cache between its runs alone:
        CACHE_SHARE of the L2 of the machine the table was measured on (None where the
        table does not say)."""
        l2 = (self.data.get("environment") or {}).get("l2_bytes")
        return lut_line.CACHE_SHARE * l2 if isinstance(l2, int | float) and l2 > 0 \
            else None

    def predictor(self, exclude: set[int] = frozenset()) -> Predictor:
        """The per-type regressions fitted on the kernels that some model outside
        ``exclude`` has."""
        key = frozenset(exclude)
        if key not in self._predictors:
            self._predictors[key] = Predictor(
                [(self.described(e["key"], e.get("macs")), e["ms"])
                 for e in self.data["kernels"] if _usable(e, key)])
        return self._predictors[key]

    def described(self, key: str, macs: int | None) -> Described:
        if (key, macs) not in self._described:
            self._described[key, macs] = describe(key, macs)
        return self._described[key, macs]

    def kernel(self, key: str, macs: int | None, exclude: set[int] = frozenset()
               ) -> KernelPrediction:
        """One kernel: its measured time if a model outside ``exclude`` has it (to
        predict a model the table was made from as if it had never seen it), else its
        type's prediction."""
        hit = self.by_key.get(key)
        if hit is not None and _usable(hit, exclude):
            return KernelPrediction(hit["ms"], "measured", key.split("|", 3)[0])
        return self.predictor(exclude).kernel(self.described(key, macs))

    def kernel_ms(self, r, exclude: set[int] = frozenset()) -> tuple[float, str]:
        """(time, 'measured' | 'ridge' | 'power' | 'rate' | 'borrowed' | 'missing') of
        analysis record ``r``."""
        k = self.kernel(key_of(r), r.macs, exclude)
        return k.ms, k.how

    def model_kernels(self, n: int) -> list[tuple[str, int, int]] | None:
        """(key, MACs, count) of every kernel of the table's model ``n``, where the table
        says (tables written before the counts were kept do not)."""
        counts = self.data["models"][n].get("kernels")
        if counts is None:
            return None
        ks = self.data["kernels"]
        if any(len(pair) != 2 or pair[0] >= len(ks) for pair in counts):
            return None         # not a count of the table's kernels: as if not kept
        return [(ks[i]["key"], ks[i].get("macs"), c) for i, c in counts]

    def predict(self, records, dtype: str, exclude: set[int] = frozenset()) -> dict:
        """Predicted latency (ms) of a TFLite model from its analysis records (INPUT
        records left out), with how each op was found and an interval."""
        rows = [(r.name, r.op, key_of(r), r.macs) for r in records if r.op != "INPUT"]
        return self.predict_kernels(rows, dtype, exclude)

    def predict_kernels(self, rows: list[tuple[str, str, str, int | None]], dtype: str,
                        exclude: set[int] = frozenset(), interval: bool = True) -> dict:
        """The prediction of a model given as (name, op, kernel key, MACs) rows."""
        ops, how = [], {"measured": 0, "scaled": 0, "borrowed": 0, "missing": 0}
        notes: dict[str, list[str]] = {}       # kernel type -> its kernels' notes
        for name, op, key, macs in rows:
            k = self.kernel(key, macs, exclude)
            found = k.how if k.how in how else "scaled"
            how[found] += 1
            if k.note:
                notes.setdefault(k.kernel_type, []).append(k.note)
            ops.append({"name": name, "op": op, "ms": k.ms, "found": found,
                        "note": k.note})
        total = sum(o["ms"] for o in ops)
        ms, a, b, said = self.whole_of([(key, o["ms"]) for (_, _, key, _), o
                                        in zip(rows, ops, strict=True)], dtype, exclude)
        out = {"ms": ms, "sum_ms": total,
               "correction": {"scale": a, "offset_ms": b, **said}, **how,
               "notes": [f"{t} ({len(n)} op{'s' if len(n) > 1 else ''}): {n[0]}"
                         for t, n in notes.items()], "ops": ops, "table": self.name,
               "path": str(self.path) if self.path else None,
               "threads": self.data.get("threads"), "provider": self.data.get("provider"),
               "table_noise": self.noise(dtype)}
        if interval:
            out.update(self.interval(ms, dtype, exclude))
        return out

    def whole_of(self, ops: list[tuple[str, float]], dtype: str,
                 exclude: set[int] = frozenset()) -> tuple[float, float, float, dict]:
        """(whole ms, scale, offset ms, what was used) of a model of ``dtype`` whose ops
        are (kernel key, ms) pairs, by the table's whole-vs-sum line (``whole_line``;
        the plain line where the chosen one cannot be used for it)."""
        total = sum(ms for _, ms in ops)
        line = self.whole_line(dtype, exclude)
        got = None
        if line["line"] != "plain" and ops:
            try:
                got = lut_line.apply(line, total, *self._footprint([k for k, _ in ops]))
            except ValueError:      # a key that is not a kernel key: the plain line
                got = None
        if got is not None:
            return got[0], got[0] / total, 0.0, got[1]
        a, b = self.correction(dtype, exclude)
        if a * total + b <= 0.5 * total:    # outside what the fit saw: the sum itself
            return total, 1.0, 0.0, {"line": "plain"}
        return a * total + b, a, b, {"line": "plain"}

    def interval(self, ms: float, dtype: str, exclude: set[int] = frozenset()) -> dict:
        """{'interval_ms': [lo, hi] or None, 'coverage', 'interval_from'}: the interval
        around ``ms`` from the errors of the table's models of ``dtype`` outside
        ``exclude``, each predicted with itself left out too; those errors are against
        the table's own timings, so the interval is widened by the noise of another
        timing (the table's noise, as the spread of a normal, added in quadrature): what
        a user's next measurement of the model adds."""
        if len(exclude) <= 1:
            # one model left out (or none): the other models' own leave-one-out errors,
            # each computed once (jackknife+), not again without this one
            errors = [e for n, e in self.loo_errors(dtype).items() if n not in exclude]
        else:
            errors = list(self.loo_errors(dtype, exclude).values())
        half = conformal_halfwidth(errors, COVERAGE)
        noise = self.noise(dtype)
        if half is not None and noise:
            z = statistics.NormalDist().inv_cdf((1 + COVERAGE) / 2)
            half = math.hypot(half, z * noise)
        return {"interval_ms": None if half is None else
                [ms * math.exp(-half), ms * math.exp(half)],
                "coverage": COVERAGE, "interval_from": len(errors)}

    def loo_errors(self, dtype: str, exclude: set[int] = frozenset()) -> dict[int, float]:
        """{model: log(whole / predicted)} of every model of ``dtype`` (outside
        ``exclude``) timed whole (not estimated: core.lut_adapt), each predicted as if the
        table had never seen it."""
        key = (dtype, frozenset(exclude))
        if key not in self._errors:
            errs = {}
            for n, m in enumerate(self.data["models"]):
                kernels = self.model_kernels(n)
                if (n in exclude or m.get("dtype") != dtype or not m.get("whole_ms")
                        or m.get("whole_estimated") or kernels is None):
                    continue
                rows = [("", "", k, macs) for k, macs, c in kernels for _ in range(c)]
                p = self.predict_kernels(rows, dtype, set(exclude) | {n}, interval=False)
                if p["ms"] > 0:
                    errs[n] = math.log(m["whole_ms"] / p["ms"])
            self._errors[key] = errs
        return self._errors[key]

    def noise(self, dtype: str) -> float | None:
        """How noisy the table's own whole-model timings of ``dtype`` were: the median
        relative half-range of each model's interleaved rounds (``profile --lut`` times
        every model in rounds: the same file timed minutes apart), else the median
        relative half-width of the 95 % intervals of one timing's runs (which misses
        what moves between timings)."""
        ms = [m for m in self.data["models"] if m.get("dtype") == dtype
              and m.get("whole_ms") and not m.get("whole_estimated")]
        w = [(max(r) - min(r)) / 2 / statistics.median(r) for m in ms
             if len(r := m.get("whole_rounds_ms") or []) >= 2]
        if not w:
            w = [(m["whole_ci95_ms"][1] - m["whole_ci95_ms"][0]) / 2 / m["whole_ms"]
                 for m in ms if m.get("whole_ci95_ms")]
        return statistics.median(w) if w else None


def _usable(e: dict, exclude) -> bool:
    """A kernel of some model outside ``exclude``."""
    return not set(e["sources"]) <= set(exclude)


def table_path(folder: Path, name: str) -> Path:
    return Path(folder) / f"{name}.lut.json"
