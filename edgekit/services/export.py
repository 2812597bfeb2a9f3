"""Export use cases: a target (zoo model or Keras file) to TFLite and ONNX, and the cached
export that bench, profile and the format comparison share."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from edgekit.core.choices import RUNTIME_OF_FORMAT
from edgekit.core.errors import UsageError
from edgekit.core.files import sha256_file
from edgekit.export import cache
from edgekit.export.pipeline import ExportJob, ExportOptions, export
from edgekit.services.targets import Target, keras_model, model_meta, resolve_target, slug


def export_target_of(target: str | None, knobs: dict, weights=None) -> Target:
    """What `edgekit export` was given: a zoo model, a model file, or a SavedModel folder
    (its files noted as inputs)."""
    from edgekit.core.files import note_input
    from edgekit.export.saved_model_source import is_saved_model

    if target is None or not is_saved_model(Path(target)):
        return resolve_target(target, knobs, weights)
    given = [k for k, v in knobs.items() if v is not None and v is not False]
    if given or weights is not None:
        raise UsageError(f"{target}: model knobs and --weights apply to zoo models, not to "
                         "a SavedModel")
    path = Path(target)
    for f in path.rglob("*"):
        note_input(f)    # no output may land on one of the SavedModel's files
    return Target("file", path.resolve().name, {}, path)


def job_for(target: Target, model) -> ExportJob:
    shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    # a zoo model is named by its knobs, a file by its own name (not the path as typed)
    name = slug(target.describe()) if target.kind == "zoo" else target.name
    return ExportJob(name=name, meta=model_meta(target, shape),
                     untrained=target.kind == "zoo" and target.weights is None,
                     needs_calibration_data=target.kind == "file")


def export_target(target: Target, opts: ExportOptions,
                  notify: Callable[[str], None] = lambda m: None,
                  warn: Callable[[str], None] = lambda m: None, model=None) -> dict:
    """Build or load the target's Keras model (unless given) and export it; bad options
    fail before the build."""
    opts.validate()
    if target.kind == "file" and target.format == "onnx":
        return _export_onnx(target, opts, notify, warn)
    if target.kind == "file" and Path(target.path).is_dir():
        return _export_saved_model(target, opts, notify, warn)
    if target.kind == "file" and target.format == "tflite":
        return _export_tflite(target, opts, notify, warn)
    notify(f"Building {target.describe()}")
    if model is None:
        model = keras_model(target)
    return export(model, job_for(target, model), opts, notify=notify, warn=warn)


def _export_onnx(target: Target, opts: ExportOptions, notify, warn) -> dict:
    """A float ONNX file: quantized with onnxruntime, checked against itself."""
    from edgekit.export.onnx_source import (
        load_float_onnx,
        onnx_reference,
        parameter_count,
        quantize_source,
    )
    from edgekit.readers.onnx_file import load_onnx

    def read(path: Path, opts: ExportOptions) -> tuple:
        # read, with all its external data, by the one ONNX loader
        content, io = load_float_onnx(load_onnx(path, whole=True), path, opts.input_shapes)
        return (io, parameter_count(content),
                lambda fmt, quant, calib, o, keep=None: quantize_source(
                    content, path, quant, calib, o.method, keep),
                lambda x: onnx_reference(content, x, io, path), content)

    return _export_source(target, opts, "onnx", read, notify, warn)


def _export_saved_model(target: Target, opts: ExportOptions, notify, warn) -> dict:
    """A SavedModel folder: the TFLite converter and tf2onnx from its serving signature,
    checked against the signature run in TensorFlow."""
    from edgekit.export.converters import quantize_onnx
    from edgekit.export.saved_model_source import (
        load_saved_model,
        saved_model_reference,
        to_onnx,
        to_tflite,
    )

    def read(path: Path, opts: ExportOptions) -> tuple:
        fn, io, params = load_saved_model(path)
        onnx_float: list[bytes] = []

        def make(fmt, quant, calib, o, keep=None):
            if fmt == "tflite":
                return to_tflite(path, quant, calib, io, o.io, keep)
            if not onnx_float:
                onnx_float.append(to_onnx(fn, io))
            return quantize_onnx(onnx_float[0], quant, calib, o.method,
                                 keep_float=(lambda _: list(keep)) if keep else None)

        return io, params, make, lambda x: saved_model_reference(fn, x, io), None

    return _export_source(target, opts, "savedmodel", read, notify, warn)


def _export_tflite(target: Target, opts: ExportOptions, notify, warn) -> dict:
    """A float .tflite: quantized by ai-edge-quantizer, checked against itself in LiteRT."""
    from edgekit.export.tflite_source import (
        load_float_tflite,
        quantize_tflite,
        tflite_reference,
    )

    def read(path: Path, opts: ExportOptions) -> tuple:
        io, params = load_float_tflite(path)
        return (io, params,
                lambda fmt, quant, calib, o, keep=None: quantize_tflite(
                    path, quant, calib, io, keep),
                lambda x: tflite_reference(path, x, io), None)

    return _export_source(target, opts, "tflite", read, notify, warn)


def _export_source(target: Target, opts: ExportOptions, kind: str, read, notify,
                   warn) -> dict:
    """Export a source that is not Keras (``kind``: onnx, savedmodel, tflite):
    ``read(path, opts)`` -> (its inputs and outputs, its weights, ``make``, ``reference``,
    a float ONNX's bytes or None), as :class:`edgekit.export.pipeline.SourceModel` takes
    them; the float file of each format is made once (--keep-float's check and
    --per-layer use it before the float artefact)."""
    from edgekit.export.pipeline import SourceModel

    opts = opts.for_source(kind)
    path = Path(target.path)
    notify(f"Loading SavedModel {path}" if kind == "savedmodel" else f"Reading {path}")
    io, params, make, reference, content = read(path, opts)
    source = SourceModel(path, io, params, reference=reference, make=_float_once(make),
                         content=content)
    meta = model_meta(target, io.shapes[0])
    if kind == "savedmodel":
        meta = {**meta, "format": "savedmodel"}
    job = ExportJob(name=target.name, meta=meta, needs_calibration_data=True, source=kind)
    return export(source, job, opts, notify=notify, warn=warn)


def _float_once(make):
    """``make`` with each format's float artefact (``--quant none``) made once."""
    made: dict = {}

    def once(fmt, quant, calib, o, keep=None):
        if quant != "none" or keep:
            return make(fmt, quant, calib, o, keep)
        if fmt not in made:
            made[fmt] = make(fmt, quant, calib, o)
        content, details = made[fmt]
        return content, dict(details)
    return once


def cache_key(target: Target) -> str:
    if target.kind == "file":  # the file's name and a hash of its content
        return f"{target.name}-{sha256_file(Path(target.path))[:12]}"
    if target.weights is not None:  # the same knobs with other weights: another model
        return f"{slug(target.describe())}-{sha256_file(target.weights)[:12]}"
    return slug(target.describe())


def cached_export(target: Target, quant: str, notify: Callable[[str], None] = lambda m: None,
                  model=None, runtimes=("litert", "onnxruntime")) -> dict[str, Path]:
    """The files (at ``quant``) that ``runtimes`` run, of a zoo model or a .keras file,
    exported once into the cache (EDGEKIT_CACHE, default ~/.cache/edgekit) and reused:
    {runtime: path}. Only the formats asked for are made (a later call for the other one
    adds it to the same entry). ``model``: the target's Keras model, if already built."""
    folder = cache.entry_dir(cache_key(target), quant)
    files = cache.lookup(folder, runtimes)
    if files is not None:
        return files
    cache.check_cache()     # a file, dangling link or read-only cache: one line, before work
    formats = [f for f, r in RUNTIME_OF_FORMAT.items() if r in runtimes]
    notify(f"Exporting {target.describe()} ({quant}, {', '.join(formats)}) to {folder}")
    opts = ExportOptions(formats=formats, quants=[quant], out_dir=folder, samples=16,
                         calibration=None if target.kind == "zoo" else "random",
                         min_agreement=0.0)
    manifest = export_target(target, opts, notify=notify, model=model)
    return {r: p for r, p in cache.files_of(manifest, folder).items() if r in runtimes}
