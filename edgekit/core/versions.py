"""Installed versions of the packages edgekit works with (stdlib only)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

RUNTIME_PACKAGES = ("onnxruntime", "ai-edge-litert", "tensorflow")
TOOL_PACKAGES = ("tensorflow", "keras", "tf2onnx", "onnx", "onnxruntime", "ai-edge-litert")


def package_versions(packages) -> dict[str, str | None]:
    """{package: version or None when not installed}, edgekit's own first."""
    from edgekit import __version__

    out: dict[str, str | None] = {"edgekit": __version__}
    for pkg in packages:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out
