"""Installed versions of the packages edgekit works with (stdlib only)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

# the distributions that provide a runtime (onnxruntime comes as several builds)
RUNTIME_PACKAGES = ("onnxruntime", "onnxruntime-openvino", "onnxruntime-gpu", "ai-edge-litert",
                    "tflite-runtime", "tensorflow", "numpy")
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
