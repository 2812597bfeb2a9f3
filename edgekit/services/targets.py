"""Targets: what the user named (a zoo model with knobs, or a model file), validated
without building anything, and its Keras model built or loaded on demand."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgekit.core.errors import ModelFileError, UsageError, first_line
from edgekit.core.files import note_input
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
    weights: Path | None = None    # a zoo model's weights file (--weights), checked to exist

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
        if self.weights is not None:
            parts.append(f"--weights {self.weights.name}")
        return " ".join(parts)


def resolve_target(target: str | None, knobs: dict[str, Any],
                   weights: str | None = None) -> Target:
    """Validate a target, its knobs and --weights without building anything (no
    TensorFlow)."""
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
        if weights is not None:
            raise UsageError(f"--weights applies to zoo models; {path} has its own")
        if not path.exists():
            raise UsageError(f"model file not found: {path}")
        if not path.is_file():
            raise UsageError(f"not a model file: {path}")
        if path.suffix.lower() not in MODEL_SUFFIXES:
            raise UsageError(f"unsupported model file {path}: expected one of "
                             f"{', '.join(MODEL_SUFFIXES)}")
        note_input(path)   # no output of this command may be written onto it
        return Target("file", path.stem, {}, path)
    entry = registry.get(target)
    values = entry.validate(knobs)
    path = None
    if weights is not None:
        from edgekit.zoo.pretrained import resolve_file

        path = resolve_file(weights, entry.name, values)
        note_input(path)
    return Target("zoo", entry.name, values, weights=path)


HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def check_keras_file(path: Path) -> None:
    """One line for a file that cannot be a Keras model, before Keras says 'file not
    found' about it: empty, not the container its suffix names (a .keras file is a zip
    archive, an .h5 file HDF5), or weights without a model."""
    import zipfile

    size = path.stat().st_size
    if size == 0:
        raise ModelFileError(f"cannot load Keras model {path}: the file is empty")
    if path.suffix.lower() == ".keras" and not zipfile.is_zipfile(path):
        raise ModelFileError(f"cannot load Keras model {path}: not a .keras file (a .keras "
                             f"file is a zip archive; this one is not, or is truncated: "
                             f"{size} bytes)")
    if path.suffix.lower() in (".h5", ".hdf5"):
        from edgekit.core.reading import MODEL_LIMIT, open_input

        with open_input(path, "Keras model", MODEL_LIMIT) as f:
            if f.read(8) != HDF5_MAGIC:
                raise ModelFileError(f"cannot load Keras model {path}: not an HDF5 file")
        import h5py

        try:
            with h5py.File(path, "r") as f:
                has_model = "model_config" in f.attrs
        except OSError as e:
            raise ModelFileError(f"cannot load Keras model {path}: corrupt or truncated "
                                 f"HDF5 ({first_line(e)})") from e
        if not has_model:
            raise ModelFileError(f"cannot load Keras model {path}: it holds weights but no "
                                 "model; give it to a zoo model with --weights")


def load_keras_file(path: Path):
    """Load a Keras model file without executing code from it (safe_mode)."""
    check_keras_file(path)  # before TensorFlow's import: a bad file fails in milliseconds
    from edgekit._tf import keras

    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as e:  # Keras raises many types for bad files
        if "safe_mode" in str(e):  # a Lambda's Python code, or another unsafe object
            raise ModelFileError(
                f"cannot load Keras model {path}: it holds Python code (e.g. a Lambda layer), "
                "which edgekit never runs (Keras safe_mode); rebuild it from standard "
                "layers, or export it to .onnx/.tflite where you trust it") from e
        raise ModelFileError(f"cannot load Keras model {path}: {first_line(e)}") from e


def keras_model(target: Target):
    """Build (zoo) or load (file) the Keras model of a target."""
    if target.kind == "zoo":
        model, _ = registry.build(target.name, target.knobs)
        if target.weights is not None:
            from edgekit.zoo.pretrained import load

            load(model, target.name, target.knobs, target.weights)
        return model
    if target.format != "keras":
        raise UsageError(f"{target.path} is not a Keras model")
    return load_keras_file(target.path)  # type: ignore[arg-type]


def model_meta(target: Target, input_shape: tuple) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": target.name, "target": target.describe(),
                            "source": target.kind, "format": target.format,
                            "input_shape": list(input_shape)}
    if target.kind == "zoo":
        entry = registry.get(target.name)
        meta.update(family=entry.family, paper=entry.paper, knobs=dict(target.knobs))
        if target.weights is not None:
            meta["weights_file"] = str(target.weights)
    else:
        meta.update(path=str(target.path), knobs={})
    return meta


def slug(describe: str) -> str:
    """'mobilenet --alpha 0.25 --resolution 96' -> 'mobilenet_alpha0.25_resolution96'."""
    parts = describe.split()
    out = [parts[0]]
    for p in parts[1:]:
        if p.startswith("--"):
            out.append(p[2:].replace("-", ""))
        else:
            out[-1] += p
    return "_".join(out).replace("/", "_")
