"""--per-layer and --keep-float for a source that is not Keras (a float ONNX, a SavedModel,
a float .tflite): the layers are the float graph's own nodes and tensors."""

from __future__ import annotations

from pathlib import Path

from edgekit.core.errors import UsageError


def check_layer_options(model, io, opts) -> None:
    """One line, before any work, where --per-layer or --keep-float cannot be given for
    this source."""
    onnx_nodes = model.content is not None       # a float ONNX: its nodes
    if opts.keep_float is not None or (opts.per_layer and (not onnx_nodes
                                                          or len(io.inputs) > 1)):
        what = "--keep-float" if opts.keep_float is not None else "--per-layer"
        raise UsageError(f"{what} is not available for {model.path.name} yet (--per-layer "
                         f"takes a float ONNX source with one input or a Keras model, --keep-float a Keras "
                         f"model with one input and one output)")


def convert(ctx, fmt: str, quant: str, figure, staging: Path, notify) -> tuple[bytes, dict]:
    """One artefact of the source: its bytes and the quantization details. ``figure(path)``
    is a file's fidelity against the float original (for --keep-float auto)."""
    calib = ctx.calib
    return ctx.model.make(fmt, quant, calib.x if calib else None, ctx.opts)


def layer_rows(ctx, fmt: str, path: Path, doing: str, notify) -> dict:
    """The per-layer rows of one quantized file of the source, against the float graph."""
    from edgekit.export.multi_io import rows
    from edgekit.export.onnx_layers import node_rows, preprocessed_file, summary

    notify(f"{doing} with the float graph node by node")
    if "onnx" not in ctx.verified_cache:
        ctx.verified_cache["onnx"] = preprocessed_file(ctx.model.content, ctx.staging)
    found = node_rows(ctx.verified_cache["onnx"], path, ctx.x1)
    return {"per_layer": found, "per_layer_summary": summary(found),
            "per_layer_samples": min(rows(ctx.val.x), 64)}
