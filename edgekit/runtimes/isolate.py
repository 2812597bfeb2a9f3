"""Per-op profile of a .tflite model by isolation: every operator is cut out into a
single-op TFLite model and timed alone in LiteRT with the same settings as the whole model.

LiteRT's Python API has no op profiler (only the C++ ``benchmark_model`` has one). A
single-op model is built with LiteRT's own flatbuffer schema (``schema_py_generated``,
object API): the op, its constant inputs with their buffers (and the DEQUANTIZE/DENSIFY ops
that decode fp16, int8 or sparse weights, which LiteRT runs once at load), and its
activation inputs as model inputs with the same dtype, shape and quantization. The
isolated ops are fed the values that the whole model computes for them (one reference run
with every intermediate tensor kept), so indices and masks are real.

What isolation cannot see, fusion and scheduling across ops, shows in the ratio of the sum
of the isolated times to the whole model's time, which :func:`profile` reports.
Runs on a board: numpy, LiteRT and ``flatbuffers`` (a dependency of LiteRT) only.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekit.core.errors import ModelFileError, UsageError, first_line
from edgekit.core.ops import TFLITE_WEIGHT_DECODERS
from edgekit.core.quiet import quiet_stderr
from edgekit.core.shapes import format_dims
from edgekit.core.stats import median_ci, summarize
from edgekit.core.tflite_ops import file_text, named_subgraphs
from edgekit.runtimes.litert import refusal
from edgekit.runtimes.timing import measure

IDENTIFIER = b"TFL3"


def _model_bytes(path: Path) -> bytes:
    """A .tflite file's bytes by the one reader of user files (registered as an input,
    a regular file within the models' limit)."""
    from edgekit.core.reading import MODEL_LIMIT, read_input

    return read_input(path, "model", MODEL_LIMIT)

def _schema():
    try:
        from ai_edge_litert import schema_py_generated as S
    except ImportError:
        raise UsageError("per-op profiles of .tflite need ai-edge-litert (its flatbuffer "
                         "schema): pip install ai-edge-litert") from None
    return S


@dataclass
class Piece:
    """One operator of the model and the single-op model that runs it alone."""

    position: int               # among the model's ops, weight decoders left out
    op_index: int               # in the subgraph's operator list
    op: str
    inputs: list[int]           # the tensors fed as the piece's inputs, in order
    outputs: list[int]
    content: bytes | None = None
    reason: str | None = None   # why it could not be cut out


