"""`edgekit export`: convert a Keras model to every requested format x quantization, run each
artefact in its real runtime, compare it with Keras, and write the files and a manifest.

Everything is written into a staging folder inside the output folder and moved into place
only when all conversions and checks are done, the manifest last: a failed or interrupted
export leaves no partial file and no half-written manifest.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from edgekit.core import interrupts
from edgekit.core.choices import (
    QUANT_LABEL,
    CalibrationMethod,
    Format,
    IOType,
    Preprocess,
    Quant,
    many,
    one,
)
from edgekit.core.errors import EdgekitError, UsageError
from edgekit.core.fidelity import compare, json_safe
from edgekit.core.files import (
    check_writable,
    move_output,
    note_input,
    sha256_file,
    temp_folder,
    write_text,
)
from edgekit.core.versions import TOOL_PACKAGES, package_versions
from edgekit.export.converters import convert
from edgekit.export.samples import (
    PREPROCESS,
    Samples,
    check_count,
    check_labels,
    from_array,
    load_samples,
)
from edgekit.runtimes.base import open_runner, run_batched

EXT = {"tflite": ".tflite", "onnx": ".onnx"}
MANIFEST = "manifest.json"
MANIFEST_KIND = "edgekit export manifest"   # the marker of a manifest edgekit wrote


def artifact_name(stem: str, fmt: str, quant: str) -> str:
    return f"{stem}_{QUANT_LABEL[quant]}{EXT[fmt]}"


@dataclass
class ExportOptions:
    formats: list[str] = field(default_factory=lambda: [f.value for f in Format])
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
        self.formats = many(Format, self.formats, "--format")
        self.quants = many(Quant, self.quants, "--quant")
        self.method = one(CalibrationMethod, self.method, "--calibration-method")
        self.io = one(IOType, self.io, "--io")
        self.preprocess = one(Preprocess, self.preprocess, "--preprocess")
        if not 0.0 <= self.min_agreement <= 1.0:
            raise UsageError(f"--min-agreement {self.min_agreement}: must be between 0 and 1")
        check_count(self.samples)
        if self.calibration not in (None, "random") and not Path(self.calibration).exists():
            raise UsageError(f"calibration data not found: {self.calibration}")
        if self.validation is not None and not Path(self.validation).is_file():
            raise UsageError(f"validation data not found: {self.validation}")
        if self.calibration not in (None, "random"):
            note_input(self.calibration)
        if self.validation is not None:
            note_input(self.validation)
        if self.out_dir is not None:
            out = Path(self.out_dir)
            if out.exists() and not out.is_dir():
                raise UsageError(f"output folder {out} is not a writable folder")
            check_writable(out / MANIFEST)  # no file where a folder must go
            if out.is_dir():
                previous_manifest(out)      # not edgekit's: refused before any work


@dataclass
class ExportJob:
    """What the pipeline needs to know of the model besides the Keras object: the stem of
    the file names, the model block of the manifest, and whether it is an untrained zoo
    model (which gets trained-like activation statistics before export)."""

    name: str
    meta: dict
    untrained: bool = False
    needs_calibration_data: bool = False   # a user's file: int8 needs real data


def keras_outputs(model, x: np.ndarray, batch: int = 32) -> np.ndarray:
    outs = [np.asarray(model(x[i:i + batch], training=False)) for i in range(0, len(x), batch)]
    return np.concatenate(outs).astype(np.float32)


def run_artifact(path: Path, x: np.ndarray) -> tuple[np.ndarray, dict]:
    runner = open_runner(path)
    io = {"inputs": [s.to_dict() for s in runner.inputs],
          "outputs": [s.to_dict() for s in runner.outputs]}
    return run_batched(runner, x), io


def _data(job: ExportJob, opts: ExportOptions, shape: tuple
          ) -> tuple[Samples | None, Samples]:
    """(calibration, validation) samples."""
    needs_calibration = "int8" in opts.quants
    image_like = len(shape) == 3 and shape[-1] in (1, 3)
    if opts.calibration is None and not image_like:
        if needs_calibration or opts.validation is None:
            raise UsageError(f"the model input {shape} is not an image: give --calibration "
                             "(an .npy/.npz array) or --calibration random")
    if opts.calibration is None and needs_calibration and job.needs_calibration_data:
        raise UsageError("--quant int8 on a model file needs calibration data: "
                         "--calibration FOLDER|FILE.npz (or 'random', for timing only)")
    calib = load_samples(opts.calibration, shape, opts.samples, opts.preprocess) \
        if (opts.calibration is not None or image_like) else None
    if opts.validation is not None:
        val = from_array(Path(opts.validation), shape, limit=10**9)
        if val.y is None:
            raise UsageError(f"--validation {opts.validation}: needs labels: an .npz with "
                             "'x' (inputs) and 'y' (class indices); for inputs alone use "
                             "--calibration")
    else:
        val = calib  # type: ignore[assignment]
    return calib, val  # type: ignore[return-value]


def export(model, job: ExportJob, opts: ExportOptions,
           notify: Callable[[str], None] = lambda m: None,
           warn: Callable[[str], None] = lambda m: None) -> dict:
    """Run the whole export of a Keras model; return the manifest (also written to
    OUT/manifest.json). An untrained model's weights are rescaled in place.

    The output folder is locked for the whole export (a second export into it waits), and
    staging folders left by a killed export are removed. The manifest lists exactly the
    artefacts in the folder: those of an earlier export of the same model are kept and
    listed, those of another model's export are replaced."""
    opts.validate()
    out_dir = Path(opts.out_dir) if opts.out_dir else Path("edgekit-out") / job.name
    created = [d for d in [out_dir, *out_dir.parents] if not d.exists()]  # deepest first
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"cannot create output folder {out_dir}: {e.strerror}") from None
    if not out_dir.is_dir() or not os.access(out_dir, os.W_OK):
        raise UsageError(f"output folder {out_dir} is not a writable folder")
    try:
        with folder_lock(out_dir, warn):
            return _export_locked(model, job, opts, out_dir, notify, warn)
    finally:  # folders this export made and left empty (it failed) go again
        for d in created:
            if d.is_dir() and not any(d.iterdir()):
                d.rmdir()


