"""LiteRT (``ai_edge_litert``) adapter: load a .tflite file, feed it, run it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit.core.errors import ModelFileError, UsageError, first_line
from edgekit.core.quiet import quiet_stderr
from edgekit.runtimes.base import IOSpec, dequantize, quantize


class TFLiteRunner:
    """LiteRT interpreter for one .tflite model."""

    runtime = "litert"

    def __init__(self, path: Path | str | None = None, content: bytes | None = None,
                 threads: int | None = None, xnnpack: bool = True):
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

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
            raise ModelFileError(f"LiteRT cannot load {self.label}: {first_line(e)}") from e
        self._batch = None

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

    def resize(self, batch: int) -> None:
        if batch == self._batch:
            return
        for d in self.interpreter.get_input_details():
            shape = list(d["shape"])
            if shape[0] != batch:
                sig = list(d.get("shape_signature", shape))
                if sig[0] != -1 and sig[0] != batch:
                    raise UsageError(f"{self.label} has a fixed batch of {sig[0]}; "
                                     f"cannot run a batch of {batch}")
                self.interpreter.resize_tensor_input(d["index"], [batch] + shape[1:])
        self.interpreter.allocate_tensors()
        self._batch = batch

    def prepare(self, x: np.ndarray) -> list:
        """Native input tensors for a float batch (quantized if the model wants int8)."""
        self.resize(x.shape[0])
        return [quantize(x, spec) for spec in self.inputs[:1]]

    def invoke(self, prepared: list) -> None:
        for d, value in zip(self.interpreter.get_input_details(), prepared, strict=False):
            self.interpreter.set_tensor(d["index"], value)
        self.interpreter.invoke()

    def run(self, x: np.ndarray) -> np.ndarray:
        """Float32 in, float32 out (first output)."""
        self.invoke(self.prepare(x))
        d = self.interpreter.get_output_details()[0]
        return dequantize(self.interpreter.get_tensor(d["index"]), self._spec(d))
