"""Every JSON document edgekit writes and reads back, one home each (DESIGN.md,
"Foundations"): its schema, its writer and its reader together, used by the commands that
write it and by every reader alike (``report``, the export cache, the sweep,
``bench --compare``).

- ``analysis``: ``analyze --json`` (README: JSON schema);
- ``export``: an export folder's ``manifest.json`` (and the export cache's);
- ``bench``: ``bench --json``; ``profile``: ``profile --json``;
- ``sweep``: ``sweep.json`` (the sweep's store of stages, one JSON line each, is
  services/sweep_store.py's, the latency table is core/lut.py's).

A document is written by :meth:`Document.dumps` / :meth:`Document.write` (through
core.numbers.dumps: NaN and infinity are refused, loudly, and core.files: never onto an
input, atomically), and read by :meth:`Document.read` (through core.reading: registered as
an input, a regular file within the documents' size limit; then checked against the
schema: one line naming the file, the key and what was expected). Standard library only.
"""

from __future__ import annotations

from functools import cached_property

from edgekit.core import schema as S
from edgekit.core.choices import RUNTIME_OF_FORMAT
from edgekit.core.errors import UsageError
from edgekit.core.numbers import dumps


class DocumentError(UsageError):
    """A file that is not one of edgekit's documents (which one it is cannot be told)."""


class Document:
    """One JSON document kind: ``kind`` ('analysis'), ``what`` it is called in errors."""

    def __init__(self, kind: str, what: str):
        self.kind, self.what = kind, what

    @cached_property
    def schema(self) -> S.Spec:
        return _schemas()[self.kind]

    def dumps(self, doc: dict, indent: int | None = 2) -> str:
        """The document's JSON text (NaN and infinity refused)."""
        return dumps(doc, indent=indent)

    def write(self, path, doc: dict, indent: int | None = 2, stdout: bool = False) -> None:
        """Write the document to ``path`` by core.files' rules."""
        from edgekit.core.files import write_text

        write_text(path, self.dumps(doc, indent) + "\n", stdout=stdout)

    def check(self, doc, label) -> dict:
        """A parsed document checked against the schema (one line naming ``label``)."""
        return S.check(doc, self.schema, label)

    def read(self, path, what: str | None = None, own: bool = False) -> dict:
        """The document at ``path``, read by core.reading and checked; one line otherwise.
        ``own``: a file of edgekit's own that this command may rewrite (an export folder's
        manifest, the export cache's): not kept as an input of the command."""
        from edgekit.core.inputs import forget_input, input_named

        was_input = input_named(path) is not None   # another spelling of a user's file
        try:
            return S.load_json(path, self.schema, self.what if what is None else what)
        finally:
            if own and not was_input:
                forget_input(path)


ANALYSIS = Document("analysis", "analysis")
MANIFEST = Document("export", "export manifest")
BENCH = Document("bench", "bench document")
PROFILE = Document("profile", "profile document")
SWEEP = Document("sweep", "sweep document")
BY_KIND = {d.kind: d for d in (ANALYSIS, MANIFEST, BENCH, PROFILE, SWEEP)}
# what 'bench --compare' reads of a bench document: the keys of each row and the latency
# figures the comparison divides by
BENCH_COMPARED = Document("bench compared", "bench document")
# what an export reads of the manifest already in its output folder: the files it lists
# (each entry is checked where it is used: an old or partial listing still protects the
# user's files it does not name)
MANIFEST_LISTING = Document("export listing", "export manifest")


def kind_of(doc: dict) -> str:
    """Which edgekit document this is, from its keys."""
    if not isinstance(doc, dict):
        raise DocumentError("not a JSON object")
    if "macs_agree" in doc:
        raise DocumentError("an 'analyze --compare-formats' document: the report does "
                               "not draw it yet; give 'analyze --json' of each format")
    if doc.get("kind") == "sweep":
        return "sweep"
    if "layers" in doc and "totals" in doc:
        return "analysis"
    if "artifacts" in doc:
        return "export"
    if "results" in doc:
        return "bench"
    if "ops" in doc or "nodes" in doc:
        return "profile"
    raise DocumentError("not an edgekit document (analyze, export manifest, bench, "
                           "profile or sweep JSON)")


