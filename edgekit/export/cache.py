"""The export cache: float or quantized .tflite and .onnx files of a model, exported once
and reused by bench, profile and the format comparison.

The key holds the model's identity (zoo knobs, or a file's name and content hash), the
quantization, and the versions of edgekit and every converter: a newer converter or
edgekit never reuses an artefact an older one made.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from edgekit.core.choices import RUNTIME_OF_FORMAT
from edgekit.core.numbers import dumps
from edgekit.core.versions import TOOL_PACKAGES, package_versions


def cache_dir() -> Path:
    """The export cache folder ($EDGEKIT_CACHE, else ~/.cache/edgekit: core.places)."""
    from edgekit.core.places import cache_dir as folder

    return folder()


def check_cache() -> Path:
    """The export cache, checked before any work (core.places.check_cache_folder): a
    file, a dangling link, a read-only folder or HOME is one line now, not a failure of
    every row after the work."""
    from edgekit.core.places import check_cache_folder

    return check_cache_folder()


def versions_digest() -> str:
    """12 hex digits that change whenever edgekit or a converter/runtime version does."""
    text = dumps(package_versions(TOOL_PACKAGES), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def entry_dir(model_key: str, quant: str) -> Path:
    return cache_dir() / f"{model_key}-v{versions_digest()}-{quant}"


def files_of(manifest: dict, folder: Path) -> dict[str, Path]:
    """{runtime: path} of an export manifest's artefacts."""
    return {RUNTIME_OF_FORMAT[a["format"]]: folder / a["file"] for a in manifest["artifacts"]}


def lookup(folder: Path, runtimes) -> dict[str, Path] | None:
    """The cached {runtime: path} in ``folder`` when it holds a file for each of
    ``runtimes``."""
    manifest_path = folder / "manifest.json"
    if not manifest_path.exists():
        return None
    from edgekit.core.documents import MANIFEST
    from edgekit.core.schema import SchemaError

    try:   # read and checked by the manifest's home (core/documents.py)
        files = files_of(MANIFEST.read(manifest_path, own=True), folder)
    except SchemaError:   # a broken cache entry is a miss: exported again
        return None
    files = {r: p for r, p in files.items() if r in runtimes and p.exists()}
    return files if set(files) == set(runtimes) else None