class Graph:
    """The main subgraph of a TFLite flatbuffer, read with the object API."""

    def __init__(self, data: bytes, label: str):
        S = _schema()
        if len(data) < 8 or data[4:8] != IDENTIFIER:
            raise ModelFileError(f"cannot read TFLite model {label}: not a TFLite flatbuffer")
        try:
            self.model = S.ModelT.InitFromPackedBuf(data, 0)
        except Exception as e:  # flatbuffers raises struct/index errors on a bad file
            raise ModelFileError(f"cannot read TFLite model {label}: corrupt flatbuffer "
                                 f"({type(e).__name__})") from e
        if not self.model.subgraphs:
            raise ModelFileError(f"cannot read TFLite model {label}: no subgraph")
        self.S, self.data = S, data
        self.sg = self.model.subgraphs[0]
        self.ops = list(self.sg.operators or [])
        names = {v: k for k, v in vars(S.BuiltinOperator).items() if not k.startswith("_")}
        self.names = [self._op_name(op, names) for op in self.ops]
        self.decoder_of: dict[int, int] = {}      # decoded weight tensor -> its decoder op
        for k, op in enumerate(self.ops):
            ins = self.ins(op)
            if (self.names[k] in TFLITE_WEIGHT_DECODERS and len(ins) == 1
                    and len(op.outputs) == 1 and self.is_const(ins[0])):
                self.decoder_of[int(op.outputs[0])] = k

    def _op_name(self, op, names: dict[int, str]) -> str:
        oc = self.model.operatorCodes[op.opcodeIndex]
        name = names.get(max(oc.builtinCode, oc.deprecatedBuiltinCode), "?")
        if name == "CUSTOM":
            name = "CUSTOM:" + file_text(oc.customCode)
        return name

    @staticmethod
    def ins(op) -> list[int]:
        return [int(i) for i in (op.inputs if op.inputs is not None else []) if i >= 0]

    def buffer_bytes(self, i: int):
        """The bytes of tensor ``i``'s buffer, inline or (files over 2 GB) at an offset."""
        b = self.model.buffers[self.sg.tensors[i].buffer]
        if b.data is not None and len(b.data):
            return b.data
        if (b.offset or 0) > 1 and b.size:
            return np.frombuffer(self.data, np.uint8, int(b.size), int(b.offset))
        return None

    def has_data(self, i: int) -> bool:
        return self.buffer_bytes(i) is not None

    def is_const(self, i: int) -> bool:
        return i in self.decoder_of or self.has_data(i)

    def activations(self, op) -> list[int]:
        return [i for i in self.ins(op) if not self.is_const(i)]

    def positions(self) -> list[int]:
        """Operator indices of the ops a profile lists (weight decoders are part of their
        consumers)."""
        decoders = set(self.decoder_of.values())
        return [k for k in range(len(self.ops)) if k not in decoders]

    # -- cutting ----------------------------------------------------------------------------

    def piece(self, position: int, k: int) -> Piece:
        op, name = self.ops[k], self.names[k]
        p = Piece(position, k, name, self.activations(op),
                  [int(o) for o in (op.outputs if op.outputs is not None else [])])
        if named_subgraphs(op):     # it runs other subgraphs: it cannot run alone
            p.reason = "control flow (runs other subgraphs)"
        elif any(self.sg.tensors[i].isVariable for i in self.ins(op)):
            p.reason = "stateful (variable tensors)"
        else:
            p.content = self._build(op, p)
        return p

    def _build(self, op, p: Piece) -> bytes:
        import flatbuffers

        S = self.S
        new = S.ModelT()
        new.version = 3
        new.description = b"edgekit: one op cut out of a model"
        new.buffers = [S.BufferT()]
        new.operatorCodes = []
        g = S.SubGraphT()
        g.tensors, g.operators = [], []
        tmap: dict[int, int] = {}
        codes: dict[int, int] = {}

        def tensor(i: int) -> int:
            if i < 0:
                return -1
            if i not in tmap:
                t = copy.copy(self.sg.tensors[i])
                data = self.buffer_bytes(i)
                if data is not None and i not in self.decoder_of:
                    buf = S.BufferT()
                    buf.data = np.asarray(data, np.uint8)
                    new.buffers.append(buf)
                    t.buffer = len(new.buffers) - 1
                else:
                    t.buffer = 0
                tmap[i] = len(g.tensors)
                g.tensors.append(t)
            return tmap[i]

        def add(o) -> None:
            for i in self.ins(o):            # decoders first: they make the weights
                if i in self.decoder_of and i not in tmap:
                    add(self.ops[self.decoder_of[i]])
            n = copy.copy(o)
            if o.opcodeIndex not in codes:
                codes[o.opcodeIndex] = len(new.operatorCodes)
                new.operatorCodes.append(self.model.operatorCodes[o.opcodeIndex])
            n.opcodeIndex = codes[o.opcodeIndex]
            n.inputs = [tensor(int(i)) for i in (o.inputs if o.inputs is not None else [])]
            n.outputs = [tensor(int(i)) for i in o.outputs]
            if o.intermediates is not None:
                n.intermediates = [tensor(int(i)) for i in o.intermediates]
            g.operators.append(n)

        add(op)
        g.inputs = [tmap[i] for i in p.inputs]
        g.outputs = [tmap[i] for i in p.outputs]
        new.subgraphs = [g]
        b = flatbuffers.Builder(1024)
        b.Finish(new.Pack(b), file_identifier=IDENTIFIER)
        return bytes(b.Output())

    def pieces(self) -> list[Piece]:
        return [self.piece(pos, k) for pos, k in enumerate(self.positions())]


