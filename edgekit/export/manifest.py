"""The manifest of an export folder: recognising edgekit's own, refusing to replace a file
edgekit did not write (or that changed since), and merging with an earlier export of the
same model. The pipeline calls these under the folder lock."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from edgekit.core.errors import UsageError
from edgekit.core.files import sha256_file
from edgekit.core.numbers import dumps

MANIFEST = "manifest.json"
MANIFEST_KIND = "edgekit export manifest"   # the marker of a manifest edgekit wrote


def _identity(meta: dict) -> tuple:
    return tuple(dumps(meta.get(k), sort_keys=True)
                 for k in ("name", "source", "path", "knobs", "weights_file"))


def is_edgekit_manifest(doc) -> bool:
    """A manifest edgekit wrote: its marker, or (written before the marker) schema 1 with
    edgekit's blocks."""
    if not isinstance(doc, dict) or not isinstance(doc.get("artifacts"), list):
        return False
    if doc.get("kind") == MANIFEST_KIND:
        return True
    return (doc.get("schema") == 1 and "kind" not in doc
            and isinstance(doc.get("tools"), dict) and isinstance(doc.get("model"), dict))


def previous_manifest(out_dir: Path) -> dict | None:
    """The manifest an earlier export left in ``out_dir`` (None if there is none); one line
    when a manifest.json is there that edgekit did not write: it is never overwritten."""
    path = Path(out_dir) / MANIFEST
    if not os.path.lexists(path):
        return None
    from edgekit.core.documents import MANIFEST_LISTING as DOCUMENT
    from edgekit.core.schema import SchemaError

    try:   # read and checked by the manifest's home (core/documents.py); rewritten here
        doc = DOCUMENT.read(path, own=True)
    except SchemaError:
        doc = None
    if not is_edgekit_manifest(doc):
        raise UsageError(f"{path} is not an edgekit export manifest; edgekit does not "
                         "overwrite it: move it, or choose another output folder (-o)")
    return doc


def _listed(previous: dict | None) -> dict[str, str | None]:
    """{file: sha256} of the artefacts a previous manifest lists (plain file names only)."""
    if previous is None:
        return {}
    out: dict[str, str | None] = {}
    for art in previous["artifacts"]:
        name = art.get("file") if isinstance(art, dict) else None
        if isinstance(name, str) and name not in ("", ".", "..", MANIFEST) \
                and Path(name).name == name:
            sha = art.get("sha256")
            out[name] = sha if isinstance(sha, str) else None
    return out


def _unchanged(path: Path, sha: str | None) -> bool:
    """The file at ``path`` is what edgekit wrote there: a regular file (not a link) with
    the listed hash."""
    return (sha is not None and path.is_file() and not path.is_symlink()
            and sha256_file(path) == sha)


def check_replaceable(out_dir: Path, names: list[str]) -> dict | None:
    """Refuse (before any file moves) to replace a file that edgekit did not write: each
    existing file among ``names`` must be listed by the folder's manifest with its current
    hash. Returns the previous manifest."""
    previous = previous_manifest(out_dir)
    listed = _listed(previous)
    for name in names:
        path = out_dir / name
        if os.path.lexists(path) and not _unchanged(path, listed.get(name)):
            why = "changed since edgekit wrote it" if name in listed else \
                "edgekit did not write it"
            raise UsageError(f"{path} exists and {why}; edgekit does not replace it: move "
                             "it, or choose another output folder (-o)")
    return previous


def merge_previous(out_dir: Path, previous: dict | None, manifest: dict,
                    warn: Callable[[str], None]) -> list[dict]:
    """This export's artefacts, plus those an earlier export of the same model left in the
    folder; an earlier export of another model has its artefacts removed. A listed file
    whose hash no longer matches (the user changed or replaced it) is left alone, no longer
    listed, and named in a warning."""
    if previous is None:
        return manifest["artifacts"]
    same = isinstance(previous.get("model"), dict) and \
        _identity(previous["model"]) == _identity(manifest["model"])
    new = {a["file"] for a in manifest["artifacts"]}
    listed = _listed(previous)
    kept, changed = [], []
    for art in previous["artifacts"]:
        name = art.get("file") if isinstance(art, dict) else None
        if name in new or name not in listed or not os.path.lexists(out_dir / name):
            continue
        if not _unchanged(out_dir / name, listed[name]):
            changed.append(name)
        elif same:
            kept.append(art)
        else:
            (out_dir / name).unlink()
    if changed:
        warn(f"left alone in {out_dir}: {', '.join(changed)} (changed since edgekit wrote "
             "it; no longer listed in the manifest)")
    return kept + manifest["artifacts"]
