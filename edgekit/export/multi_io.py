"""Models with several inputs or outputs: their data, their run in each runtime with the
file's inputs and outputs put in Keras' order, and fidelity per output.

Inputs are a list of arrays, one per Keras input in the model's order, with the same
number of rows (a model with one input keeps its plain array). The converters name what
they write: the TFLite converter keeps Keras' input names in the file's signature and names
the outputs ``output_0``, ``output_1``... in Keras' order (the file's own output list is in
another order); tf2onnx names the inputs ``input_0``... (as edgekit asks) and the outputs
after their Keras layers. A file whose names say nothing is taken in its own order.

An output is a *classification* when its layer ends in softmax (or is a Softmax layer) or
when labels are given for it: only there is top-1 agreement a figure; SQNR, cosine and the
largest error are given for every output. The output that degrades most is the one with
the lowest SQNR.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgekit.core import quant_error as qe
from edgekit.core.errors import UsageError
from edgekit.core.fidelity import compare, json_safe


@dataclass
class ModelIO:
    """The names and shapes of a Keras model's inputs and outputs."""

    inputs: list[str]
    shapes: list[tuple]                  # per input, without the batch axis
    outputs: list[str]
    classification: list[bool] = field(default_factory=list)

    @property
    def several(self) -> bool:
        return len(self.inputs) > 1 or len(self.outputs) > 1

    @classmethod
    def of(cls, model) -> ModelIO:
        names = [t._keras_history.operation.name for t in model.outputs]
        classes = []
        for t in model.outputs:
            layer = t._keras_history.operation
            act = getattr(getattr(layer, "activation", None), "__name__", "")
            classes.append(act == "softmax" or type(layer).__name__ == "Softmax")
        return cls([t.name for t in model.inputs],
                   [tuple(int(d) for d in t.shape[1:]) for t in model.inputs], names, classes)


def rows(x) -> int:
    return len(x if isinstance(x, np.ndarray) else x[0])


def take(x, part: slice | np.ndarray):
    """Rows of the inputs (an array, or one array per input)."""
    return x[part] if isinstance(x, np.ndarray) else [a[part] for a in x]


def as_list(x) -> list[np.ndarray]:
    return [x] if isinstance(x, np.ndarray) else list(x)


def keras_run(model, x, batch: int = 32) -> list[np.ndarray]:
    """Every output of the Keras model on ``x``, in Keras' order."""
    parts: list[list] = []
    for i in range(0, rows(x), batch):
        got = model(take(x, slice(i, i + batch)), training=False)
        got = list(got) if isinstance(got, (list, tuple)) else [got]
        parts = parts or [[] for _ in got]
        for k, v in enumerate(got):
            parts[k].append(np.asarray(v, dtype=np.float32))
    return [np.concatenate(p) for p in parts]


def file_order(runner, io: ModelIO) -> tuple[list[int], list[int]]:
    """(for each file input, the Keras input it is; for each Keras output, the file output
    that is it), from the names the converters write; the file's own order otherwise."""
    n_in, n_out = len(runner.inputs), len(runner.outputs)
    ins, outs = list(range(n_in)), list(range(n_out))
    if n_in != len(io.inputs) or n_out != len(io.outputs):
        raise UsageError(f"{runner.label} has {n_in} inputs and {n_out} outputs, the Keras "
                         f"model {len(io.inputs)} and {len(io.outputs)}")
    if runner.runtime == "litert":
        sig = runner.signature()
        if sig is not None and set(sig["inputs"]) == set(io.inputs):
            ins = [io.inputs.index(n) for n, _ in sorted(sig["inputs"].items(),
                                                         key=lambda kv: kv[1])]
        wanted = [f"output_{k}" for k in range(n_out)]
        if sig is not None and set(sig["outputs"]) == set(io.outputs):
            outs = [sig["outputs"][n] for n in io.outputs]
        elif sig is not None and set(sig["outputs"]) == set(wanted):
            outs = [sig["outputs"][w] for w in wanted]
    else:
        file_in = [s.name for s in runner.inputs]
        if set(file_in) == set(io.inputs):
            ins = [io.inputs.index(n) for n in file_in]
        elif set(file_in) == {f"input_{k}" for k in range(n_in)}:
            ins = [int(n.split("_")[1]) for n in file_in]   # not user text: input_<k>
        file_out = [s.name for s in runner.outputs]
        if set(file_out) == set(io.outputs):
            outs = [file_out.index(n) for n in io.outputs]
    return ins, outs


