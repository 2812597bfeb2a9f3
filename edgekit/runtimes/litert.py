"""LiteRT (``ai_edge_litert``) adapter: load a .tflite file, feed it, run it."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from edgekit.core.errors import ModelFileError, UsageError, first_line
from edgekit.core.quiet import quiet_stderr
from edgekit.runtimes.tensors import IOSpec, dequantize, quantize


def interpreter_class():
    """LiteRT's Interpreter and its op-resolver enum (``tflite_runtime`` on a board that
    has the older standalone package)."""
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError:
        from tflite_runtime.interpreter import Interpreter, OpResolverType
    return Interpreter, OpResolverType


def refusal(label: str, e: BaseException) -> ModelFileError:
    """One line for a file LiteRT will not load. LiteRT glues its messages together
    ("invalid stride width 0 in node #0Encountered unresolved custom op: X."); a custom op
    is named as the cause, since no other fix is possible here."""
    custom = re.search(r"unresolved custom op: ([\w.-]*\w)", str(e))
    if custom:
        return ModelFileError(
            f"LiteRT cannot run {label}: it uses the custom op {custom.group(1)}, which "
            "neither LiteRT's kernels nor, with these settings, XNNPACK implement (it "
            "comes with the runtime that made the file); `edgekit analyze` still reads it")
    return ModelFileError(f"LiteRT cannot load {label}: {first_line(e)}")


class TFLiteRunner:
    """LiteRT interpreter for one .tflite model."""

    runtime = "litert"

    def __init__(self, path: Path | str | None = None, content: bytes | None = None,
                 threads: int | None = None, xnnpack: bool = True):
        Interpreter, OpResolverType = interpreter_class()
        self.label = str(path) if path is not None else "<memory>"
        self.threads = threads
        self.provider = "xnnpack" if xnnpack else "builtin"
        resolver = (OpResolverType.AUTO if xnnpack
                    else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        try:
            with quiet_stderr():  # "INFO: Created TensorFlow Lite XNNPACK delegate"
                self.interpreter = Interpreter(
                    model_path=str(path) if path is not None else None, model_content=content,
                    num_threads=threads, experimental_op_resolver_type=resolver)
                self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            raise refusal(self.label, e) from e
        self._shapes = None

    @staticmethod
    def _spec(d: dict) -> IOSpec:
        scale, zp = d.get("quantization", (0.0, 0))
        shape = tuple(int(s) for s in d.get("shape_signature", d["shape"]))
        return IOSpec(d["name"], shape, np.dtype(d["dtype"]).name, float(scale), int(zp))

    @property
    def inputs(self) -> list[IOSpec]:
        return [self._spec(d) for d in self.interpreter.get_input_details()]

    @property
    def outputs(self) -> list[IOSpec]:
        return [self._spec(d) for d in self.interpreter.get_output_details()]

    def resize(self, shapes: list[tuple]) -> None:
        """Resize the inputs to ``shapes`` (dimensions the file leaves dynamic only)."""
        if shapes == self._shapes:
            return
        for d, want in zip(self.interpreter.get_input_details(), shapes, strict=False):
            shape = [int(v) for v in d["shape"]]
            if shape == list(want):
                continue
            sig = [int(v) for v in d.get("shape_signature", shape)]
            for pos, (fixed, given) in enumerate(zip(sig, want, strict=False)):
                if fixed != -1 and fixed != given:
                    what = "batch" if pos == 0 else f"size at position {pos}"
                    raise UsageError(f"{self.label} has a fixed {what} of {fixed}; "
                                     f"cannot run {given}")
            self.interpreter.resize_tensor_input(d["index"], list(want))
        self.interpreter.allocate_tensors()
        self._shapes = shapes

    def prepare(self, x) -> list:
        """Native input tensors for a float batch, or a list of them (one per input),
        quantized where the model wants int8."""
        xs = [x] if isinstance(x, np.ndarray) else list(x)
        self.resize([tuple(a.shape) for a in xs])
        return [quantize(a, spec) for a, spec in zip(xs, self.inputs, strict=False)]

    def invoke(self, prepared: list) -> None:
        for d, value in zip(self.interpreter.get_input_details(), prepared, strict=False):
            self.interpreter.set_tensor(d["index"], value)
        self.interpreter.invoke()

    def run(self, x: np.ndarray) -> np.ndarray:
        """Float32 in, float32 out (first output)."""
        self.invoke(self.prepare(x))
        d = self.interpreter.get_output_details()[0]
        return dequantize(self.interpreter.get_tensor(d["index"]), self._spec(d))

    def run_all(self, x) -> list[np.ndarray]:
        """Float32 in (an array, or one per input in the file's order), every output as
        float32, in the file's order."""
        self.invoke(self.prepare(x))
        return [dequantize(self.interpreter.get_tensor(d["index"]), self._spec(d))
                for d in self.interpreter.get_output_details()]

    def signature(self) -> dict | None:
        """{'inputs': {name: position among the inputs}, 'outputs': {name: position among
        the outputs}} of the file's one signature (the converter names a Keras model's
        inputs after its Keras inputs and its outputs output_0, output_1... in Keras'
        order), or None when the file has no single signature."""
        sigs = self.interpreter._get_full_signature_list()
        if len(sigs) != 1:
            return None
        sig = next(iter(sigs.values()))
        ins = [int(d["index"]) for d in self.interpreter.get_input_details()]
        outs = [int(d["index"]) for d in self.interpreter.get_output_details()]
        try:
            return {"inputs": {n: ins.index(int(t)) for n, t in sig["inputs"].items()},
                    "outputs": {n: outs.index(int(t)) for n, t in sig["outputs"].items()}}
        except ValueError:
            return None
