"""`edgekit export`: convert a Keras model to every requested format x quantization, run each
artefact in its real runtime, compare it with Keras, and write the files and a manifest.

Everything is written into a staging folder inside the output folder and moved into place
only when all conversions and checks are done, the manifest last: a failed or interrupted
export leaves no partial file and no half-written manifest.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from edgekit.core.errors import EdgekitError, UsageError
from edgekit.core.fidelity import compare, json_safe
from edgekit.export.calibration import PREPROCESS, Samples, from_array, load_samples
from edgekit.export.converters import CALIBRATION_METHODS, FORMATS, QUANTS, convert
from edgekit.report.files import atomic_write

QUANT_LABEL = {"none": "fp32", "fp16": "fp16", "dynamic": "dynamic", "int8": "int8"}
EXT = {"tflite": ".tflite", "onnx": ".onnx"}


@dataclass
class ExportOptions:
    formats: list[str] = field(default_factory=lambda: list(FORMATS))
    quants: list[str] = field(default_factory=lambda: ["none"])
    calibration: str | None = None
    samples: int = 100
    method: str = "minmax"
    io: str = "int8"
    preprocess: str = "tf"
    validation: Path | None = None
    min_agreement: float = 0.9
    strict: bool = False
    out_dir: Path | None = None

    def validate(self) -> None:
        for f in self.formats:
            if f not in FORMATS:
                raise UsageError(f"--format {f}: must be one of {', '.join(FORMATS)} "
                                 "(comma-separated)")
        for q in self.quants:
            if q not in QUANTS:
                raise UsageError(f"--quant {q}: must be one of {', '.join(QUANTS)} "
                                 "(comma-separated)")
        if self.method not in CALIBRATION_METHODS:
            raise UsageError(f"--calibration-method {self.method}: must be one of "
                             f"{', '.join(CALIBRATION_METHODS)}")
        if self.io not in ("int8", "float"):
            raise UsageError(f"--io {self.io}: must be int8 or float")
        if self.preprocess not in PREPROCESS:
            raise UsageError(f"--preprocess {self.preprocess}: must be one of "
                             f"{', '.join(PREPROCESS)}")
        if not 0.0 <= self.min_agreement <= 1.0:
            raise UsageError(f"--min-agreement {self.min_agreement}: must be between 0 and 1")
        if self.samples < 1:
            raise UsageError(f"--calibration-samples {self.samples}: must be >= 1")
        if self.calibration not in (None, "random") and not Path(self.calibration).exists():
            raise UsageError(f"calibration data not found: {self.calibration}")
        if self.validation is not None and not Path(self.validation).is_file():
            raise UsageError(f"validation data not found: {self.validation}")


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


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def tool_versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    from edgekit import __version__

    out = {"edgekit": __version__}
    for pkg in ("tensorflow", "keras", "tf2onnx", "onnx", "onnxruntime", "ai-edge-litert"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def keras_outputs(model, x: np.ndarray, batch: int = 32) -> np.ndarray:
    outs = [np.asarray(model(x[i:i + batch], training=False)) for i in range(0, len(x), batch)]
    return np.concatenate(outs).astype(np.float32)


def run_artifact(path: Path, x: np.ndarray, batch: int = 16) -> tuple[np.ndarray, dict]:
    from edgekit.bench.runners import open_runner

    runner = open_runner(path)
    outs = [runner.run(x[i:i + batch]) for i in range(0, len(x), batch)]
    io = {"inputs": [s.to_dict() for s in runner.inputs],
          "outputs": [s.to_dict() for s in runner.outputs]}
    return np.concatenate(outs), io


def _data(target, opts: ExportOptions, shape: tuple) -> tuple[Samples | None, Samples]:
    """(calibration, validation) samples."""
    needs_calibration = "int8" in opts.quants
    image_like = len(shape) == 3 and shape[-1] in (1, 3)
    if opts.calibration is None and not image_like:
        if needs_calibration or opts.validation is None:
            raise UsageError(f"the model input {shape} is not an image: give --calibration "
                             "(an .npy/.npz array) or --calibration random")
    if opts.calibration is None and needs_calibration and target.kind == "file":
        raise UsageError("--quant int8 on a model file needs calibration data: "
                         "--calibration FOLDER|FILE.npz (or 'random', for timing only)")
    calib = load_samples(opts.calibration, shape, opts.samples, opts.preprocess) \
        if (opts.calibration is not None or image_like) else None
    if opts.validation is not None:
        val = from_array(Path(opts.validation), shape, limit=10**9)
    else:
        val = calib  # type: ignore[assignment]
    return calib, val  # type: ignore[return-value]


def export(target, opts: ExportOptions, notify: Callable[[str], None] = lambda m: None,
           warn: Callable[[str], None] = lambda m: None, model=None) -> dict:
    """Run the whole export; return the manifest (also written to OUT/manifest.json).

    ``model``: the target's Keras model when the caller has already built it (a zoo model's
    weights are rescaled in place by the data-dependent init), else it is built here."""
    from edgekit import services

    opts.validate()
    name = slug(target.describe())
    out_dir = Path(opts.out_dir) if opts.out_dir else Path("edgekit-out") / name
    created_dir = not out_dir.exists()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"cannot create output folder {out_dir}: {e.strerror}") from None
    if not out_dir.is_dir() or not os.access(out_dir, os.W_OK):
        raise UsageError(f"output folder {out_dir} is not a writable folder")
    staging = Path(tempfile.mkdtemp(prefix=".edgekit-staging-", dir=out_dir))
    try:
        manifest = _export(target, opts, name, staging, notify, warn, services, model)
        for art in manifest["artifacts"]:
            os.replace(staging / art["file"], out_dir / art["file"])
        atomic_write(out_dir / "manifest.json",
                     lambda f: f.write(json.dumps(manifest, indent=2)), mode="w")
        manifest["out_dir"] = str(out_dir)
        return manifest
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if created_dir and out_dir.exists() and not any(out_dir.iterdir()):
            out_dir.rmdir()


def _export(target, opts, name, staging, notify, warn, services, model) -> dict:
    notify(f"Building {target.describe()}")
    if model is None:
        model = services.keras_model(target)
    if len(model.inputs) != 1:
        raise UsageError("export supports models with one input")
    shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    params = int(model.count_params())
    notify("Loading calibration / validation data")
    calib, val = _data(target, opts, shape)
    if calib is not None and calib.synthetic:
        warn("calibrating on random data: the quantized models are only good for timing")
    elif opts.calibration is None and calib is not None:
        warn(f"no --calibration given: using {calib.source}")
    notify(f"Running the Keras model on {len(val.x)} validation samples")
    weights = "from file"
    if target.kind == "zoo" and calib is not None:
        from edgekit.zoo.init import data_dependent_init

        notify("Giving the untrained zoo model trained-like activation statistics")
        weights = "untrained; " + data_dependent_init(model, calib.x[:32])
    ref = keras_outputs(model, val.x)
    ref_acc = None if val.y is None else float(np.mean(np.argmax(ref, axis=1) == val.y))
    onnx_cache: list[bytes] = []

    def onnx_float() -> bytes:
        if not onnx_cache:
            from edgekit.export.converters import to_onnx_float

            notify("Converting to ONNX (tf2onnx)")
            onnx_cache.append(to_onnx_float(model))
        return onnx_cache[0]

    artifacts = []
    float_sizes: dict[str, int] = {}
    for fmt in opts.formats:
        for quant in opts.quants:
            label = f"{fmt} {QUANT_LABEL[quant]}"
            t0 = time.perf_counter()
            notify(f"Converting {label}" + (f" (calibrating on {len(calib.x)} samples)"
                                            if quant == "int8" and calib else ""))
            content, details = convert(model, fmt, quant, calib.x if calib else None,
                                       opts.io, opts.method, onnx_float)
            file = f"{name}_{QUANT_LABEL[quant]}{EXT[fmt]}"
            path = staging / file
            path.write_bytes(content)
            convert_s = time.perf_counter() - t0
            notify(f"Checking {label} in {'LiteRT' if fmt == 'tflite' else 'onnxruntime'}")
            out, io = run_artifact(path, val.x)
            metrics = compare(ref, out, val.y)
            ok = metrics["top1_agreement"] >= opts.min_agreement
            size = path.stat().st_size
            if quant == "none":
                float_sizes[fmt] = size
            art = {
                "file": file, "format": fmt, "quant": quant, "bytes": size,
                "sha256": sha256(path),
                "size_ratio_to_fp32_weights": round(size / (4 * params), 4) if params else None,
                **io, "quantization": details, "fidelity": json_safe(metrics),
                "fidelity_ok": ok, "convert_seconds": round(convert_s, 2),
                "total_seconds": round(time.perf_counter() - t0, 2),
            }
            if fmt in float_sizes:
                art["size_ratio_to_float"] = round(size / float_sizes[fmt], 4)
            artifacts.append(art)
            if not ok:
                message = (f"{file}: top-1 agreement with Keras {metrics['top1_agreement']:.1%} "
                           f"is below --min-agreement {opts.min_agreement:.0%} "
                           f"(cosine {metrics['cosine']:.4f}, SQNR {metrics['sqnr_db']:.1f} dB)")
                if weights.startswith("untrained"):
                    message += (" — expected for untrained zoo weights: random networks "
                                "amplify small perturbations layer after layer; export a "
                                "trained model for a fidelity figure that means something")
                if opts.strict:
                    raise EdgekitError(message + "; nothing was written (--strict)")
                warn(message)
    meta = services.model_meta(target, shape)
    return {
        "schema": 1,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "tools": tool_versions(),
        "model": {**meta, "params": params, "weights": weights},
        "input": {"shape": [None, *shape], "dtype": "float32", "preprocess": opts.preprocess,
                  "preprocess_means": PREPROCESS[opts.preprocess]},
        "calibration": None if calib is None else {
            "source": calib.source, "samples": int(len(calib.x)), "synthetic": calib.synthetic,
            "method_onnx": opts.method},
        "validation": {"source": val.source, "samples": int(len(val.x)),
                       "labels": val.y is not None, "keras_accuracy": ref_acc},
        "min_agreement": opts.min_agreement,
        "artifacts": artifacts,
    }


def cache_dir() -> Path:
    return Path(os.environ.get("EDGEKIT_CACHE", Path.home() / ".cache" / "edgekit"))


def cached_export(target, quant: str, notify=lambda m: None, model=None) -> dict[str, Path]:
    """.tflite and .onnx (at ``quant``) of a zoo model or a .keras file, exported once into
    the cache (EDGEKIT_CACHE, default ~/.cache/edgekit) and reused: {runtime: path}."""

    if target.kind == "file":  # the file's name and a hash of its content
        key = target.name + "-" + hashlib.sha256(Path(target.path).read_bytes()).hexdigest()[:12]
    else:
        key = slug(target.describe())
    out = cache_dir() / f"{key}-{quant}"
    manifest_path = out / "manifest.json"
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        files = {a["format"]: out / a["file"] for a in manifest["artifacts"]}
        if all(p.exists() for p in files.values()) and len(files) == 2:
            return {"litert": files["tflite"], "onnxruntime": files["onnx"]}
    notify(f"Exporting {target.describe()} ({quant}) to {out}")
    opts = ExportOptions(quants=[quant], out_dir=out, samples=16,
                         calibration=None if target.kind == "zoo" else "random",
                         min_agreement=0.0)
    manifest = export(target, opts, notify=notify, model=model)
    files = {a["format"]: out / a["file"] for a in manifest["artifacts"]}
    return {"litert": files["tflite"], "onnxruntime": files["onnx"]}