def run_file(path: Path, x, io: ModelIO, batch: int = 16) -> tuple[list[np.ndarray], dict]:
    """(every output of the file on ``x``, in Keras' order; the file's I/O specs)."""
    from edgekit.runtimes.base import open_runner

    runner = open_runner(path)
    specs = {"inputs": [s.to_dict() for s in runner.inputs],
             "outputs": [s.to_dict() for s in runner.outputs]}
    return run_runner(runner, x, io, batch), specs


def run_runner(runner, x, io: ModelIO, batch: int = 16) -> list[np.ndarray]:
    """Every output of an open runner on ``x``, in ``io``'s order."""
    from edgekit.runtimes.base import run_batched_all

    ins, outs = file_order(runner, io)
    xs = as_list(x)
    if any(len(s.shape) and s.shape[0] == 1 for s in runner.inputs):
        batch = 1            # a file that fixes its batch at 1 (MediaPipe's): a row a call
    got = run_batched_all(runner, [xs[k] for k in ins], batch)
    return [got[j] for j in outs]


def output_figures(io: ModelIO, refs: list[np.ndarray], outs: list[np.ndarray],
                   labels: dict[str, np.ndarray]) -> list[dict]:
    """One figure per output: SQNR, cosine, errors; top-1 agreement (and accuracy with
    labels) where the output is a classification."""
    figs = []
    for name, cls, ref, out in zip(io.outputs, io.classification, refs, outs, strict=True):
        y = labels.get(name)
        f = compare(ref, out, y)
        if not (cls or y is not None):
            f["top1_agreement"] = None
        f = {"output": name, "kind": "classification" if cls or y is not None
             else "regression", **f}
        figs.append(json_safe(f))
    return figs


def accuracy_per_output(io: ModelIO, refs: list[np.ndarray], labels: dict) -> dict:
    """{output: the reference's top-1 accuracy} of each labelled output."""
    acc = {}
    for name, ref in zip(io.outputs, refs, strict=True):
        if name in labels:
            flat = ref.reshape(len(ref), -1)
            acc[name] = float(np.mean(np.argmax(flat, axis=1) == labels[name]))
    return acc


def worst(figs: list[dict]) -> dict:
    """The output that degrades most: the lowest SQNR (the first of equals)."""
    return min(figs, key=lambda f: qe.as_float(f["sqnr_db"]))


def agreement_ok(figs: list[dict], min_agreement: float) -> bool:
    """Every classification output agrees with Keras on at least ``min_agreement``."""
    return all(f["top1_agreement"] >= min_agreement for f in figs
               if f["top1_agreement"] is not None)


# ---- data ---------------------------------------------------------------------------------

def label_key(output: str) -> str:
    return f"y_{output}"