# -- running ---------------------------------------------------------------------------------

def interpreter(path=None, content=None, threads=None, xnnpack=True, keep_all=False):
    from edgekit.runtimes.litert import interpreter_class

    Interpreter, Resolver = interpreter_class()
    kwargs = {"experimental_preserve_all_tensors": True} if keep_all else {}
    with quiet_stderr():
        it = Interpreter(model_path=str(path) if path is not None else None,
                         model_content=content, num_threads=threads,
                         experimental_op_resolver_type=Resolver.AUTO if xnnpack
                         else Resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES, **kwargs)
        it.allocate_tensors()
    return it


def _seeded_inputs(it, seed: int) -> list:
    """Seeded uniform inputs in [-1, 1] (quantized where the model wants integers), set."""
    from edgekit.runtimes.litert import TFLiteRunner
    from edgekit.runtimes.tensors import quantize

    rng = np.random.default_rng(seed)
    fed = []
    for d in it.get_input_details():
        x = rng.uniform(-1, 1, d["shape"]).astype(np.float32)
        fed.append(quantize(x, TFLiteRunner._spec(d)))
        it.set_tensor(d["index"], fed[-1])
    return fed


def reference_tensors(path: Path, seed: int = 0):
    """Run the whole model once on seeded inputs with LiteRT's reference kernels, keeping
    every tensor. Returns the run (read tensors with ``get_tensor``) and the inputs fed.
    A model with an op that only a delegate implements (MediaPipe's
    Convolution2DTransposeBias, which XNNPACK runs) is run op by op instead."""
    try:
        it = interpreter(path, xnnpack=False, keep_all=True)
    except (ValueError, RuntimeError) as refused:
        return _chained_run(Path(path), seed, refused)
    fed = _seeded_inputs(it, seed)
    it.invoke()
    return it, fed


class _Chained:
    """Every tensor of one run, computed piece by piece: what ``get_tensor`` of a run that
    keeps all tensors would give."""

    def __init__(self, whole):
        self.details = whole.get_input_details()
        self.values: dict[int, np.ndarray] = {}

    def get_tensor(self, i: int):
        return self.values[i]

    def get_input_details(self):
        return self.details


def _chained_run(path: Path, seed: int, refused: Exception):
    """The reference run of a model the reference kernels refuse: each op cut out alone
    (as the profile does), run in order on the outputs of the ones before it, with the
    reference kernels where they have the op and XNNPACK where only it has."""
    whole = interpreter(path, xnnpack=True)      # raises when no resolver has the op
    fed = _seeded_inputs(whole, seed)
    run = _Chained(whole)
    for d, x in zip(run.details, fed, strict=True):
        run.values[int(d["index"])] = x
    for piece in Graph(_model_bytes(path), str(path)).pieces():
        if piece.content is None:
            raise refused
        for xnnpack in (False, True):
            try:
                it = _load_piece(piece, run, 1, xnnpack)
                break
            except (ValueError, RuntimeError):
                it = None
        if it is None:
            raise refused
        for d, o in zip(it.get_output_details(), piece.outputs, strict=False):
            run.values[o] = it.get_tensor(d["index"])
    return run, fed


def delegated(it) -> bool | None:
    """Whether a delegate (XNNPACK) took the model's ops; None if LiteRT does not say."""
    try:
        names = [d["op_name"] for d in it._get_ops_details()]
    except (AttributeError, KeyError, RuntimeError):
        return None
    return "DELEGATE" in names


