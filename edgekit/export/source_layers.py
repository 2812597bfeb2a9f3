"""--per-layer and --keep-float for a source that is not Keras (a float ONNX, a SavedModel,
a float .tflite): the layers are the float graph's own nodes and tensors.

Each format's float file is the source's own artefact at ``--quant none`` (the ONNX one as
onnxruntime's quantizer sees it, after ``quant_pre_process``): a float ONNX or ``.tflite``
is itself, a SavedModel's is what the TFLite converter and tf2onnx make of it. A quantized
file is compared with it tensor by tensor (:mod:`edgekit.export.onnx_layers`,
:mod:`edgekit.export.tflite_layers`), and a layer named in a row is what ``--keep-float``
takes: an ONNX node (``quantize_static(nodes_to_exclude=...)``), a TFLite op
(ai-edge-quantizer's ``no_quantize`` for a float ``.tflite``, the converter's deny list
for a SavedModel).

``--keep-float auto`` is :func:`edgekit.export.keep_float.auto` (its target, its stop when
two steps in a row gain less than 0.5 dB / points, its size budget, its missed line) with
this module's file builder and choice: the next layer kept float is the worst isolated one
(the float op or node run alone on the quantized file's own inputs to it, as for Keras;
where no row has that figure, the one whose SQNR drops most below that of the layers
feeding it).
"""

from __future__ import annotations

import difflib
import math
from pathlib import Path

from edgekit.core import quant_error as qe
from edgekit.core.errors import UsageError
from edgekit.export.multi_io import as_list

MAX_SAMPLES = 64
WHAT = {"onnx": "nodes of its float ONNX graph", "tflite": "ops of its float .tflite"}


def check_layer_options(model, io, opts) -> None:
    """--keep-float NAMES checked against the float graph of every format made at int8
    (an ONNX node's name, a TFLite op's name, as the --per-layer rows give them), before
    any data is read: one line naming the first unknown name and the closest known ones."""
    keep = opts.keep_float
    if not isinstance(keep, list) or "int8" not in opts.quants:
        return
    from edgekit.core.files import temp_folder, write_output

    for fmt in opts.formats:
        content = _float_content(model, opts, fmt)
        if fmt == "onnx":
            known = _selectors_of(fmt, content=content)
        elif fmt == "tflite" and model.path.is_file():   # a float .tflite: the file itself
            known = _selectors_of(fmt, path=model.path)
        else:
            with temp_folder(prefix="edgekit-float-") as folder:
                path = Path(folder) / f"float.{fmt}"
                write_output(path, lambda f, c=content: f.write(c))
                known = _selectors_of(fmt, path=path)
        _check_names(keep, known, fmt, model.path.name)


def _float_content(model, opts, fmt: str) -> bytes:
    """The source's float file of ``fmt``: its artefact at ``--quant none``, the ONNX one
    as onnxruntime's quantizer sees it (after ``quant_pre_process``); made once."""
    if fmt not in model.floats:
        content, _ = model.make(fmt, "none", None, opts)
        if fmt == "onnx":
            from edgekit.export.converters import preprocessed_onnx

            content = preprocessed_onnx(content)
        model.floats[fmt] = content
    return model.floats[fmt]


def float_file(ctx, fmt: str) -> Path:
    """The source's float file of ``fmt`` in the staging folder (made once)."""
    from edgekit.core.files import write_output

    key = ("source float", fmt)
    if key not in ctx.verified_cache:
        content = _float_content(ctx.model, ctx.opts, fmt)
        path = Path(ctx.staging) / f".per-layer-float.{fmt}"
        write_output(path, lambda f: f.write(content))
        ctx.verified_cache[key] = path
    return ctx.verified_cache[key]


