"""A float ``.tflite`` file as the source of an export: int8 (and dynamic-range int8)
``.tflite`` files made by ai-edge-quantizer (Google's maintained quantizer for LiteRT
models: ``static_wi8_ai8``, full integer with int8 input and output; ``dynamic_wi8_afp32``),
each compared with the float file in LiteRT.

Inputs and outputs are the file's signature's (the converter's names for a Keras model's
inputs, ``output_0``... for its outputs); a file without one signature is taken in its
own order, by its tensors' names, and given one (``serving_default``: its main graph's
inputs and outputs by those names) in a temporary copy for ai-edge-quantizer, which
calibrates through a signature. An output is a classification when a SOFTMAX makes it
(through reshapes and (de)quantize ops) or when it is the only output, shaped (N, C) with
C >= 2.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit.core.errors import UsageError, first_line
from edgekit.export.multi_io import ModelIO, as_list, rows

QUANTIZED = ("int8", "uint8", "int16")


def load_float_tflite(path: Path) -> tuple[ModelIO, int]:
    """(the file's inputs and outputs; its weights: the elements of its constant tensors
    of more than one element). One line for a file that is not a float model or whose
    sizes are open."""
    from edgekit.export.capture import tflite_graph
    from edgekit.runtimes.litert import TFLiteRunner

    runner = TFLiteRunner(path)
    quantized = [d["name"] for d in runner.interpreter.get_tensor_details()
                 if np.dtype(d["dtype"]).name in QUANTIZED
                 and len((d.get("quantization_parameters") or {}).get("scales", [])) > 0]
    if quantized:
        raise UsageError(f"{path} is already quantized (e.g. tensor {quantized[0]!r}): export "
                         "takes a float .tflite")
    sig = runner.signature()
    ins, outs = runner.inputs, runner.outputs
    in_names = [s.name for s in ins]
    out_names = [s.name for s in outs]
    if sig is not None:
        in_names = [n for n, _ in sorted(sig["inputs"].items(), key=lambda kv: kv[1])]
        out_names = [n for n, _ in sorted(sig["outputs"].items(), key=lambda kv: kv[1])]
    shapes = []
    for name, spec in zip(in_names, ins, strict=True):
        if spec.dtype != "float32":
            raise UsageError(f"input {name!r} of {path} is {spec.dtype}: export quantizes "
                             "float models")
        if any(d < 1 for d in spec.shape[1:]):
            raise UsageError(f"input {name!r} of {path} has open dimensions "
                             f"{tuple(spec.shape)}: a .tflite source needs fixed sizes")
        shapes.append(tuple(int(d) for d in spec.shape[1:]))
    it, cap = tflite_graph(path)
    sizes = {d["index"]: int(np.prod(d["shape"])) for d in it.get_tensor_details()}
    params = sum(sizes.get(t, 0) for t in cap.consts if sizes.get(t, 0) > 1)
    made_by = cap.producer()
    classes = []
    for k, spec in enumerate(outs):
        t, seen, cls = cap.outputs[k], 0, False
        while t in made_by and seen < 8:
            op = made_by[t]
            if op.type == "SOFTMAX":
                cls = True
                break
            acts = cap.activations(op)
            if op.type not in ("RESHAPE", "SQUEEZE", "DEQUANTIZE", "QUANTIZE") or not acts:
                break
            t, seen = acts[0], seen + 1
        only = len(outs) == 1 and len(spec.shape) == 2 and spec.shape[1] >= 2
        classes.append(cls or only)
    return ModelIO(in_names, shapes, out_names, classes), params


def tflite_reference(path: Path, x, io: ModelIO) -> list[np.ndarray]:
    from edgekit.export.multi_io import run_file

    return run_file(path, x, io)[0]


def quantize_tflite(path: Path, quant: str, calib, io: ModelIO,
                    keep: list[list[str]] | None = None) -> tuple[bytes, dict]:
    """One artefact of a float .tflite: the file itself (none), ai-edge-quantizer's
    dynamic-range int8 weights (dynamic) or full integer int8 (int8, calibrated on
    ``calib``). ``keep``: ops left float (int8), each given by its output tensor names:
    the recipe's ``no_quantize`` for the op's scope (its output names joined by ';',
    as ai-edge-quantizer's ``get_op_scope`` writes it)."""
    from importlib.metadata import PackageNotFoundError, version

    from edgekit.core.temp_folders import temp_folder

    details: dict = {"scheme": quant}
    if quant == "none":
        from edgekit.core.reading import MODEL_LIMIT, read_input

        return read_input(path, "model", MODEL_LIMIT), details
    try:
        details["tool_version"] = version("ai-edge-quantizer")
    except PackageNotFoundError:
        pass
    if quant == "fp16":
        raise UsageError("--quant fp16 from a float .tflite: ai-edge-quantizer makes int8 "
                         "(dynamic, int8); convert the original model for fp16")
    try:
        import ai_edge_quantizer  # noqa: F401
    except ImportError as e:
        raise UsageError(f"a float .tflite is quantized by ai-edge-quantizer, which is not "
                         f"installed: {first_line(e)}") from e
    with temp_folder(prefix="edgekit-signed-") as folder:
        return _quantize(path, quant, calib, io, keep, details, folder)


def _quantize(path: Path, quant: str, calib, io: ModelIO, keep, details: dict,
              folder: Path) -> tuple[bytes, dict]:
    from ai_edge_quantizer import quantizer, recipe

    from edgekit.core.quiet import quiet_stderr, quiet_stdout
    from edgekit.export.converters import conversion_failed

    try:
        if quant == "int8":
            path = with_signature(path, folder)
        q = quantizer.Quantizer(str(path))
        if quant == "dynamic":
            q.load_quantization_recipe(recipe.dynamic_wi8_afp32())
            with quiet_stdout(), quiet_stderr():
                content = q.quantize().quantized_model
            details.update(weights="int8 (dynamic-range: activations at run time)",
                           tool="ai-edge-quantizer dynamic_wi8_afp32")
            return bytes(content), details
        q.load_quantization_recipe(recipe.static_wi8_ai8())
        _leave_float(q, keep or [])
        by_signature = _samples(path, calib, io)
        with quiet_stdout(), quiet_stderr():
            result = q.calibrate(by_signature)
            content = q.quantize(result).quantized_model
        details.update(weights="int8 per-channel", activations="int8 per-tensor", io="int8",
                       tool="ai-edge-quantizer static_wi8_ai8",
                       calibration_samples=rows(calib))
        return bytes(content), details
    except UsageError:
        raise
    except Exception as e:   # the quantizer's own errors
        raise conversion_failed("tflite", quant, e) from e


def with_signature(path: Path, folder: Path) -> Path:
    """``path`` where the file has a signature; else a copy of it in ``folder`` (a
    temp_folder) with one, ``serving_default``: its main graph's inputs and outputs by
    their tensor names (the names this module gives them without one)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as S

    from edgekit.core.files import write_output
    from edgekit.core.reading import MODEL_LIMIT, read_input
    from edgekit.core.tflite_ops import file_text

    data = read_input(path, "model", MODEL_LIMIT)
    model = S.ModelT.InitFromObj(S.Model.GetRootAs(data, 0))
    if model.signatureDefs:
        return path
    graph = model.subgraphs[0]

    def named(i: int):
        m = S.TensorMapT()
        m.name, m.tensorIndex = file_text(graph.tensors[i].name), int(i)
        return m

    sig = S.SignatureDefT()
    sig.signatureKey, sig.subgraphIndex = "serving_default", 0
    sig.inputs = [named(i) for i in graph.inputs]
    sig.outputs = [named(i) for i in graph.outputs]
    model.signatureDefs = [sig]
    b = flatbuffers.Builder(len(data) + 4096)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    signed = folder / "signed.tflite"
    write_output(signed, lambda f: f.write(b.Output()))
    return signed


def _leave_float(q, keep: list[list[str]]) -> None:
    """ai-edge-quantizer's ``no_quantize`` for each op of ``keep`` (by its output tensor
    names), on top of the loaded recipe: its scope is those names joined by ';' and ended
    with one, as ``get_op_scope`` writes it."""
    import re

    from ai_edge_quantizer import algorithm_manager, qtyping

    for names in keep:
        q.update_quantization_recipe("^" + re.escape(";".join(names) + ";") + "$",
                                     qtyping.TFLOperationName.ALL_SUPPORTED,
                                     algorithm_key=algorithm_manager.AlgorithmName.NO_QUANTIZE)


def _samples(path: Path, calib, io: ModelIO) -> dict:
    """{signature: one feed per calibration row}: ai-edge-quantizer calibrates through the
    file's signature (``with_signature`` gave one to a file without)."""
    from edgekit.runtimes.litert import TFLiteRunner

    signature = next(iter(TFLiteRunner(path).interpreter.get_signature_list()))
    xs = as_list(calib)
    return {signature: [{n: a[i:i + 1].astype(np.float32)
                         for n, a in zip(io.inputs, xs, strict=True)}
                        for i in range(rows(calib))]}
