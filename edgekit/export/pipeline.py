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
from edgekit.core.choices import QUANT_LABEL
from edgekit.core.errors import EdgekitError, UsageError, first_line
from edgekit.core.files import (
    move_output,
    sha256_file,
    temp_folder,
    write_text,
)
from edgekit.core.versions import TOOL_PACKAGES, package_versions
from edgekit.export.converters import convert
from edgekit.export.manifest import (
    MANIFEST,
    MANIFEST_KIND,
    check_replaceable,
    merge_previous,
)
from edgekit.export.multi_io import ModelIO, rows
from edgekit.export.options import ExportOptions  # noqa: F401  (imported from here too)
from edgekit.export.samples import (
    PREPROCESS,
    Samples,
    check_labels,
    from_array,
    load_samples,
)
from edgekit.runtimes.base import open_runner, run_batched

EXT = {"tflite": ".tflite", "onnx": ".onnx"}


def artifact_name(stem: str, fmt: str, quant: str) -> str:
    return f"{stem}_{QUANT_LABEL[quant]}{EXT[fmt]}"


@dataclass
class ExportJob:
    """What the pipeline needs to know of the model besides the Keras object: the stem of
    the file names, the model block of the manifest, and whether it is an untrained zoo
    model (which gets trained-like activation statistics before export)."""

    name: str
    meta: dict
    untrained: bool = False
    needs_calibration_data: bool = False   # a user's file: int8 needs real data
    source: str = "keras"                  # onnx, savedmodel, tflite: a SourceModel


@dataclass
class SourceModel:
    """A source that is not a Keras model: its inputs and outputs, ``reference(x)`` (the
    float original's outputs, run in its own runtime, in ``io``'s order: what every
    artefact is compared with) and ``make(fmt, quant, calib, opts)`` -> (bytes, details)
    of one artefact."""

    path: Path
    io: ModelIO
    params: int
    reference: Callable
    make: Callable


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
    opts = opts.for_source(job.source)
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
        check_replaceable(out_dir, planned)        # before any work
        manifest = _export(model, job, opts, staging, notify, warn)
        interrupts.checkpoint()   # an interrupt stops the export before anything moves
        with interrupts.deferred():   # then the artefacts and their manifest move together
            previous = check_replaceable(out_dir, [a["file"] for a in manifest["artifacts"]])
            manifest["artifacts"] = merge_previous(out_dir, previous, manifest, warn)
            for art in manifest["artifacts"]:
                if (staging / art["file"]).exists():   # through the one writer
                    move_output(staging / art["file"], out_dir / art["file"])
            write_text(out_dir / MANIFEST, json.dumps(manifest, indent=2))
        manifest["out_dir"] = str(out_dir)
        return manifest


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
    io: ModelIO | None = None             # the model's inputs and outputs
    refs: list | None = None              # several outputs: Keras' output of each
    keep_float: str | list | None = None  # 'auto', or the groups kept float
    logits: tuple | None = None           # (what, Keras logits) when the model ends in softmax
    layers: object = None                 # per_layer.KerasGraph, for --per-layer/--keep-float
    refs_cache: dict = field(default_factory=dict)
    figures_cache: dict = field(default_factory=dict)   # file sha256 -> its figures

    def layer_refs(self) -> dict:
        """Keras' output of every layer group on the per-layer samples (computed once)."""
        if not self.refs_cache:
            from edgekit.export.per_layer import keras_references, sample_count

            n = sample_count(self.model, self.layers, len(self.val.x))
            self.refs_cache.update(keras_references(self.model, self.layers,
                                                    self.val.x[:n]))
        return self.refs_cache

    def keras_accuracy(self) -> float | None:
        if self.val.y is None or self.refs is not None:
            return None
        ref = self.logits[1] if self.logits is not None else self.ref
        return float(np.mean(np.argmax(ref.reshape(len(ref), -1), axis=1) == self.val.y))

    def onnx_float(self) -> bytes:
        if not self.onnx_cache:
            from edgekit.export.converters import to_onnx_float

            self.onnx_cache.append(to_onnx_float(self.model))
        return self.onnx_cache[0]


