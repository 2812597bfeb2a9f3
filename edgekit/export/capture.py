"""Every intermediate tensor of an exported file, as the file computes it: LiteRT with
``experimental_preserve_all_tensors`` (reference kernels, no delegate), onnxruntime on a
copy of the model with the intermediate tensors added as outputs.

A :class:`Capture` is the file's graph in execution order (ops with their input and output
tensor keys) and, for the tensors asked for, their values over all samples, dequantized
to float, with the quantization of each (step, zero point, integer range). The per-layer
comparison (:mod:`edgekit.export.per_layer`) and the model-level figure on the logits
read it. onnxruntime may skip a fusion because a tensor became an output, so a captured
value can differ from the file's own run by a rounding step here and there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgekit.core.quiet import quiet_stderr

# ops that only move, cast or (de)quantize a tensor: walked through to find the op that
# computes it
PASS_OPS = {"QUANTIZE", "DEQUANTIZE", "QuantizeLinear", "DequantizeLinear", "Identity",
            "Cast", "RESHAPE", "Reshape", "Squeeze", "Unsqueeze", "Flatten", "Transpose",
            "TRANSPOSE", "SQUEEZE"}
FINAL_ACTIVATIONS = {"SOFTMAX": "softmax", "Softmax": "softmax", "LOGISTIC": "sigmoid",
                     "Sigmoid": "sigmoid"}
BATCH = 32


@dataclass
class Op:
    name: str
    type: str
    inputs: list            # tensor keys (activations and constants)
    outputs: list
    index: int = 0          # the op's index in the file (TFLite operator list / ONNX node)


@dataclass
class Quant:
    step: float
    zero_point: int
    qmin: int
    qmax: int


@dataclass
class Capture:
    fmt: str
    path: Path
    ops: list[Op]
    names: dict             # tensor key -> name in the file
    inputs: list            # the model's input tensor keys
    outputs: list
    consts: set             # keys of constant tensors (weights, biases, shapes)
    quant: dict = field(default_factory=dict)     # key -> Quant (quantized tensors only)
    values: dict = field(default_factory=dict)    # key -> float32 array (N, ...)

    def producer(self) -> dict:
        return {t: op for op in self.ops for t in op.outputs}

    def activations(self, op: Op) -> list:
        return [t for t in op.inputs if t not in self.consts and t != ""]

    def final_activation(self) -> tuple[str, object] | None:
        """(kind, input tensor key) of the softmax/sigmoid the model ends in, walking back
        from its first output over (de)quantize, cast and reshape ops; None otherwise."""
        made_by = self.producer()
        t, seen = self.outputs[0], 0
        while t in made_by and seen < 8:
            op = made_by[t]
            if op.type in FINAL_ACTIVATIONS:
                acts = self.activations(op)
                return (FINAL_ACTIVATIONS[op.type], acts[0]) if acts else None
            if op.type not in PASS_OPS:
                return None
            acts = self.activations(op)
            if len(acts) != 1:
                return None
            t, seen = acts[0], seen + 1
        return None


def _quant_from(details: dict) -> Quant | None:
    qp = details.get("quantization_parameters") or {}
    scales = np.asarray(qp.get("scales", []))
    dtype = np.dtype(details["dtype"])
    if scales.size != 1 or not np.issubdtype(dtype, np.integer) or scales[0] <= 0:
        return None
    info = np.iinfo(dtype)
    return Quant(float(scales[0]), int(np.asarray(qp["zero_points"]).reshape(-1)[0]),
                 int(info.min), int(info.max))


def tflite_graph(path: Path | None, content: bytes | None = None):
    """(interpreter, Capture without values) of a .tflite file (or its bytes)."""
    from edgekit.runtimes.isolate import interpreter

    it = interpreter(path, content=content, xnnpack=False, keep_all=True)
    tensors = {d["index"]: d for d in it.get_tensor_details()}
    ops = []
    for d in it._get_ops_details():
        ops.append(Op(tensors[int(d["outputs"][0])]["name"] if len(d["outputs"]) else "",
                      d["op_name"], [int(i) for i in d["inputs"]],
                      [int(i) for i in d["outputs"]], int(d["index"])))
    produced = {t for op in ops for t in op.outputs}
    inputs = [int(d["index"]) for d in it.get_input_details()]
    cap = Capture("tflite", Path(path or "<memory>"), ops,
                  {k: d["name"] for k, d in tensors.items()}, inputs,
                  [int(d["index"]) for d in it.get_output_details()],
                  {k for k in tensors if k not in produced and k not in inputs} | {-1})
    for k, d in tensors.items():
        q = _quant_from(d)
        if q is not None:
            cap.quant[k] = q
    return it, cap


def _in_file_order(x, file_names: list[str], names: list[str] | None) -> list[np.ndarray]:
    """The inputs ``x`` (one array, or one per Keras input in ``names``' order) in the
    file's input order: by name where the file's names are Keras' (the TFLite converter's
    signature) or ``input_<k>`` (tf2onnx, as edgekit asks); in the file's order
    otherwise."""
    if isinstance(x, np.ndarray):
        return [x]
    x = list(x)
    if names and len(file_names) == len(names) and set(file_names) == set(names):
        return [x[names.index(n)] for n in file_names]
    if len(file_names) == len(x) and set(file_names) == {f"input_{k}" for k in range(len(x))}:
        return [x[int(n.split("_")[1])] for n in file_names]   # not user text: input_<k>
    return x


def _tflite_input_names(it) -> list[str]:
    """The file's inputs (in get_input_details' order) by its one signature's names; the
    tensor names where it has no single signature."""
    details = it.get_input_details()
    sigs = it._get_full_signature_list()
    if len(sigs) == 1:
        by_index = {int(t): n for n, t in next(iter(sigs.values()))["inputs"].items()}
        if all(int(d["index"]) in by_index for d in details):
            return [by_index[int(d["index"])] for d in details]
    return [d["name"] for d in details]


def _tflite_batches(it, x, names: list[str] | None = None):
    """Feed ``x`` (one array, or one per Keras input named ``names``) in batches (one
    sample at a time where the file fixes the batch); yield after each invoke."""
    from edgekit.runtimes.litert import TFLiteRunner
    from edgekit.runtimes.tensors import quantize

    details = it.get_input_details()
    xs = _in_file_order(x, _tflite_input_names(it), names)
    specs = [TFLiteRunner._spec(d) for d in details]
    flexible = all(int(d.get("shape_signature", d["shape"])[0]) == -1 for d in details)
    step = BATCH if flexible else 1
    current = int(details[0]["shape"][0])
    for i in range(0, len(xs[0]), step):
        xb = [a[i:i + step] for a in xs]
        if len(xb[0]) != current:
            for d, a in zip(details, xb, strict=True):
                it.resize_tensor_input(d["index"], [len(a), *a.shape[1:]])
            it.allocate_tensors()
            current = len(xb[0])
        for d, spec, a in zip(details, specs, xb, strict=True):
            it.set_tensor(d["index"], quantize(a, spec))
        it.invoke()
        yield


def capture_tflite(path: Path, x, want=None, names: list[str] | None = None) -> Capture:
    """Run ``x`` (one array, or one per Keras input named ``names``) through the file
    keeping every tensor; the values of ``want`` (tensor keys; None: every op output)
    dequantized to float32."""
    it, cap = tflite_graph(path)
    keys = [t for op in cap.ops for t in op.outputs] if want is None else list(want)
    parts: dict = {k: [] for k in keys}
    with quiet_stderr():
        for _ in _tflite_batches(it, x, names):
            for k in keys:
                v = it.get_tensor(k)
                if v.ndim == 0:
                    continue        # a shape or axis, not an activation
                q = cap.quant.get(k)
                parts[k].append(((v.astype(np.float32) - q.zero_point) * q.step) if q
                                else v.astype(np.float32))
    cap.values = {k: np.concatenate(v) for k, v in parts.items() if v}
    return cap


def onnx_graph(path, model=None):
    """(onnx model, Capture without values) of an .onnx file (or a loaded ModelProto).
    ``path`` is one of the export's own files (an artefact or the pre-processed float
    model, in its staging folder): the user's ONNX is read once, by the ONNX loader
    (``readers.onnx_file.load_onnx``, from the export service), and reaches the export as
    a model or bytes, never as a path."""
    import onnx
    from onnx import numpy_helper

    if model is None:
        model = onnx.load(str(path))  # not a user file: the export's own, in staging
    g = model.graph
    init = {t.name: t for t in g.initializer}
    consts = set(init) | {""}
    ops = []
    for k, n in enumerate(g.node):
        ops.append(Op(n.name or (n.output[0] if n.output else ""), n.op_type,
                      list(n.input), list(n.output), k))
        if n.op_type == "Constant":
            consts |= set(n.output)
    inputs = [i.name for i in g.input if i.name not in init]
    cap = Capture("onnx", Path(path or "<memory>"), ops, {}, inputs,
                  [o.name for o in g.output], consts)
    cap.names = {t: t for op in ops for t in op.outputs} | {t: t for t in inputs}
    for op in ops:
        if op.type == "DequantizeLinear" and len(op.inputs) >= 2 and op.inputs[1] in init:
            scale = numpy_helper.to_array(init[op.inputs[1]])
            if scale.size != 1:
                continue        # per-channel: a weight
            zp = numpy_helper.to_array(init[op.inputs[2]]) if len(op.inputs) > 2 and \
                op.inputs[2] in init else np.zeros((), np.uint8)
            info = np.iinfo(zp.dtype)
            cap.quant[op.outputs[0]] = Quant(float(scale.reshape(-1)[0]),
                                             int(zp.reshape(-1)[0]), int(info.min),
                                             int(info.max))
    return model, cap


def onnx_session(model, extra: list[str]):
    """An onnxruntime session of a copy of ``model`` with ``extra`` tensors as outputs."""
    import onnx
    import onnxruntime as ort

    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    have = {o.name for o in copy.graph.output}
    for name in extra:
        if name not in have:
            copy.graph.output.append(onnx.ValueInfoProto(name=name))
            have.add(name)
    so = ort.SessionOptions()
    so.log_severity_level = 3
    with quiet_stderr():
        return ort.InferenceSession(copy.SerializeToString(), so,
                                    providers=["CPUExecutionProvider"])


def capture_onnx(path: Path, x, want=None, names: list[str] | None = None) -> Capture:
    """Run ``x`` (one array, or one per Keras input named ``names``) through a copy of the
    file with the tensors ``want`` (None: every node output) added as outputs; float values
    only (quantized integers are read after their DequantizeLinear)."""
    model, cap = onnx_graph(path)
    keys = [t for op in cap.ops for t in op.outputs if t and op.type != "Constant"] \
        if want is None else list(want)
    sess = onnx_session(model, keys)
    outputs = [o.name for o in sess.get_outputs()]
    parts: dict = {k: [] for k in keys}
    xs = _in_file_order(x, list(cap.inputs), names)
    fixed = any(v.name in cap.inputs and v.type.tensor_type.shape.dim
                and v.type.tensor_type.shape.dim[0].dim_value == 1 for v in model.graph.input)
    step = 1 if fixed else BATCH     # a file that fixes its batch at 1: a row a call
    for i in range(0, len(xs[0]), step):
        feed = {n: a[i:i + step].astype(np.float32)
                for n, a in zip(cap.inputs, xs, strict=False)}   # one array: the first
        got = dict(zip(outputs, sess.run(None, feed), strict=True))
        for k in keys:
            v = got.get(k)
            if v is not None and v.ndim and np.issubdtype(v.dtype, np.floating):
                parts[k].append(v.astype(np.float32))
    cap.values = {k: np.concatenate(v) for k, v in parts.items() if v}
    return cap


def capture(path: Path, x, want=None, names: list[str] | None = None) -> Capture:
    """The file's tensors on ``x``: one array, or one per Keras input (``names``, in the
    model's order), fed to the file's inputs by name."""
    path = Path(path)
    if path.suffix == ".tflite":
        return capture_tflite(path, x, want, names)
    return capture_onnx(path, x, want, names)


def graph(path: Path) -> Capture:
    """The graph of a file without running it."""
    path = Path(path)
    return tflite_graph(path)[1] if path.suffix == ".tflite" else onnx_graph(path)[1]
