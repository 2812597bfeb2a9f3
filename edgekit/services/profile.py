"""`edgekit profile` use case: per-op times of a model's ONNX form, mapped to the layers of
its analysis when the model came from the zoo or a Keras file."""

from __future__ import annotations

from edgekit.core.errors import EdgekitError
from edgekit.core.layermatch import map_times
from edgekit.core.records import SCHEMA_VERSION
from edgekit.services.analyze import analyze
from edgekit.services.export import cached_export
from edgekit.services.targets import Target, keras_model


def op_profile(target: Target, runs: int = 100, threads: int | None = None,
               provider: str = "cpu", notify=lambda m: None, input_shapes=(),
               warmup: int = 10, batch: int | None = None, quant: str = "none",
               device: str | None = None) -> dict:
    from edgekit.runtimes.onnxrt import profile

    if target.format == "tflite":
        raise EdgekitError(
            "per-op profiling of .tflite is not available: LiteRT's Python API has no op "
            "profiler; use TFLite's benchmark_model --enable_op_profiling=true, or profile "
            "the model's .onnx export")
    layers = None
    if target.format == "onnx":
        path = target.path
    else:
        model = keras_model(target)
        layers = analyze(target, model=model).to_dict()["layers"]
        path = cached_export(target, quant, notify, model=model,
                             runtimes=("onnxruntime",))["onnxruntime"]
    if device is not None:
        from edgekit.services.remote import device_block, profile_on, session

        with session(device, notify) as board:
            prof = profile_on(board, path, runs, warmup, threads, provider, input_shapes,
                              batch)
            where = {"environment": board.hello["fingerprint"],
                     "device": device_block(board)}
    else:
        from edgekit.runtimes.env import fingerprint

        notify(f"Profiling {path}")
        prof = profile(path, runs=runs, warmup=warmup, threads=threads, provider=provider,
                       specs=input_shapes, batch=batch)
        where = {"environment": fingerprint()}
    if layers is not None:
        prof["layers"] = map_times(prof, layers)
    return {"schema": SCHEMA_VERSION, **prof, **where}
