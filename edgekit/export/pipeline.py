"""`edgekit export`: convert a Keras model to every requested format x quantization, run each
artefact in its real runtime, compare it with Keras, and write the files and a manifest.

Everything is written into a staging folder inside the output folder and moved into place
only when all conversions and checks are done, the manifest last: a failed or interrupted
export leaves no partial file and no half-written manifest.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from edgekit.core import interrupts
from edgekit.core.choices import QUANT_LABEL
from edgekit.core.documents import MANIFEST as MANIFEST_DOCUMENT
from edgekit.core.errors import EdgekitError, UsageError
from edgekit.core.files import (
    move_output,
    sha256_file,
    temp_folder,
    write_output,
)
from edgekit.core.versions import TOOL_PACKAGES, package_versions
from edgekit.export.context import (  # noqa: F401  (ExportJob, SourceModel: imported from here)
    Context,
    ExportJob,
    SourceModel,
    prepare,
    several_accuracy,
)
from edgekit.export.converters import convert
from edgekit.export.manifest import (
    MANIFEST,
    MANIFEST_KIND,
    check_replaceable,
    merge_previous,
)
from edgekit.export.multi_io import rows
from edgekit.export.options import ExportOptions  # noqa: F401  (imported from here too)
from edgekit.export.samples import (
    PREPROCESS,
)
from edgekit.runtimes.base import open_runner, run_batched

EXT = {"tflite": ".tflite", "onnx": ".onnx"}


def artifact_name(stem: str, fmt: str, quant: str) -> str:
    return f"{stem}_{QUANT_LABEL[quant]}{EXT[fmt]}"


def run_artifact(path: Path, x: np.ndarray) -> tuple[np.ndarray, dict]:
    runner = open_runner(path)
    io = {"inputs": [s.to_dict() for s in runner.inputs],
          "outputs": [s.to_dict() for s in runner.outputs]}
    return run_batched(runner, x), io


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


STAGING = ".edgekit-staging-"   # an export's work folder inside its output folder


def clear_abandoned_staging(folders) -> list[Path]:
    """Remove the staging folders that exports killed mid-way (SIGKILL, a Ray worker ended
    by its cluster) left in ``folders``, skipping a folder whose lock an export holds now.
    The staging folders removed."""
    import fcntl

    removed = []
    for folder in folders:
        try:
            fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue          # an export is writing there: its staging is alive
            removed += _clear_staging(Path(folder))
        finally:
            os.close(fd)
    return removed


def _clear_staging(folder: Path) -> list[Path]:
    """(under the folder's lock: nobody uses them)"""
    stale = sorted(folder.glob(STAGING + "*"))
    with interrupts.deferred():
        for path in stale:
            shutil.rmtree(path, ignore_errors=True)
    return stale


def _export_locked(model, job, opts, out_dir: Path, notify, warn) -> dict:
    _clear_staging(out_dir)
    with temp_folder(prefix=STAGING, dir=out_dir) as staging:
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
            MANIFEST_DOCUMENT.write(out_dir / MANIFEST, manifest)   # its home: NaN refused
        manifest["out_dir"] = str(out_dir)
        return manifest


def _artifact(ctx: Context, fmt: str, quant: str, staging: Path, notify, step: str) -> dict:
    """Convert, write into staging, run in the runtime and compare with Keras."""
    opts, calib = ctx.opts, ctx.calib
    label = f"{fmt} {QUANT_LABEL[quant]}"
    t0 = time.perf_counter()
    notify(f"{step} Converting {label}" + (f" (calibrating on {rows(calib.x)} samples)"
                                    if quant == "int8" and calib else ""))
    if isinstance(ctx.model, SourceModel):
        from edgekit.export import source_layers

        content, details = source_layers.convert(ctx, fmt, quant,
                                                 lambda p: _figures(ctx, p)[0][0], staging,
                                                 notify)
    elif quant == "int8" and opts.keep_float is not None:
        from edgekit.export import keep_float

        content, details = keep_float.convert(ctx, fmt, lambda p: _figures(ctx, p)[0][0],
                                              staging, notify)
    else:
        content, details = convert(ctx.model, fmt, quant, calib.x if calib else None,
                                   opts.io, opts.method, ctx.onnx_float)
    file = artifact_name(ctx.job.name, fmt, quant)
    path = staging / file
    write_output(path, lambda f: f.write(content))   # the one writer, in staging
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
        t1 = time.perf_counter()
        art.update(_per_layer(ctx, fmt, path, f"{step} Comparing {label}", notify))
        art["per_layer_seconds"] = round(time.perf_counter() - t1, 2)
    art["total_seconds"] = round(time.perf_counter() - t0, 2)
    return art


def _per_layer(ctx: Context, fmt: str, path: Path, doing: str, notify) -> dict:
    """The per-layer rows of one quantized file: against the float graph's nodes (a float
    ONNX source) or against Keras' layers (pairings verified on the float file)."""
    if isinstance(ctx.model, SourceModel):   # the float graph's own nodes
        from edgekit.export.source_layers import layer_rows

        return layer_rows(ctx, fmt, path, doing, notify)
    from edgekit.export.per_layer import compare_layers
    from edgekit.export.per_layer import summary as layer_summary

    notify(f"{doing} with Keras layer by layer")
    verified = ctx.verified(fmt)
    found = compare_layers(ctx.model, path, ctx.xs, ctx.layers, ctx.layer_refs(),
                           verified=verified)
    return {"per_layer": found,
            "per_layer_unverified": [g.name for g in ctx.layers.groups
                                     if g.name not in verified],
            "per_layer_summary": layer_summary(found),
            "per_layer_samples": len(next(iter(ctx.layer_refs().values())))}


def _figures(ctx: Context, path: Path) -> tuple[tuple[dict, dict | None], dict]:
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
        fid, on_output = figures(ctx.logits, ctx.ref, path, ctx.val.x, out, ctx.val.y)
        fid.update(_floor(ctx, path))
        ctx.figures_cache[key] = ((fid, on_output), io)
    fid, on_output = ctx.figures_cache[key][0]
    return ({**fid}, on_output), ctx.figures_cache[key][1]


def _floor(ctx: Context, path: Path) -> dict:
    """The floor that rounding the input to the file's int8 input grid sets on the float
    model (computed once per grid); {} for a file whose input stays float."""
    from edgekit.export.model_figure import input_floor, input_grid

    grid = input_grid(path)
    if grid is None or ctx.model is None:
        return {}
    if grid not in ctx.floor_cache:
        ctx.floor_cache[grid] = input_floor(ctx.model, ctx.layers, ctx.logits, ctx.ref,
                                            ctx.val.x, grid)
    return ctx.floor_cache[grid]


def _below_threshold(ctx: Context, arts: list[dict], warn) -> None:
    """One warning (or, with --strict, one error) for every artefact below
    --min-agreement, the reason for untrained weights said once."""
    from edgekit.export.model_figure import message as below_message

    message = below_message(arts, ctx.opts.min_agreement, ctx.weights.startswith("untrained"))
    if ctx.opts.strict:
        raise EdgekitError(message + "; nothing was written (--strict)")
    warn(message)


def _export(model, job: ExportJob, opts: ExportOptions, staging: Path, notify, warn) -> dict:
    ctx = prepare(model, job, opts, notify, warn)
    ctx.staging = staging
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


def _manifest(ctx: Context, artifacts: list[dict]) -> dict:
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
                       "keras_accuracy": ref_acc, **several_accuracy(ctx)},
        "min_agreement": opts.min_agreement,
        "artifacts": artifacts,
    }