@contextmanager
def folder_lock(folder: Path, warn: Callable[[str], None]):
    """An exclusive lock on the folder itself (flock on its descriptor): concurrent exports
    into one folder run one after the other. Released when the process dies."""
    import fcntl

    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            warn(f"another edgekit export is writing into {folder}: waiting for it")
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _export_locked(model, job, opts, out_dir: Path, notify, warn) -> dict:
    for stale in out_dir.glob(".edgekit-staging-*"):  # the lock is ours: nobody uses them
        shutil.rmtree(stale, ignore_errors=True)
    with temp_folder(prefix=".edgekit-staging-", dir=out_dir) as staging:
        planned = [artifact_name(job.name, f, q) for f in opts.formats for q in opts.quants]
        _check_replaceable(out_dir, planned)        # before any work
        manifest = _export(model, job, opts, staging, notify, warn)
        interrupts.checkpoint()   # an interrupt stops the export before anything moves
        with interrupts.deferred():   # then the artefacts and their manifest move together
            previous = _check_replaceable(out_dir, [a["file"] for a in manifest["artifacts"]])
            manifest["artifacts"] = _merge_previous(out_dir, previous, manifest, warn)
            for art in manifest["artifacts"]:
                if (staging / art["file"]).exists():   # through the one writer
                    move_output(staging / art["file"], out_dir / art["file"])
            write_text(out_dir / MANIFEST, json.dumps(manifest, indent=2))
        manifest["out_dir"] = str(out_dir)
        return manifest


def _identity(meta: dict) -> tuple:
    return tuple(json.dumps(meta.get(k), sort_keys=True)
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
    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError):
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


def _check_replaceable(out_dir: Path, names: list[str]) -> dict | None:
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