def time_invoke(invoke, method) -> dict:
    """p50 (``ms``), min, p90, cv, CI of the p50 and runs of ``invoke()`` timed by
    ``method``."""
    timing = measure(lambda _: invoke(), None, method.warmup, method.runs, method.budget_s,
                     min_duration_s=method.min_duration_s,
                     clock=getattr(method, "clock", "wall"))
    stats = summarize(timing.samples_ms)
    return {"ms": stats["p50"], "min_ms": stats["min"], "p90_ms": stats["p90"],
            "cv": stats["cv"],
            "ci95_ms": list(median_ci(timing.samples_ms)), "runs": stats["n"]}


def profile(path: Path | str, threads: int | None = None, xnnpack: bool = True,
            method=None, notify=lambda m: None, positions: list[int] | None = None,
            whole: bool = True) -> dict:
    """Time the whole model (unless ``whole`` is False), then each op alone
    (``positions``: only those), with the same threads and resolver. Each timing is of
    LiteRT's ``invoke`` alone: the inputs are set once, before the timed runs, for the
    whole model and for every op."""
    from edgekit.runtimes.measure import Method

    method = method or Method()
    path = Path(path)
    label = str(path)
    try:
        ref, fed = reference_tensors(path, method.seed)
    except (ValueError, RuntimeError) as e:
        raise refusal(label, e) from e
    graph = Graph(_model_bytes(path), label)
    result = {"file": label, "runtime": "litert",
              "provider": "xnnpack" if xnnpack else "builtin", "threads": threads,
              "runs": method.runs, "whole": None,
              "input_shapes": {d["name"]: format_dims(int(v) for v in d["shape"])
                               for d in ref.get_input_details()}}
    if whole:
        try:
            it = interpreter(path, threads=threads, xnnpack=xnnpack)
        except (ValueError, RuntimeError) as e:   # e.g. a custom op only XNNPACK runs
            raise refusal(label, e) from e
        for d, x in zip(it.get_input_details(), fed, strict=False):
            it.set_tensor(d["index"], x)
        notify("Timing the whole model")
        result["whole"] = {**time_invoke(it.invoke, method), "delegated": delegated(it)}
        del it
    todo = graph.pieces()
    if positions is not None:
        todo = [todo[p] for p in positions]
    ops = []
    t0 = time.monotonic()
    for n, piece in enumerate(todo):
        notify(f"[{n + 1}/{len(todo)}] {piece.op} (op {piece.op_index})")
        ops.append(_time_piece(piece, ref, threads, xnnpack, method))
    result["ops"] = ops
    result["isolation_s"] = time.monotonic() - t0
    return result


def _load_piece(piece: Piece, ref, threads, xnnpack):
    """An interpreter for the piece, its inputs set from the reference run, run once."""
    it = interpreter(content=piece.content, threads=threads, xnnpack=xnnpack)
    for d, i in zip(it.get_input_details(), piece.inputs, strict=False):
        it.set_tensor(d["index"], ref.get_tensor(i))
    it.invoke()
    return it


def _time_piece(piece: Piece, ref, threads, xnnpack, method) -> dict:
    row = {"position": piece.position, "op_index": piece.op_index, "op": piece.op,
           "isolated": piece.content is not None, "reason": piece.reason}
    if piece.content is None:
        return row
    try:
        it = _load_piece(piece, ref, threads, xnnpack)
    except (ValueError, RuntimeError) as e:
        row.update(isolated=False, reason=f"LiteRT cannot run it alone: {first_line(e)}")
        return row
    row.update(time_invoke(it.invoke, method), delegated=delegated(it))
    return row


def isolated_outputs(path: Path | str, xnnpack: bool = False) -> list[tuple]:
    """For tests and checks: (piece, outputs of the op run alone, outputs of the whole
    model's run) for every op that could be cut out, on the same inputs."""
    path = Path(path)
    ref, _ = reference_tensors(path)
    found = []
    for piece in Graph(_model_bytes(path), str(path)).pieces():
        if piece.content is None:
            continue
        it = _load_piece(piece, ref, 1, xnnpack)
        mine = [it.get_tensor(d["index"]) for d in it.get_output_details()]
        found.append((piece, mine, [ref.get_tensor(i) for i in piece.outputs]))
    return found

