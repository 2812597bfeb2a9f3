"""onnxruntime adapter: one session per model and execution provider, and the per-op
profile from onnxruntime's own profiler."""

from __future__ import annotations

import json
import os
import re
import statistics
from collections import defaultdict
from pathlib import Path

import numpy as np

from edgekit.core.errors import ModelFileError, UsageError, first_line
from edgekit.core.files import temp_folder
from edgekit.core.shapes import format_dims
from edgekit.runtimes.tensors import IOSpec, call_inputs

# onnxruntime names element types as ONNX does ('tensor(float)', 'tensor(bool)'); numpy
# knows all but these two by the same name
_ORT_NAMES = {"float": "float32", "double": "float64"}

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


def available_providers() -> list[str]:
    import onnxruntime as ort

    return ort.get_available_providers()


def check_provider(provider: str) -> str:
    """The full name of an execution provider in this onnxruntime build, or one line
    naming the available ones."""
    wanted = provider_name(provider)
    available = available_providers()
    if wanted not in available:
        raise UsageError(f"execution provider {provider!r} is not available in this "
                         f"onnxruntime build; available: "
                         f"{', '.join(short_provider(p) for p in available)}")
    return wanted


def element_type(ort_type: str) -> str:
    """The numpy (or ml_dtypes) name of an onnxruntime type string: 'tensor(bool)' ->
    'bool', 'tensor(float)' -> 'float32', 'tensor(bfloat16)' -> 'bfloat16'; 'string' for
    text, and the ONNX name itself for a type neither package has."""
    name = ort_type[len("tensor("):-1] if ort_type.startswith("tensor(") else ort_type
    name = _ORT_NAMES.get(name, re.sub(r"^float8e(\d)m(\d)", r"float8_e\1m\2", name))
    try:
        return np.dtype(name).name
    except TypeError:
        try:
            import ml_dtypes  # bfloat16, float8...: a dependency of onnx, maybe not here

            return np.dtype(getattr(ml_dtypes, name)).name
        except (ImportError, AttributeError, TypeError):
            return name


def _numeric(spec: IOSpec) -> np.dtype:
    try:
        return np.dtype(spec.dtype)
    except TypeError:
        raise UsageError(f"input {spec.name!r} holds {spec.dtype}: edgekit feeds numbers and "
                         "booleans only") from None


def _spec(value) -> IOSpec:
    return IOSpec(value.name, tuple(d if isinstance(d, int) else -1 for d in value.shape),
                  element_type(value.type),
                  symbols=tuple(d if isinstance(d, str) and d else None for d in value.shape))


class OnnxRunner:
    """onnxruntime session for one .onnx model on one execution provider. With
    ``profile_prefix`` the session records onnxruntime's per-kernel profile there."""

    runtime = "onnxruntime"

    def __init__(self, path: Path | str | None = None, content: bytes | None = None,
                 provider: str = "cpu", threads: int | None = None,
                 allow_fallback: bool = False, profile_prefix: str | None = None,
                 label: str | None = None):
        import onnxruntime as ort

        # label: the file that ``content`` was read from, for errors
        self.label = label or (str(path) if path is not None else "<memory>")
        wanted = check_provider(provider)
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        if threads:
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
        if profile_prefix:
            opts.enable_profiling = True
            opts.profile_file_prefix = profile_prefix
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
        return [_spec(i) for i in self.session.get_inputs()]

    @property
    def outputs(self) -> list[IOSpec]:
        return [_spec(o) for o in self.session.get_outputs()]

    def prepare(self, x) -> dict:
        """Feeds for a float batch (the first input) or a list of arrays (one per input)."""
        xs = [x] if isinstance(x, np.ndarray) else list(x)
        return {spec.name: a.astype(_numeric(spec))
                for a, spec in zip(xs, self.inputs, strict=False)}

    def invoke(self, prepared: dict) -> list:
        return self.session.run(None, prepared)

    def run(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.invoke(self.prepare(x))[0], dtype=np.float32)

    def run_all(self, x) -> list[np.ndarray]:
        """Every output as float32, in the file's order."""
        return [np.asarray(v, dtype=np.float32) for v in self.invoke(self.prepare(x))]


def _kernel_times(trace: list[dict], warmup: int) -> list[dict]:
    """One row per node from onnxruntime's Chrome trace ("<node>_kernel_time" events,
    microseconds): the median over the runs after ``warmup``."""
    per_node: dict[str, list[float]] = defaultdict(list)
    op_of: dict[str, str] = {}
    for ev in trace:
        if ev.get("cat") != "Node" or not ev.get("name", "").endswith("_kernel_time"):
            continue
        node = ev["name"][: -len("_kernel_time")]
        per_node[node].append(ev["dur"] / 1e3)
        op_of[node] = ev.get("args", {}).get("op_name", "?")
    nodes = []
    for node, times in per_node.items():
        kept = times[warmup:] if len(times) > warmup else times
        nodes.append({"node": node, "op": op_of[node], "ms": statistics.median(kept),
                      "calls": len(kept)})
    return sorted(nodes, key=lambda n: -n["ms"])


def profile(path: Path, runs: int = 50, warmup: int = 5, threads: int | None = None,
            provider: str = "cpu", specs=(), batch: int | None = None,
            feeds: dict | None = None) -> dict:
    """Per-op times of an .onnx model: each node's median time per run, shares, by op.
    ``specs``: --input-shape for dynamic sizes (a dynamic batch is 1 unless given);
    ``feeds``: input values (--inputs)."""
    with temp_folder(prefix="edgekit-prof-") as tmp:   # the trace (MiBs) goes, however it ends
        runner = OnnxRunner(path, provider=provider, threads=threads,
                            profile_prefix=os.path.join(tmp, "ort"))
        bound, arrays, _ = call_inputs(runner, specs, batch, feeds)
        prepared = runner.prepare(arrays)
        for _ in range(warmup + runs):
            runner.invoke(prepared)
        trace = json.loads(Path(runner.session.end_profiling()).read_text())  # not a user file
    nodes = _kernel_times(trace, warmup)
    if not nodes:
        raise UsageError(f"onnxruntime recorded no kernel times for {path}")
    total = sum(n["ms"] for n in nodes)
    for n in nodes:
        n["share"] = n["ms"] / total if total else 0.0
    by_op: dict[str, float] = defaultdict(float)
    for n in nodes:
        by_op[n["op"]] += n["ms"]
    return {"file": str(path), "runtime": "onnxruntime", "provider": runner.provider,
            "threads": threads, "runs": runs,
            "input_shapes": {k: format_dims(v) for k, v in bound.items()},
            "total_ms": total, "nodes": nodes,
            "by_op": [{"op": k, "ms": v, "share": v / total if total else 0.0}
                      for k, v in sorted(by_op.items(), key=lambda kv: -kv[1])]}