def _merge_previous(out_dir: Path, previous: dict | None, manifest: dict,
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


@dataclass
class _Context:
    """What every artefact of one export is checked against."""

    model: object
    job: ExportJob
    opts: ExportOptions
    calib: Samples | None
    val: Samples
    ref: np.ndarray
    weights: str
    params: int
    onnx_cache: list = field(default_factory=list)

    def onnx_float(self) -> bytes:
        if not self.onnx_cache:
            from edgekit.export.converters import to_onnx_float

            self.onnx_cache.append(to_onnx_float(self.model))
        return self.onnx_cache[0]


def _prepare(model, job: ExportJob, opts: ExportOptions, notify, warn) -> _Context:
    if len(model.inputs) != 1:
        raise UsageError("export supports models with one input")
    shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    notify("Loading calibration / validation data")
    calib, val = _data(job, opts, shape)
    if calib is not None and calib.synthetic:
        warn("calibrating on random data: the quantized models are only good for timing")
    elif opts.calibration is None and calib is not None:
        warn(f"no --calibration given: using {calib.source}")
    weights = (f"from {job.meta['weights_file']}" if "weights_file" in job.meta
               else "untrained" if job.untrained else "from file")
    if job.untrained and calib is not None:
        from edgekit.export.datainit import data_dependent_init

        notify("Giving the untrained zoo model trained-like activation statistics")
        weights = "untrained; " + data_dependent_init(model, calib.x[:32])
    notify(f"Running the Keras model on {len(val.x)} validation samples")
    ref = keras_outputs(model, val.x)
    check_labels(val, int(np.prod(ref.shape[1:])))
    return _Context(model, job, opts, calib, val, ref, weights, int(model.count_params()))


def _artifact(ctx: _Context, fmt: str, quant: str, staging: Path, notify, step: str) -> dict:
    """Convert, write into staging, run in the runtime and compare with Keras."""
    opts, calib = ctx.opts, ctx.calib
    label = f"{fmt} {QUANT_LABEL[quant]}"
    t0 = time.perf_counter()
    notify(f"{step} Converting {label}" + (f" (calibrating on {len(calib.x)} samples)"
                                    if quant == "int8" and calib else ""))
    content, details = convert(ctx.model, fmt, quant, calib.x if calib else None,
                               opts.io, opts.method, ctx.onnx_float)
    file = artifact_name(ctx.job.name, fmt, quant)
    path = staging / file
    path.write_bytes(content)
    convert_s = time.perf_counter() - t0
    notify(f"{step} Checking {label} in {'LiteRT' if fmt == 'tflite' else 'onnxruntime'}")
    out, io = run_artifact(path, ctx.val.x)
    metrics = compare(ctx.ref, out, ctx.val.y)
    size = path.stat().st_size
    return {
        "file": file, "format": fmt, "quant": quant, "bytes": size,
        "sha256": sha256_file(path),
        "size_ratio_to_fp32_weights": round(size / (4 * ctx.params), 4) if ctx.params else None,
        **io, "quantization": details, "fidelity": json_safe(metrics),
        "fidelity_ok": metrics["top1_agreement"] >= opts.min_agreement,
        "convert_seconds": round(convert_s, 2),
        "total_seconds": round(time.perf_counter() - t0, 2),
    }


def _below_threshold(ctx: _Context, arts: list[dict], warn) -> None:
    """One warning (or, with --strict, one error) for every artefact below
    --min-agreement, the reason for untrained weights said once."""
    parts = []
    for art in arts:
        f = art["fidelity"]
        parts.append(f"{art['file']} {f['top1_agreement']:.1%} (cosine {f['cosine']:.4f}, "
                     f"SQNR {float(f['sqnr_db']):.1f} dB)")
    message = (f"top-1 agreement with Keras below --min-agreement "
               f"{ctx.opts.min_agreement:.0%}: {'; '.join(parts)}")
    if ctx.weights.startswith("untrained"):
        message += (" — expected for untrained zoo weights: random networks "
                    "amplify small perturbations layer after layer; export a "
                    "trained model for a fidelity figure that means something")
    if ctx.opts.strict:
        raise EdgekitError(message + "; nothing was written (--strict)")
    warn(message)


def _export(model, job: ExportJob, opts: ExportOptions, staging: Path, notify, warn) -> dict:
    ctx = _prepare(model, job, opts, notify, warn)
    artifacts = []
    float_sizes: dict[str, int] = {}
    n = len(opts.formats) * len(opts.quants)
    for fmt in opts.formats:
        for quant in opts.quants:
            art = _artifact(ctx, fmt, quant, staging, notify, f"[{len(artifacts) + 1}/{n}]")
            if quant == "none":
                float_sizes[fmt] = art["bytes"]
            if fmt in float_sizes:
                art["size_ratio_to_float"] = round(art["bytes"] / float_sizes[fmt], 4)
            artifacts.append(art)
    below = [a for a in artifacts if not a["fidelity_ok"]]
    if below:
        _below_threshold(ctx, below, warn)
    return _manifest(ctx, artifacts)


def _manifest(ctx: _Context, artifacts: list[dict]) -> dict:
    from edgekit.core.records import SCHEMA_VERSION

    opts, calib, val = ctx.opts, ctx.calib, ctx.val
    ref_acc = None if val.y is None else float(np.mean(np.argmax(ctx.ref, axis=1) == val.y))
    return {
        "schema": SCHEMA_VERSION,
        "kind": MANIFEST_KIND,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "tools": package_versions(TOOL_PACKAGES),
        "model": {**ctx.job.meta, "params": ctx.params, "weights": ctx.weights},
        "input": {"shape": [None, *ctx.job.meta["input_shape"]], "dtype": "float32",
                  "preprocess": opts.preprocess,
                  "preprocess_means": PREPROCESS[opts.preprocess]},
        "calibration": None if calib is None else {
            "source": calib.source, "samples": int(len(calib.x)), "synthetic": calib.synthetic,
            "method_onnx": opts.method},
        "validation": {"source": val.source, "samples": int(len(val.x)),
                       "labels": val.y is not None, "keras_accuracy": ref_acc},
        "min_agreement": opts.min_agreement,
        "artifacts": artifacts,
    }