# long: the declarative schemas, one per document, side by side
def _schemas() -> dict:
    """What each document must hold for edgekit to read it back (the keys ``report``'s
    renderers, the export cache, the sweep and ``bench --compare`` read), checked on load:
    a hand-edited or foreign file is one line naming the file and the key, never a
    KeyError halfway through the work."""
    count = S.Num(0, None, integer=True)
    n = S.Nullable(S.Num())
    ms = S.Nullable(S.Num(0, None, "ms"))
    text = S.Str(empty=True)
    layer = S.Table({"index": count, "name": text, "op": text,
                     "output_shape": S.ListOf(S.Nullable(S.OneOf((count, S.Str(empty=True))))),
                     "params": count, "macs": count, "activation_bytes": count})
    analysis = S.Table({
        "model": S.Table({   # what the model block prints as a list and a table
            "input_shape": S.Optional(S.ListOf(S.Nullable(S.OneOf((count, text))))),
            "knobs": S.Optional(S.Nullable(S.Table()))}),
        "totals": S.Table({k: count for k in ("params", "trainable_params", "macs", "flops",
                                               "peak_activation_bytes")}
                          | {"peak_at_layer": S.Nullable(text),
                             "weight_bytes": S.Table({k: count
                                                      for k in ("fp32", "fp16", "int8")})}),
        "layers": S.ListOf(layer),
        "conventions": S.Optional(S.ListOf(text)),
        "profile": S.Optional(S.Nullable(S.Table({"time_s": S.Num(0, None, "s"),
                                                  "fit": S.Optional(S.Table())}))),
        "memory_timeline": S.Optional(S.Nullable(S.Table({
            "live_bytes": S.ListOf(count),
            "order": S.ListOf(text)}))),
    })
    fid = S.Nullable(S.OneOf((S.Num(), S.Str())))
    export = S.Table({"artifacts": S.ListOf(S.Table({
        "file": S.Str(pattern=r"(?!\.\.?$)[^/\x00]{1,255}", what="a plain file name"),
        "format": S.Str(choices=tuple(RUNTIME_OF_FORMAT)), "quant": text, "bytes": count,
        "sha256": S.Str(pattern="[0-9a-f]{64}", what="a SHA-256 in hex"),
        "fidelity": S.Optional(S.Nullable(S.Table({  # per output where several: optional
            "top1_agreement": S.Optional(S.Nullable(S.Num(0, 1))),
            "cosine": S.Optional(fid), "sqnr_db": S.Optional(fid)}))),
        "per_layer": S.Optional(S.Nullable(S.ListOf(S.Table({  # report/per_layer.py
            "layer": text, "op": text, "sqnr_db": fid, "isolated_sqnr_db": fid,
            "cosine": fid, "step": fid, "clipped_share": fid, "collapsed_share": fid,
            "max_abs_error": fid})))),
        "per_layer_summary": S.Optional(S.Nullable(S.Str())),
        "kept_float": S.Optional(S.Nullable(S.ListOf(text)))})),
        "model": S.Optional(S.Table()),
        "validation": S.Optional(S.Nullable(S.Table({"samples": S.Optional(count)}))),
        "calibration": S.Optional(S.Nullable(S.Table()))})
    bench = S.Table({"results": S.ListOf(S.Table({
        "model": text, "runtime": text, "threads": S.Nullable(count),
        "latency_ms": S.Table({"p50": S.Num(0, None, "ms"), "p90": S.Optional(ms),
                               "p99": S.Optional(ms)}),
        "samples_ms": S.Optional(S.Nullable(S.ListOf(S.Num(0, None, "ms")))),
        "gmacs_per_s": S.Optional(n), "estimate_ms": S.Optional(ms)})),
        "environment": S.Optional(S.Nullable(S.Table())),
        "device": S.Optional(S.Nullable(S.Table()))})
    profile = S.Table({"ops": S.Optional(S.Nullable(S.ListOf(S.Table({
        "op_index": count, "op": text, "ms": S.Optional(ms),
        "share": S.Optional(S.Nullable(S.Num(0, 1)))})))),
        "by_op": S.Optional(S.Nullable(S.ListOf(S.Table({"op": text, "ms": S.Optional(ms)}))))})
    sweep = S.Table({
        "model": text,
        "objectives": S.Table({k: S.Table({"key": S.Str(), "source": text})
                               for k in ("accuracy", "latency", "memory")}),
        "limits": S.Table({"max_latency_ms": S.Optional(S.Nullable(S.Num(0, None, "ms",
                                                                         lo_open=True)))}),
        "best": S.Nullable(text),
        "rows": S.ListOf(S.Table({
            "id": text, "quant": text, "macs": count, "peak_activation_bytes": count,
            "variant": S.Optional(text), "minimalistic": S.Optional(S.Bool()),
            "alpha": S.Optional(S.Num(0, None, lo_open=True)),
            "file_bytes": count, "pareto": S.Bool(), "feasible": S.Bool(), "best": S.Bool(),
            "violates": S.ListOf(text), "latency_ms": S.Optional(ms),
            "estimate_ms": S.Optional(ms),
            "published_top1": S.Optional(S.Nullable(S.Num(0, 100, "%"))),
            "validation_top1": S.Optional(S.Nullable(S.Num(0, 100, "%")))})),
        "failed": S.Optional(S.ListOf(S.Table({
            "id": text, "runtime": S.Optional(S.Nullable(text)), "stage": text,
            "where": text, "reason": text})))})
    compared = S.Table({
        "results": S.ListOf(S.Table({
            "model": S.Str(), "runtime": S.Str(),
            "provider": S.Optional(S.Nullable(S.Str(empty=True))),
            "threads": S.Optional(S.Nullable(S.Num(1, None, integer=True))),
            "batch": S.Optional(S.Nullable(S.Num(1, None, integer=True))),
            "latency_ms": S.Table({"p50": S.Num(0, None, "ms", lo_open=True),
                                   "stdev": S.Num(0, None, "ms")})})),
        "environment": S.Optional(S.Nullable(S.Table()))})
    return {"analysis": analysis, "export": export, "bench": bench, "profile": profile,
            "sweep": sweep, "bench compared": compared,
            "export listing": S.Table({"artifacts": S.ListOf(S.Anything())})}
