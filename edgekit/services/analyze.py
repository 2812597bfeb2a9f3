"""Analysis use case: any target (zoo model, Keras model, .keras/.h5, .onnx, .tflite) to
one :class:`~edgekit.core.records.Report`, assembled in one place for every format."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgekit.core.errors import EdgekitError, UsageError
from edgekit.core.records import Report
from edgekit.core.shapes import ShapeSpec
from edgekit.services.targets import Target, keras_model, model_meta


def read_records(target: Target, input_shapes: list[ShapeSpec] | None = None, model=None,
                 batch: int | None = None, values: dict | None = None
                 ) -> tuple[list, list[str], dict]:
    """(records, output names, file info with 'input_shape') from the format's reader."""
    if target.format == "keras":
        from edgekit.readers.keras_reader import read_keras_model

        records, outputs = read_keras_model(model if model is not None
                                            else keras_model(target))
        return records, outputs, {"input_shape": records[0].output_shape if records else ()}
    if target.format == "onnx":
        from edgekit.readers.onnx_reader import read_onnx

        return read_onnx(target.path, input_shapes, batch, values)  # type: ignore[arg-type]
    from edgekit.readers.tflite_reader import read_tflite

    return read_tflite(target.path)  # type: ignore[arg-type]


def analyze(target: Target, batch: int | None = None, dtype: str | None = None,
            input_shapes: list[ShapeSpec] | None = None, model=None,
            values: dict | None = None) -> Report:
    """Analyze a target. ``dtype`` None: float32 for Keras models, each tensor's stored
    dtype for .onnx/.tflite files. ``model``: the target's Keras model, if already built.
    ``batch``: a factor on per-item figures (Keras, .tflite); for an .onnx file, the size
    of the batch axis the file declares (figures are for one call). ``values``: input
    arrays of an .onnx file (``--inputs``)."""
    from edgekit.core.counting import dtype_bytes

    if dtype is not None:
        dtype_bytes(dtype)  # validate before any heavy work
    if batch is not None and batch < 1:
        raise UsageError(f"--batch {batch}: must be an integer >= 1")
    if input_shapes and target.format != "onnx":
        raise UsageError("--input-shape: analyze takes it for .onnx files with dynamic "
                         f"dimensions; {target.describe()} has fixed sizes")
    if values and target.format != "onnx":
        raise UsageError(f"--inputs: analyze takes it for .onnx files; "
                         f"{target.describe()} is not one")
    records, outputs, info = read_records(target, input_shapes, model, batch, values)
    meta = model_meta(target, tuple(info.pop("input_shape")))
    meta.update(info)
    if target.format == "keras" and dtype is None:
        dtype = "float32"
    if target.format == "onnx":
        return Report(meta, records, batch=info["batch"] or 1, act_dtype=dtype,
                      outputs=outputs, batch_in_shapes=True)
    return Report(meta, records, batch=batch or 1, act_dtype=dtype, outputs=outputs)


def analyze_file(path: Path) -> Report:
    """The Report of a model file (no knobs)."""
    return analyze(Target("file", Path(path).stem, {}, Path(path)))


def file_macs_split(target: Target, input_shapes: list[ShapeSpec] | None = None,
                    values: dict | None = None) -> tuple[int | None, int | None]:
    """MACs per batch item of a model file from its analysis (at ``input_shapes`` and the
    given input ``values`` for an .onnx file: one call / its batch, where it declares a
    batch axis), and of those the MACs of layers with integer weights (integer
    arithmetic); (None, None) if it cannot be analyzed or leaves sizes unknown."""
    from edgekit.core.device_profiles import arithmetic_dtype

    onnx = target.format == "onnx"
    try:
        report = analyze(target, input_shapes=input_shapes if onnx else None,
                         values=values if onnx else None)
    except EdgekitError:
        return None, None
    totals = report.totals()
    if totals["unknown_size_layers"]:
        return None, None
    int8 = sum(r.macs for r in report.layers
               if arithmetic_dtype(report.dtype_of(r), r.weight_dtype) == "int8")
    return totals["macs"] // report.batch, int8 * report.multiplier // report.batch


@dataclass
class Analysis:
    """A Report and what was asked on top of it: the best memory schedule, the roofline
    estimate and fit on a device profile."""

    report: Report
    schedule: object = None
    estimate: dict | None = None


def analysis(target: Target, batch: int | None = None, dtype: str | None = None,
             input_shapes: list[ShapeSpec] | None = None, profile: str | None = None,
             best_schedule: bool = False, notify=lambda m: None, model=None,
             values: dict | None = None) -> Analysis:
    """``analyze`` plus the optional memory-schedule search and device estimate.
    ``model``: the target's Keras model, if already built."""
    from edgekit.core.device_profiles import estimate, get_profile

    device = get_profile(profile) if profile else None  # a bad name fails before the work
    report = analyze(target, batch=batch, dtype=dtype, input_shapes=input_shapes, model=model,
                     values=values)
    est = None
    if device is not None:
        est = estimate(report, device)
        table_estimate(est, target, device.name, report, notify)
    return Analysis(report, report.best_schedule() if best_schedule else None, est)


def table_estimate(est: dict, target: Target, name: str, report: Report,
                   notify=lambda m: None) -> None:
    """Where the device has a measured latency table (``profile --lut``), predict the
    model's TFLite form from it: ``est["time_s"]`` becomes that prediction (the roofline
    stays in ``roofline_s``), ``est["method"]`` says which one it is."""
    from edgekit.services.lut import find_table

    est["method"], est["roofline_s"] = "roofline", est["time_s"]
    table = find_table(name)
    if table is None:
        return
    if target.format == "onnx":
        est["table_unused"] = (f"the latency table of {name} holds TFLite kernels; "
                               "an .onnx file has none")
        return
    macs = [r for r in report.layers if r.macs]
    int8 = bool(macs) and report.dtype_of(macs[0]) == "int8"
    if target.format == "tflite":       # the report is the file's own ops
        path, records = target.path, report.layers
    else:
        from edgekit.readers.tflite_reader import read_tflite
        from edgekit.services.export import cached_export

        path = cached_export(target, "int8" if int8 else "none", notify,
                             runtimes=("litert",))["litert"]
        records = read_tflite(path)[0]
    pred = table.predict(records, "int8" if int8 else "float32")
    pred["file"] = str(path)
    est.update(method="table", time_s=pred["ms"] * report.multiplier / 1e3, table=pred)