def from_npz(path: Path, io: ModelIO, limit: int, seed: int = 0) -> tuple[list, dict, str]:
    """(inputs, labels per output, description) from an .npz with one array per input
    name (``x`` for a model with a single input) and optional labels ``y_<output>`` (``y``
    for a model with a single output, or with a single classification output). More rows
    than ``limit``: a seeded random sample of them."""
    from edgekit.core.feeds import load_arrays
    from edgekit.export.samples import check_data, pick_rows

    # registered as an input, bounded: every array's declared size checked before it is read
    data = load_arrays(path, "cannot read array file", npy=True)
    if "" in data:   # a lone .npy
        raise UsageError(f"{path}: a model with inputs {', '.join(io.inputs)} needs an .npz "
                         "with one array per input name")
    keys = list(data.keys())
    names = ["x"] if len(io.inputs) == 1 and "x" in keys else io.inputs
    missing = [n for n in names if n not in keys]
    if missing:
        raise UsageError(f"{path}: no array for input {', '.join(missing)} (an .npz needs "
                         f"one array per input: {', '.join(io.inputs)}; found "
                         f"{', '.join(keys)})")
    heads = [data.headers[n] for n in names]   # what the file declares, before inflating
    total = heads[0].shape[0] if heads[0].ndim else 0
    for n, a, shape in zip(io.inputs, heads, io.shapes, strict=True):
        if a.ndim == 0 or a.shape[0] != total:
            raise UsageError(f"{path}: input {n} has {a.shape[0] if a.ndim else 0} rows, "
                             f"{names[0]} has {total}")
        if tuple(a.shape[1:]) != shape:
            raise UsageError(f"{path}: input {n} has samples of shape {tuple(a.shape[1:])}, "
                             f"the model wants {shape}")
    xs = [np.asarray(data[n]) for n in names]
    picked, how = pick_rows(total, limit, seed)
    labels = {}
    for key in keys:
        if key.startswith("y_") and key[2:] not in io.outputs:
            raise UsageError(f"{path}: labels {key} name no output of the model (outputs: "
                             f"{', '.join(io.outputs)})")
    if "y" in keys:
        cls = [n for n, c in zip(io.outputs, io.classification, strict=True) if c]
        target = io.outputs[0] if len(io.outputs) == 1 else cls[0] if len(cls) == 1 else None
        if target is None:
            raise UsageError(f"{path}: labels 'y' with several classification outputs: name "
                             f"the output ({', '.join(label_key(n) for n in io.outputs)})")
        labels[target] = data["y"]
    labels.update({k[2:]: data[k] for k in keys if k.startswith("y_")})
    out = []
    for a in xs:
        checked, _ = check_data(path, a[picked])
        out.append(checked)
    checked_labels = {}
    for name, y in labels.items():
        y = np.asarray(y)
        if y.ndim == 0 or len(y) != total:
            raise UsageError(f"{path}: {total} samples but {len(y) if y.ndim else 0} labels "
                             f"for {name}")
        checked_labels[name] = check_data(path, out[0], y[picked])[1]
    return out, checked_labels, f"{how} from {path}"


def load_several(opts, io: ModelIO):
    """(calibration, validation) Samples of a model with several inputs or outputs: an
    .npz for each (one array per input name), or 'random' calibration; the validation is
    the calibration data when no --validation is given."""
    from edgekit.export.samples import Samples, check_count, preprocess

    what = (f"a model with inputs {', '.join(io.inputs)} and outputs "
            f"{', '.join(io.outputs)}")
    if opts.calibration is None and ("int8" in opts.quants or opts.validation is None):
        raise UsageError(f"{what} needs --calibration FILE.npz (one array per input name) "
                         "or --calibration random")
    calib = None
    if opts.calibration == "random":
        check_count(opts.samples)
        rng = np.random.default_rng(0)
        xs = [preprocess(rng.integers(0, 256, size=(opts.samples, *s), dtype=np.uint8),
                         opts.preprocess) for s in io.shapes]
        calib = Samples(xs, source=f"{opts.samples} random samples (timing only)",
                        synthetic=True)
    elif opts.calibration is not None:
        path = Path(opts.calibration)
        if path.is_dir() or path.suffix.lower() != ".npz":
            raise UsageError(f"--calibration {path}: {what} takes an .npz with one array per "
                             "input name")
        xs, labels, source = from_npz(path, io, opts.samples)
        calib = Samples(xs, source=source, labels=labels)
    if opts.validation is None:
        return calib, calib
    xs, labels, source = from_npz(Path(opts.validation), io, 10**9)
    return calib, Samples(xs, source=source, labels=labels)
