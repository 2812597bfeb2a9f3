"""What every artefact of one export is checked against: the model (Keras, or a source
that is not Keras), its calibration and validation data, and the float original's outputs on
the validation samples (Keras' logits too, when the model ends in softmax), prepared once
before any conversion."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgekit.core.errors import UsageError, first_line
from edgekit.export.multi_io import ModelIO, rows, take
from edgekit.export.options import ExportOptions
from edgekit.export.samples import (
    Samples,
    check_labels,
    from_array,
    load_samples,
)


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
    content: bytes | None = None          # a float ONNX source's bytes (--per-layer)
    # each format's float file as --per-layer/--keep-float compare with it, made once
    # (source_layers: the check before any work and every per-layer table share it)
    floats: dict = field(default_factory=dict, repr=False)


def keras_outputs(model, x: np.ndarray, batch: int = 32) -> np.ndarray:
    outs = [np.asarray(model(x[i:i + batch], training=False)) for i in range(0, len(x), batch)]
    return np.concatenate(outs).astype(np.float32)


def load_data(job: ExportJob, opts: ExportOptions, shape: tuple
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


@dataclass
class Context:
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
    staging: Path | None = None            # where the export writes its files
    floor_cache: dict = field(default_factory=dict)     # input grid -> its floor figures
    verified_cache: dict = field(default_factory=dict)  # format -> confirmed pairings

    def verified(self, fmt: str) -> dict:
        """The per-layer pairings (group -> file op and layout) that the float file of
        ``fmt`` confirms on the per-layer samples (made and checked once per format)."""
        if fmt not in self.verified_cache:
            from edgekit.core.files import write_output
            from edgekit.export.converters import preprocessed_onnx, to_tflite
            from edgekit.export.per_layer import verified_pairings

            # ONNX: the graph the quantizer starts from (its fusions and folded transposes)
            content = to_tflite(self.model, "none")[0] if fmt == "tflite" \
                else preprocessed_onnx(self.onnx_float())
            path = Path(self.staging) / f".per-layer-float.{fmt}"
            write_output(path, lambda f: f.write(content))
            try:
                refs = self.layer_refs()
                n = len(next(iter(refs.values())))
                self.verified_cache[fmt] = verified_pairings(path, self.layers, refs,
                                                             take(self.xs, slice(0, n)))
            finally:
                path.unlink(missing_ok=True)
        return self.verified_cache[fmt]

    @property
    def x1(self) -> np.ndarray:
        """The validation inputs of a model with one input, as one array (a model with
        several outputs keeps them in a list of one)."""
        return self.val.x if isinstance(self.val.x, np.ndarray) else self.val.x[0]

    @property
    def xs(self):
        """The validation inputs as the per-layer comparison takes them: one array for a
        model with one input, else one array per Keras input, in the model's order."""
        x = self.val.x
        return x if isinstance(x, np.ndarray) or len(x) > 1 else x[0]

    def layer_refs(self) -> dict:
        """Keras' output of every layer group on the per-layer samples (computed once)."""
        if not self.refs_cache:
            from edgekit.export.per_layer import keras_references, sample_count

            n = sample_count(self.model, self.layers, rows(self.xs))
            self.refs_cache.update(keras_references(self.model, self.layers,
                                                    take(self.xs, slice(0, n))))
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


def prepare(model, job: ExportJob, opts: ExportOptions, notify, warn) -> Context:
    if isinstance(model, SourceModel):
        return prepare_several(model, job, opts, notify, warn, model.io)
    io = ModelIO.of(model)
    if io.several:
        return prepare_several(model, job, opts, notify, warn, io)
    shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    notify("Loading calibration / validation data")
    calib, val = load_data(job, opts, shape)
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
    ctx = Context(model, job, opts, calib, val, ref, weights, int(model.count_params()))
    ctx.layers, ctx.logits, ctx.io = layers, logits, io
    ctx.keep_float = opts.keep_float
    if isinstance(opts.keep_float, list):
        from edgekit.export.keep_float import resolve

        ctx.keep_float = resolve(opts.keep_float, ctx.layers)  # before any conversion
    return ctx


def prepare_several(model, job: ExportJob, opts: ExportOptions, notify, warn,
                     io: ModelIO) -> Context:
    """A model with several inputs or outputs, or a source that is not Keras: its data by
    input name, the float original's outputs."""
    from edgekit.export.multi_io import keras_run, load_several

    if isinstance(model, SourceModel):
        from edgekit.export.source_layers import check_layer_options

        check_layer_options(model, io, opts)
        layers, keep = None, opts.keep_float
    else:
        layers, keep = keras_layers(model, opts)
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
    if keep == "auto" and opts.min_sqnr is None and not val.labels \
            and not isinstance(model, SourceModel):
        raise UsageError(f"--keep-float auto needs a target: labels of an output in "
                         f"--validation ({', '.join(f'y_{n}' for n in io.outputs)}) or "
                         f"--min-sqnr DB")
    ctx = Context(model, job, opts, calib, val, refs[0], "from file", params)
    ctx.io, ctx.refs, ctx.layers, ctx.keep_float = io, refs, layers, keep
    return ctx


def keras_layers(model, opts: ExportOptions) -> tuple:
    """(the layer groups, --keep-float resolved to them) of a Keras model with several
    inputs or outputs, where --per-layer or --keep-float needs them (before any data is
    read: a name the model does not have is one line)."""
    if not opts.per_layer and opts.keep_float is None:
        return None, None
    from edgekit.export.per_layer import keras_groups

    try:
        layers = keras_groups(model)
    except Exception as e:
        raise UsageError(f"--per-layer/--keep-float cannot read this model's layer graph: "
                         f"{first_line(e)}") from e
    if isinstance(opts.keep_float, list):
        from edgekit.export.keep_float import resolve

        return layers, resolve(opts.keep_float, layers)
    return layers, opts.keep_float


def several_accuracy(ctx: Context) -> dict:
    """Keras' accuracy on each labelled output of a model with several outputs."""
    from edgekit.export.multi_io import accuracy_per_output

    if ctx.refs is None or not ctx.val.labels:
        return {}
    return {"keras_accuracy_per_output": accuracy_per_output(ctx.io, ctx.refs,
                                                             ctx.val.labels)}
