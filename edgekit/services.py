"""What the CLI calls: resolve a target (zoo name or model file), build or load, analyze.

Heavy imports stay inside the functions that need them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgekit.core.errors import ModelFileError, UsageError, first_line
from edgekit.core.records import Report
from edgekit.zoo import registry

KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")
ONNX_SUFFIXES = (".onnx",)
TFLITE_SUFFIXES = (".tflite",)
MODEL_SUFFIXES = KERAS_SUFFIXES + ONNX_SUFFIXES + TFLITE_SUFFIXES


@dataclass
class Target:
    """What the user named: a zoo model with knobs, or a model file."""

    kind: str                      # "zoo" or "file"
    name: str                      # zoo name, or file stem
    knobs: dict[str, Any]          # validated full knob set (zoo only)
    path: Path | None = None

    @property
    def format(self) -> str:
        if self.kind == "zoo":
            return "keras"
        suffix = self.path.suffix.lower()  # type: ignore[union-attr]
        if suffix in KERAS_SUFFIXES:
            return "keras"
        return "onnx" if suffix in ONNX_SUFFIXES else "tflite"

    def describe(self) -> str:
        """The command-line spelling of the target: 'mobilenet --alpha 0.25'."""
        if self.kind == "file":
            return str(self.path)
        entry = registry.get(self.name)
        parts = [self.name]
        for name, value in self.knobs.items():
            knob = entry.knob(name)
            if knob is None or value is None or value == knob.default:
                continue
            parts.append(knob.flag if value is True else f"{knob.flag} {value:g}"
                         if isinstance(value, float) else f"{knob.flag} {value}")
        return " ".join(parts)


def resolve_target(target: str | None, knobs: dict[str, Any]) -> Target:
    """Validate a target and its knobs without building anything (no TensorFlow)."""
    given = {k: v for k, v in knobs.items() if v is not None and v is not False}
    if target is None:
        target = registry.DEFAULT_MODEL
        knobs = {**registry.DEFAULT_KNOBS,
                 **({} if "rho" not in given else {"resolution": None}), **given}
    looks_like_file = Path(target).suffix.lower() in MODEL_SUFFIXES or "/" in target
    if looks_like_file or (Path(target).exists() and target.lower() not in registry.REGISTRY):
        path = Path(target)
        if given:
            flags = ", ".join("--" + k.replace("_", "-") for k in given)
            raise UsageError(f"{flags}: model knobs apply to zoo models, not to a file ({path})")
        if not path.exists():
            raise UsageError(f"model file not found: {path}")
        if not path.is_file():
            raise UsageError(f"not a model file: {path}")
        if path.suffix.lower() not in MODEL_SUFFIXES:
            raise UsageError(f"unsupported model file {path}: expected one of "
                             f"{', '.join(MODEL_SUFFIXES)}")
        return Target("file", path.stem, {}, path)
    entry = registry.get(target)
    return Target("zoo", entry.name, entry.validate(knobs))


def load_keras_file(path: Path):
    """Load a Keras model file without executing code from it (safe_mode)."""
    from edgekit._tf import keras

    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as e:  # Keras raises many types for bad files
        raise ModelFileError(f"cannot load Keras model {path}: {first_line(e)}") from e


def keras_model(target: Target):
    """Build (zoo) or load (file) the Keras model of a target."""
    if target.kind == "zoo":
        model, _ = registry.build(target.name, target.knobs)
        return model
    if target.format != "keras":
        raise UsageError(f"{target.path} is not a Keras model")
    return load_keras_file(target.path)  # type: ignore[arg-type]


def model_meta(target: Target, input_shape: tuple) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": target.name, "source": target.kind,
                            "format": target.format, "input_shape": list(input_shape)}
    if target.kind == "zoo":
        entry = registry.get(target.name)
        meta.update(family=entry.family, paper=entry.paper, knobs=dict(target.knobs))
    else:
        meta.update(path=str(target.path), knobs={})
    return meta


def analyze_keras(model, target: Target, batch: int = 1, dtype: str = "float32") -> Report:
    from edgekit.analysis.keras_reader import read_keras_model

    records, outputs = read_keras_model(model)
    input_shape = records[0].output_shape if records else ()
    return Report(model_meta(target, input_shape), records, batch=batch, act_dtype=dtype,
                  outputs=outputs)


def analyze(target: Target, batch: int = 1, dtype: str | None = None,
            input_shape: tuple[int, ...] | None = None) -> Report:
    """Analyze a zoo model or a model file. ``dtype`` None: float32 for Keras models, each
    tensor's stored dtype for .onnx/.tflite files."""
    from edgekit.core.counting import dtype_bytes

    if dtype is not None:
        dtype_bytes(dtype)  # validate before any heavy work
    if batch < 1:
        raise UsageError(f"--batch {batch}: must be an integer >= 1")
    if input_shape is not None and target.format != "onnx":
        raise UsageError("--input-shape applies to .onnx files with dynamic dimensions")
    if target.format == "keras":
        return analyze_keras(keras_model(target), target, batch, dtype or "float32")
    if target.format == "onnx":
        from edgekit.analysis.onnx_reader import read_onnx

        records, outputs, info = read_onnx(target.path, input_shape)  # type: ignore[arg-type]
    else:
        from edgekit.analysis.tflite_reader import read_tflite

        records, outputs, info = read_tflite(target.path)  # type: ignore[arg-type]
    meta = model_meta(target, tuple(info.pop("input_shape")))
    meta.update(info)
    return Report(meta, records, batch=batch, act_dtype=dtype, outputs=outputs)


def file_macs(target: Target) -> int | None:
    """MACs per item of a model file from its analysis, or None if it cannot be analyzed."""
    from edgekit.core.errors import EdgekitError

    try:
        return analyze(target).totals()["macs"]
    except EdgekitError:
        return None
