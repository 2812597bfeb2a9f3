"""Which runner opens a model file, and running it over many samples. The pieces every
runner shares (input/output specs, (de)quantization, the arrays of one call) are in
:mod:`edgekit.runtimes.tensors`, which the adapters import: this module imports the
adapters. numpy only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit.core.errors import UsageError


def runtime_for(path: Path | str) -> str:
    """The runtime that runs a model file, by its suffix: 'litert' or 'onnxruntime'."""
    suffix = Path(path).suffix.lower()
    if suffix == ".tflite":
        return "litert"
    if suffix == ".onnx":
        return "onnxruntime"
    raise UsageError(f"cannot run {path}: expected a .tflite or .onnx file")


def open_runner(path: Path | str, *, threads: int | None = None, xnnpack: bool = True,
                provider: str = "cpu", allow_fallback: bool = False):
    """A runner for a model file, chosen by its suffix; options of the other runtime are
    ignored."""
    if runtime_for(path) == "litert":
        from edgekit.runtimes.litert import TFLiteRunner

        return TFLiteRunner(path, threads=threads, xnnpack=xnnpack)
    from edgekit.runtimes.onnxrt import OnnxRunner

    return OnnxRunner(path, provider=provider, threads=threads, allow_fallback=allow_fallback)


def run_batched(runner, x: np.ndarray, batch: int = 16) -> np.ndarray:
    """Float32 outputs of ``runner`` over ``x``, ``batch`` samples per call."""
    return np.concatenate([runner.run(x[i:i + batch]) for i in range(0, len(x), batch)])


def run_batched_all(runner, x, batch: int = 16) -> list[np.ndarray]:
    """Every float32 output of ``runner`` over ``x`` (an array, or a list of arrays: one
    per input, in the runner's order, with the same number of rows), ``batch`` rows per
    call."""
    xs = [x] if isinstance(x, np.ndarray) else list(x)
    parts: list[list] = []
    for i in range(0, len(xs[0]), batch):
        got = runner.run_all([a[i:i + batch] for a in xs])
        parts = parts or [[] for _ in got]
        for k, v in enumerate(got):
            parts[k].append(v)
    return [np.concatenate(p) for p in parts]
