"""`edgekit profile` use case: per-op times of a model, mapped to the layers of its analysis
when the model came from the zoo or a Keras file: onnxruntime's profiler for its ONNX
form, or, for its TFLite form, each op cut out and timed alone in LiteRT
(:mod:`edgekit.runtimes.isolate`)."""

from __future__ import annotations

from pathlib import Path

from edgekit.core.errors import EdgekitError, UsageError
from edgekit.core.layermatch import by_length, find, layer_in_tensor_name, map_times
from edgekit.core.records import SCHEMA_VERSION
from edgekit.services.analyze import analyze
from edgekit.services.export import cached_export
from edgekit.services.isolation import isolate_files
from edgekit.services.targets import Target, keras_model


def op_profile(target: Target, runs: int = 100, threads: int | None = None,
               provider: str = "cpu", notify=lambda m: None, input_shapes=(),
               warmup: int = 10, batch: int | None = None, quant: str = "none",
               device: str | None = None, feeds: dict | None = None) -> dict:
    from edgekit.runtimes.onnxrt import profile

    layers = None
    device = _device(device)   # a typo fails before the export
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
                              batch, feeds)
            where = {"environment": board.hello["fingerprint"],
                     "device": device_block(board)}
    else:
        from edgekit.runtimes.env import fingerprint

        notify(f"Profiling {path}")
        prof = profile(path, runs=runs, warmup=warmup, threads=threads, provider=provider,
                       specs=input_shapes, batch=batch, feeds=feeds)
        where = {"environment": fingerprint()}
    if layers is not None:
        prof["layers"] = map_times(prof, layers)
    return {"schema": SCHEMA_VERSION, **prof, **where}


def _device(device):
    """A --device resolved and reached before any work (a name or an ssh:// URL; an
    unreachable board is said before the export, not after it), or None."""
    if device is None or not isinstance(device, str):
        return device
    from edgekit.core.devices import get_device
    from edgekit.services.remote import reachable

    found = get_device(device)
    reachable(found)
    return found


def tflite_profile(target: Target, method, threads: int | None = None, xnnpack: bool = True,
                   quant: str = "none", device: str | None = None,
                   notify=lambda m: None) -> dict:
    """Per-op profile of a model's TFLite form by isolation, joined with the analysis of
    the same file (MACs, achieved GMAC/s) and, for zoo and Keras models, with the layer
    each op came from; by op type; the whole model beside the sum of its ops."""
    from edgekit.readers.tflite_reader import read_tflite

    names = None
    device = _device(device)   # a typo fails before the export
    if target.format == "onnx":
        raise UsageError(f"{target.path} is an ONNX file: LiteRT runs .tflite files "
                         "(profile it with --runtime onnxruntime)")
    if target.format == "tflite":
        path = target.path
    else:
        model = keras_model(target)
        names = by_length(r.name for r in analyze(target, model=model).layers if r.macs)
        path = cached_export(target, quant, notify, model=model, runtimes=("litert",))[
            "litert"]
    records = [r for r in read_tflite(Path(path))[0] if r.op != "INPUT"]
    notify(f"Profiling {path} op by op ({len(records)} ops)")
    done, where, error = isolate_files([(Path(path), None, True)], threads, xnnpack, method,
                                       device, notify)
    if error is not None:
        raise error
    prof = join_ops(done[0][1], records, names)
    return {"schema": SCHEMA_VERSION, **prof, **where}


def join_ops(prof: dict, records: list, names: list[str] | None = None) -> dict:
    """Add to an isolation profile each op's name, layer, MACs, share and GMAC/s (from the
    analysis ``records`` of the same file, in the same order), the table by op type and
    the sum of the isolated ops against the whole model."""
    rows = []
    for o in prof["ops"]:
        r = records[o["position"]] if o["position"] < len(records) else None
        if r is None or r.op != o["op"]:
            raise EdgekitError(f"{prof['file']}: op {o['position']} is {o['op']} for LiteRT "
                               f"but {r.op if r else 'missing'} for the analysis")
        ms = o.get("ms")
        rows.append({**o, "name": r.name,
                     "layer": find(r.name, names) if names else layer_in_tensor_name(r.name),
                     "macs": r.macs, "gmacs_per_s": r.macs / ms / 1e6 if ms and r.macs
                     else None})
    total = sum(r.get("ms") or 0.0 for r in rows)
    by_op: dict[str, dict] = {}
    for r in rows:
        b = by_op.setdefault(r["op"], {"op": r["op"], "count": 0, "ms": 0.0, "macs": 0})
        b["count"] += 1
        b["ms"] += r.get("ms") or 0.0
        b["macs"] += r["macs"]
    for r in [*rows, *by_op.values()]:
        r["share"] = (r.get("ms") or 0.0) / total if total else 0.0
    for b in by_op.values():
        b["gmacs_per_s"] = b["macs"] / b["ms"] / 1e6 if b["ms"] and b["macs"] else None
    whole = prof["whole"]["ms"] if prof.get("whole") else None
    return {**prof, "ops": rows, "sum_ms": total, "whole_ms": whole,
            "sum_over_whole": total / whole if whole else None,
            "not_isolated": [r for r in rows if not r["isolated"]],
            "by_op": sorted(by_op.values(), key=lambda b: -b["ms"])}