def _prepare(model, job: ExportJob, opts: ExportOptions, notify, warn) -> _Context:
    if isinstance(model, SourceModel):
        return _prepare_several(model, job, opts, notify, warn, model.io)
    io = ModelIO.of(model)
    if io.several:
        return _prepare_several(model, job, opts, notify, warn, io)
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
    from edgekit.export.per_layer import keras_groups, logits_reference

    try:
        layers = keras_groups(model)
    except Exception as e:   # a graph the layer groups cannot read: say so, keep going
        if opts.per_layer or opts.keep_float is not None:
            raise UsageError(f"--per-layer/--keep-float cannot read this model's layer "
                             f"graph: {first_line(e)}") from e
        warn(f"the fidelity figures are on the model's output (its layer graph could not "
             f"be read for the logits: {first_line(e)})")
        layers = None
    notify(f"Running the Keras model on {len(val.x)} validation samples")
    ref, logits = None, None
    if layers is not None:
        try:
            ref, logits = logits_reference(model, layers, val.x)  # output and logits, once
        except Exception as e:   # the layer graph is read, its logits are not computable
            warn(f"the fidelity figures are on the model's output (its logits could not be "
                 f"computed: {first_line(e)})")
    if ref is None:
        ref = keras_outputs(model, val.x)
    check_labels(val, int(np.prod(ref.shape[1:])))
    ctx = _Context(model, job, opts, calib, val, ref, weights, int(model.count_params()))
    ctx.layers, ctx.logits, ctx.io = layers, logits, io
    ctx.keep_float = opts.keep_float
    if isinstance(opts.keep_float, list):
        from edgekit.export.keep_float import resolve

        ctx.keep_float = resolve(opts.keep_float, ctx.layers)  # before any conversion
    return ctx


def _prepare_several(model, job: ExportJob, opts: ExportOptions, notify, warn,
                     io: ModelIO) -> _Context:
    """A model with several inputs or outputs, or a source that is not Keras: its data by
    input name, the float original's outputs."""
    from edgekit.export.multi_io import keras_run, load_several

    if opts.per_layer or opts.keep_float is not None:
        raise UsageError(f"--per-layer and --keep-float compare models with one input and "
                         f"one output; this one has {len(io.inputs)} inputs "
                         f"({', '.join(io.inputs)}) and {len(io.outputs)} outputs "
                         f"({', '.join(io.outputs)})")
    notify("Loading calibration / validation data")
    calib, val = load_several(opts, io)
    if calib is not None and calib.synthetic:
        warn("calibrating on random data: the quantized models are only good for timing")
    if isinstance(model, SourceModel):
        notify(f"Running {model.path.name} on {len(val.x[0])} validation samples")
        refs = model.reference(val.x)
        params = model.params
    else:
        notify(f"Running the Keras model on {len(val.x[0])} validation samples")
        refs = keras_run(model, val.x)
        params = int(model.count_params())
    for name, ref in zip(io.outputs, refs, strict=True):
        if name in val.labels:
            check_labels(Samples(ref, val.labels[name], source=f"{val.source} (labels of "
                                 f"{name})"), int(np.prod(ref.shape[1:])))
    ctx = _Context(model, job, opts, calib, val, refs[0], "from file", params)
    ctx.io, ctx.refs = io, refs
    return ctx


def _artifact(ctx: _Context, fmt: str, quant: str, staging: Path, notify, step: str) -> dict:
    """Convert, write into staging, run in the runtime and compare with Keras."""
    opts, calib = ctx.opts, ctx.calib
    label = f"{fmt} {QUANT_LABEL[quant]}"
    t0 = time.perf_counter()
    notify(f"{step} Converting {label}" + (f" (calibrating on {rows(calib.x)} samples)"
                                    if quant == "int8" and calib else ""))
    if isinstance(ctx.model, SourceModel):
        content, details = ctx.model.make(fmt, quant, calib.x if calib else None, opts)
    elif quant == "int8" and opts.keep_float is not None:
        from edgekit.export import keep_float

        content, details = keep_float.convert(ctx, fmt, lambda p: _figures(ctx, p)[0][0],
                                              staging, notify)
    else:
        content, details = convert(ctx.model, fmt, quant, calib.x if calib else None,
                                   opts.io, opts.method, ctx.onnx_float)
    file = artifact_name(ctx.job.name, fmt, quant)
    path = staging / file
    path.write_bytes(content)
    convert_s = time.perf_counter() - t0
    notify(f"{step} Checking {label} in {'LiteRT' if fmt == 'tflite' else 'onnxruntime'}")
    (fidelity, on_output), io = _figures(ctx, path)
    per_output = fidelity.pop("per_output", None)
    size = path.stat().st_size
    art = {
        "file": file, "format": fmt, "quant": quant, "bytes": size,
        "sha256": sha256_file(path),
        "size_ratio_to_fp32_weights": round(size / (4 * ctx.params), 4) if ctx.params else None,
        **io, "quantization": details, "fidelity": fidelity,
        **({"fidelity_output": on_output} if on_output is not None else {}),
        "fidelity_ok": fidelity["top1_agreement"] is None
        or fidelity["top1_agreement"] >= opts.min_agreement,
        "convert_seconds": round(convert_s, 2),
    }
    if per_output is not None:
        from edgekit.export.multi_io import agreement_ok

        art.update(fidelity_outputs=per_output, worst_output=fidelity["output"],
                   fidelity_ok=agreement_ok(per_output, opts.min_agreement))
    if "kept_float" in details:
        art["kept_float"] = details["kept_float"]
    if opts.per_layer and quant != "none":
        from edgekit.export.per_layer import compare_layers, summary

        notify(f"{step} Comparing {label} with Keras layer by layer")
        t1 = time.perf_counter()
        art["per_layer"] = compare_layers(ctx.model, path, ctx.val.x, ctx.layers,
                                          ctx.layer_refs())
        art["per_layer_summary"] = summary(art["per_layer"])
        art["per_layer_samples"] = len(next(iter(ctx.layer_refs().values())))
        art["per_layer_seconds"] = round(time.perf_counter() - t1, 2)
    art["total_seconds"] = round(time.perf_counter() - t0, 2)
    return art


