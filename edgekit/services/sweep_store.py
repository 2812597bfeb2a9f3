"""The sweep's store (``OUT/sweep.jsonl``) and the one check that a file is the file a row
was built as.

Each finished stage is one JSON line, appended and fsynced as it finishes: a killed sweep
loses nothing finished, and the rerun does only what is missing. A stored build is reused
only while every file it names *here* is the file whose sha256 it carries (the export cache
may have been cleared or changed since), and while every file this sweep needs here (to time
it) is here: resuming never depends on a cache that may have been cleared.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from edgekit.core.numbers import dumps

STORE = "sweep.jsonl"


def stage_key(config: dict, settings: dict) -> str:
    """The store key of a stage: the config, what the stage depends on, the tool versions."""
    from edgekit.export.cache import versions_digest

    text = dumps({"config": config["id"], **settings, "tools": versions_digest()},
                      sort_keys=True)
    return f"{config['id']}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def _store_schemas():
    from edgekit.core import schema as S

    count = S.Num(0, None, integer=True)
    ms = S.Nullable(S.Num(0, 1e9, "ms"))
    frac = S.Nullable(S.OneOf((S.Num(-1, 1), S.Str())))
    node = S.Optional(S.Nullable(S.Str()))     # None: on this machine's file system
    build = S.Table({
        # variant and alpha only where the model has them (a store written before variants
        # has no variant: its MobileNet v1/v2 rows keep their keys and are reused; its v3
        # rows, keyed without 'large', are built again under the new ids)
        "id": S.Str(), "model": S.Str(), "variant": S.Optional(S.Str()),
        # absent from a v3 row stored before the sweep varied it (built not minimalistic)
        "minimalistic": S.Optional(S.Bool()),
        "alpha": S.Optional(S.Num(0, 4, lo_open=True)),
        "resolution": S.Num(1, 1e5, "px", integer=True), "quant": S.Str(),
        "params": count, "macs": count, "peak_activation_bytes": count,
        "weights_bytes": count, "node": node,
        "files": S.MapOf(S.Table({"path": S.Str(), "bytes": count, "sha256": S.Str(),
                                  "node": node})),
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
    record starts on a line of its own. Of two lines with one key, the later wins."""

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
        from edgekit.core.inputs import forget_input
        from edgekit.core.reading import DOCUMENT_LIMIT, read_input

        raw = read_input(self.path, "sweep store", DOCUMENT_LIMIT)
        forget_input(self.path)   # edgekit's own file, appended to by this command
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

    def add(self, stage: str, key: str, result: dict) -> None:
        from edgekit.core.files import append_line

        line = dumps({"stage": stage, "key": key, "result": result})
        if self._cut_at is not None and self.path.is_file():
            self.repaired = max(0, self.path.stat().st_size - self._cut_at)
        append_line(self.path, line, cut_at=self._cut_at)   # a cut last line cut off first
        self._cut_at = None
        self.records[(stage, key)] = result


LINE_SCHEMA, STAGE_SCHEMAS = _store_schemas()


# ---- is this the file the row carries? -------------------------------------------------------

def is_the_file(path, entry: dict) -> bool:
    """``path`` (on this machine) holds exactly the file ``entry`` describes: its size and
    its sha256. The one check behind resuming, receiving a file from a Ray node and timing."""
    from edgekit.core.files import sha256_file

    p = Path(path)
    try:
        return (p.is_file() and p.stat().st_size == entry["bytes"]
                and sha256_file(p) == entry["sha256"])
    except OSError:
        return False


def files_here(build: dict, needed=()) -> bool:
    """A stored build can be reused: each file it names on this machine is that file (same
    sha256), and each runtime in ``needed`` (files to time here) has its file here. A file
    left on a Ray node (``node`` set) is not checked unless it is needed."""
    for rt, f in build["files"].items():
        if f.get("node") is not None:
            if rt in needed:
                return False
        elif not is_the_file(f["path"], f):
            return False
    return all(rt in build["files"] for rt in needed)


def forget_missing_files(store: Store, keys, needed=()) -> None:
    """A stored build whose files here are gone or changed (the export cache was cleared or
    rewritten), or whose needed files are on another node, is built again."""
    for key in keys:
        b = store.get("build", key)
        if b is not None and not files_here(b, needed):
            store.drop("build", key)
