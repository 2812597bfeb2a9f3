"""Runners: load a .tflite or .onnx model in its runtime and run float inputs through it.

Quantized I/O is handled here: float inputs are quantized with the model's own scale and
zero point, int8 outputs are dequantized, so every runner takes and returns float32 and
can be compared with the Keras model directly. Only numpy and the runtime are imported.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekit.core.errors import ModelFileError, UsageError, first_line

_NP_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16,
              "tensor(int8)": np.int8, "tensor(uint8)": np.uint8, "tensor(int32)": np.int32,
              "tensor(int64)": np.int64}


@dataclass
class IOSpec:
    name: str
    shape: tuple            # with the batch dimension; -1 / None where dynamic
    dtype: str              # numpy dtype name
    scale: float = 0.0      # quantization (0 = not quantized)
    zero_point: int = 0

    def to_dict(self) -> dict:
        d = {"name": self.name, "shape": [int(s) if s is not None else -1 for s in self.shape],
             "dtype": self.dtype}
        if self.scale:
            d.update(scale=self.scale, zero_point=self.zero_point)
        return d


def quantize(x: np.ndarray, spec: IOSpec) -> np.ndarray:
    if not spec.scale:
        return x.astype(spec.dtype)
    info = np.iinfo(spec.dtype)
    q = np.round(x / spec.scale + spec.zero_point)
    return np.clip(q, info.min, info.max).astype(spec.dtype)


def dequantize(y: np.ndarray, spec: IOSpec) -> np.ndarray:
    if not spec.scale:
        return y.astype(np.float32)
    return ((y.astype(np.float32) - spec.zero_point) * spec.scale).astype(np.float32)


class TFLiteRunner:
    """LiteRT (``ai_edge_litert``) interpreter for one .tflite model."""

    runtime = "litert"

    def __init__(self, path: Path | str | None = None, content: bytes | None = None,
                 threads: int | None = None, xnnpack: bool = True):
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        from edgekit._quiet import quiet_stderr

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


def available_onnx_providers() -> list[str]:
    import onnxruntime as ort

    return ort.get_available_providers()


PROVIDER_ALIASES = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider",
                    "tensorrt": "TensorrtExecutionProvider", "trt": "TensorrtExecutionProvider",
                    "openvino": "OpenVINOExecutionProvider", "dml": "DmlExecutionProvider",
                    "coreml": "CoreMLExecutionProvider", "rocm": "ROCMExecutionProvider",
                    "xnnpack": "XnnpackExecutionProvider", "qnn": "QNNExecutionProvider",
                    "azure": "AzureExecutionProvider"}


def provider_name(short: str) -> str:
    return PROVIDER_ALIASES.get(short.lower(), short)


def short_provider(name: str) -> str:
    inverse = {v: k for k, v in PROVIDER_ALIASES.items() if k != "trt"}
    return inverse.get(name, name)


class OnnxRunner:
    """onnxruntime session for one .onnx model on one execution provider."""

    runtime = "onnxruntime"

    def __init__(self, path: Path | str | None = None, content: bytes | None = None,
                 provider: str = "cpu", threads: int | None = None,
                 allow_fallback: bool = False, profile: bool = False):
        import onnxruntime as ort

        self.label = str(path) if path is not None else "<memory>"
        wanted = provider_name(provider)
        available = ort.get_available_providers()
        if wanted not in available:
            raise UsageError(f"execution provider {provider!r} is not available in this "
                             f"onnxruntime build; available: "
                             f"{', '.join(short_provider(p) for p in available)}")
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        if threads:
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
        if profile:
            opts.enable_profiling = True
        providers = [wanted] + (["CPUExecutionProvider"]
                                if wanted != "CPUExecutionProvider" else [])
        try:
            self.session = ort.InferenceSession(
                str(path) if path is not None else content, sess_options=opts,
                providers=providers)
        except Exception as e:  # onnxruntime raises its own exception classes
            raise ModelFileError(f"onnxruntime cannot load {self.label}: {first_line(e)}") from e
        active = self.session.get_providers()
        if active[0] != wanted and not allow_fallback:
            raise UsageError(f"execution provider {provider!r} failed to start for "
                             f"{self.label} (running: {', '.join(active)}); "
                             "use --allow-fallback to accept that")
        self.provider = short_provider(active[0])
        self.threads = threads

    @property
    def inputs(self) -> list[IOSpec]:
        return [IOSpec(i.name, tuple(d if isinstance(d, int) else -1 for d in i.shape),
                       np.dtype(_NP_DTYPES.get(i.type, np.float32)).name)
                for i in self.session.get_inputs()]

    @property
    def outputs(self) -> list[IOSpec]:
        return [IOSpec(o.name, tuple(d if isinstance(d, int) else -1 for d in o.shape),
                       np.dtype(_NP_DTYPES.get(o.type, np.float32)).name)
                for o in self.session.get_outputs()]

    def prepare(self, x: np.ndarray) -> dict:
        spec = self.inputs[0]
        return {spec.name: x.astype(spec.dtype)}

    def invoke(self, prepared: dict) -> list:
        return self.session.run(None, prepared)

    def run(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.invoke(self.prepare(x))[0], dtype=np.float32)


def open_runner(path: Path, **kw):
    """A runner for a model file, chosen by its suffix."""
    suffix = Path(path).suffix.lower()
    if suffix == ".tflite":
        kw.pop("provider", None)
        kw.pop("allow_fallback", None)
        kw.pop("profile", None)
        return TFLiteRunner(path, **kw)
    if suffix == ".onnx":
        kw.pop("xnnpack", None)
        return OnnxRunner(path, **kw)
    raise UsageError(f"cannot run {path}: expected a .tflite or .onnx file")