def sample_count(ctx, fmt: str) -> int:
    """How many validation samples the per-layer rows of ``fmt`` use: at most MAX_SAMPLES,
    fewer where the float file's tensors of that many would pass the per-layer memory
    budget (the float file's and the quantized file's tensors are held together, the
    latter with the inputs each op reads: three copies counted), one at least (measured
    once per format, on one sample: a detector at 800x608 has some 400 MB of tensors a
    sample, and 8 samples of it took 19 GB)."""
    from edgekit.export.capture import capture
    from edgekit.export.per_layer import MEMORY_BUDGET

    key = ("source samples", fmt)
    if key not in ctx.verified_cache:
        one = [a[:1] for a in as_list(ctx.val.x)]
        values = capture(float_file(ctx, fmt), one, names=ctx.io.inputs).values
        per_sample = 3 * sum(v.nbytes for v in values.values()) or 1
        ctx.verified_cache[key] = min(len(as_list(ctx.val.x)[0]), MAX_SAMPLES,
                                      max(1, MEMORY_BUDGET // per_sample))
    return ctx.verified_cache[key]


def _rows(ctx, fmt: str, path: Path) -> tuple[list[dict], dict]:
    """(rows, layer -> the layers feeding it) of one quantized file of ``fmt``."""
    n = sample_count(ctx, fmt)
    x = [a[:n] for a in as_list(ctx.val.x)]   # every input, by name
    if fmt == "tflite":
        from edgekit.export.tflite_layers import tensor_rows

        return tensor_rows(float_file(ctx, fmt), path, x, ctx.io.inputs)
    from edgekit.export.onnx_layers import node_rows

    return node_rows(float_file(ctx, fmt), path, x, ctx.io.inputs)


def layer_rows(ctx, fmt: str, path: Path, doing: str, notify) -> dict:
    """The per-layer rows of one quantized file of the source, against the float graph."""
    from edgekit.export.onnx_layers import summary

    notify(f"{doing} with the float graph {'node' if fmt == 'onnx' else 'op'} by "
           f"{'node' if fmt == 'onnx' else 'op'}")
    found, _ = _rows(ctx, fmt, path)
    what = "a float ONNX source: nodes of its graph" if ctx.job.source == "onnx" \
        else f"a {'float .tflite' if ctx.job.source == 'tflite' else ctx.job.source} " \
        f"source: {WHAT[fmt]}"
    text = summary(found, what)
    worst = qe.standing_out(found)
    if text and worst is not None:
        text += (f"; the op that adds most error is {worst['layer']} ({worst['op']}: "
                 f"{qe.as_float(worst['isolated_sqnr_db']):.1f} dB isolated)")
    return {"per_layer": found, "per_layer_summary": text,
            "per_layer_samples": sample_count(ctx, fmt)}


# ---- --keep-float ----------------------------------------------------------------------------

def _selectors(ctx, fmt: str) -> dict:
    """layer name (as the rows give it) -> what the format's quantizer is told to leave
    float: an ONNX node's name, a TFLite op's output tensor names."""
    key = ("source layers", fmt)
    if key not in ctx.verified_cache:
        ctx.verified_cache[key] = _selectors_of(fmt, path=float_file(ctx, fmt))
    return ctx.verified_cache[key]


def _selectors_of(fmt: str, path: Path | None = None, content: bytes | None = None) -> dict:
    """:func:`_selectors` of a float file of ``fmt`` (an ONNX one by path or content)."""
    if fmt == "tflite":
        from edgekit.export.tflite_layers import op_scopes

        return op_scopes(path)
    import onnx

    # the export's own file (in staging), or its bytes
    model = onnx.load_from_string(content) if content is not None else onnx.load(str(path))
    return {n.name or n.output[0]: n.name for n in model.graph.node if n.output}


def _check_names(names: list[str], known: dict, fmt: str, label: str) -> None:
    """One line for the first of ``names`` that is not a layer of the float ``fmt`` graph
    of ``label`` (with the closest layer names), or that the quantizer cannot select."""
    for n in names:
        if n not in known:
            close = difflib.get_close_matches(n, list(known), n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else \
                f" ({len(known)} layers: see --per-layer)"
            raise UsageError(f"--keep-float {n}: the float {fmt} graph of {label} has no "
                             f"such layer{hint}")
        if not known[n]:
            raise UsageError(f"--keep-float {n}: the node has no name in the float ONNX "
                             "graph; onnxruntime's quantizer excludes nodes by name")


def _resolve(ctx, fmt: str, names: list[str]) -> list:
    known = _selectors(ctx, fmt)
    _check_names(names, known, fmt, ctx.model.path.name)
    return [known[n] for n in names]


def _builder(ctx, fmt: str):
    """keep (layer names) -> (the int8 file's bytes with those layers float, details)."""
    def build(keep: list[str]) -> tuple[bytes, dict]:
        chosen = _resolve(ctx, fmt, keep)
        content, details = ctx.model.make(fmt, "int8", ctx.calib.x, ctx.opts,
                                          keep=chosen or None)
        details["kept_float"] = list(keep)
        return content, details
    return build


def next_layers(rows: list[dict], feeds: dict, kept: list[str]) -> list[str]:
    """The layers to keep float next: the worst quantized layer, by its isolated SQNR
    where the rows have one (as for Keras), else by how far its SQNR drops
    below that of the layers feeding it (a model input, or an exact tensor, counts as the
    best SQNR seen); when that layer is already float, the layers next to it whose
    quantization still shows in its figure, so that the tensor between them is float
    too."""
    sq = {r["layer"]: qe.as_float(r["sqnr_db"]) for r in rows}
    iso = {r["layer"]: qe.as_float(r["isolated_sqnr_db"]) for r in rows
           if qe.as_float(r["isolated_sqnr_db"]) is not None}
    finite = [v for v in sq.values() if v is not None and math.isfinite(v)]
    top = max(finite, default=0.0)

    def badness(layer: str) -> float:
        if iso:
            return -iso.get(layer, math.inf)
        ins = [sq[n] for n in feeds.get(layer, []) if sq.get(n) is not None]
        return min([min(v, top) for v in ins], default=top) - sq[layer]

    ranked = sorted(((badness(r["layer"]), r["layer"]) for r in rows
                     if (r["step"] is not None or r["layer"] in kept)
                     and sq[r["layer"]] is not None and math.isfinite(sq[r["layer"]])),
                    reverse=True)
    for _, layer in ranked:
        if layer not in kept:       # with the nodes fused into it (they have no row)
            return [layer] + [n for n in feeds.get(layer, []) if n not in sq
                              and n not in kept]
        # already float: isolated, the error is its output quantized for the layers it
        # feeds; accumulated, it is its input quantized by the layers feeding it
        after = [n for n, ins in feeds.items() if layer in ins] if iso else \
            feeds.get(layer, [])
        more = [n for n in after if n not in kept]
        if more:
            return more
    return []


def convert(ctx, fmt: str, quant: str, figure, staging: Path, notify) -> tuple[bytes, dict]:
    """One artefact of the source: its bytes and the quantization details. ``figure(path)``
    is a file's fidelity against the float original (for --keep-float auto)."""
    calib, keep = ctx.calib, ctx.opts.keep_float
    if quant != "int8" or keep is None:
        return ctx.model.make(fmt, quant, calib.x if calib else None, ctx.opts)
    from edgekit.export.keep_float import AUTO, auto

    build = _builder(ctx, fmt)
    if keep == AUTO:
        def choose(probe: Path, kept: list[str]) -> list[str]:
            known = _selectors(ctx, fmt)      # an ONNX node without a name cannot be kept
            rows, feeds = _rows(ctx, fmt, probe)
            return [n for n in next_layers(rows, feeds, kept) if known.get(n)]

        return auto(ctx, fmt, figure, staging, notify, build=build, choose=choose,
                    why="worst isolated SQNR")
    content, details = build(list(keep))
    details["int8_bytes_without_keep_float"] = len(build([])[0])
    return content, details