def _figures(ctx: _Context, path: Path) -> tuple[tuple[dict, dict | None], dict]:
    """((fidelity, fidelity on the output or None), io specs) of one file."""
    from edgekit.export.model_figure import figures

    key = sha256_file(path)    # --keep-float auto checked these very bytes as its last probe
    if key not in ctx.figures_cache and ctx.refs is not None:
        from edgekit.export.multi_io import output_figures, run_file, worst

        outs, io = run_file(path, ctx.val.x, ctx.io)
        figs = output_figures(ctx.io, ctx.refs, outs, ctx.val.labels)
        ctx.figures_cache[key] = (({**worst(figs), "on": "output", "per_output": figs},
                                   None), io)
    if key not in ctx.figures_cache:
        out, io = run_artifact(path, ctx.val.x)
        ctx.figures_cache[key] = (figures(ctx.logits, ctx.ref, path, ctx.val.x, out,
                                          ctx.val.y), io)
    fid, on_output = ctx.figures_cache[key][0]
    return ({**fid}, on_output), ctx.figures_cache[key][1]


def _below_threshold(ctx: _Context, arts: list[dict], warn) -> None:
    """One warning (or, with --strict, one error) for every artefact below
    --min-agreement, the reason for untrained weights said once."""
    from edgekit.export.model_figure import message as below_message

    message = below_message(arts, ctx.opts.min_agreement, ctx.weights.startswith("untrained"))
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
    if opts.keep_float is not None:
        from edgekit.export.keep_float import missed_line

        missed = [m for m in (missed_line(a) for a in artifacts) if m]
        if missed and opts.strict:
            raise EdgekitError("; ".join(missed) + "; nothing was written (--strict)")
        for m in missed:
            warn(m)
    return _manifest(ctx, artifacts)


def _manifest(ctx: _Context, artifacts: list[dict]) -> dict:
    from edgekit.core.records import SCHEMA_VERSION

    opts, calib, val = ctx.opts, ctx.calib, ctx.val
    ref_acc = ctx.keras_accuracy()
    return {
        "schema": SCHEMA_VERSION,
        "kind": MANIFEST_KIND,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "tools": package_versions(TOOL_PACKAGES),
        "model": {**ctx.job.meta, "params": ctx.params, "weights": ctx.weights},
        "input": {"shape": [None, *ctx.job.meta["input_shape"]], "dtype": "float32",
                  "preprocess": opts.preprocess,
                  "preprocess_means": PREPROCESS[opts.preprocess]},
        **({} if ctx.refs is None else {"inputs": [
            {"name": n, "shape": [None, *s]} for n, s in zip(ctx.io.inputs, ctx.io.shapes,
                                                             strict=True)],
            "outputs": [{"name": n, "kind": "classification" if c else "regression"}
                        for n, c in zip(ctx.io.outputs, ctx.io.classification,
                                        strict=True)]}),
        "calibration": None if calib is None else {
            "source": calib.source, "samples": rows(calib.x), "synthetic": calib.synthetic,
            "method_onnx": opts.method},
        "validation": {"source": val.source, "samples": rows(val.x),
                       "labels": val.y is not None or bool(val.labels),
                       "keras_accuracy": ref_acc, **_several_accuracy(ctx)},
        "min_agreement": opts.min_agreement,
        "artifacts": artifacts,
    }


def _several_accuracy(ctx: _Context) -> dict:
    """Keras' accuracy on each labelled output of a model with several outputs."""
    if ctx.refs is None or not ctx.val.labels:
        return {}
    acc = {}
    for name, ref in zip(ctx.io.outputs, ctx.refs, strict=True):
        if name in ctx.val.labels:
            flat = ref.reshape(len(ref), -1)
            acc[name] = float(np.mean(np.argmax(flat, axis=1) == ctx.val.labels[name]))
    return {"keras_accuracy_per_output": acc}
