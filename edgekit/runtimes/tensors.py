"""What every runtime adapter shares: input/output specs, (de)quantization of I/O, and
the arrays of one call.

Quantized I/O is handled here: float inputs are quantized with the model's own scale and
zero point, int8 outputs are dequantized, so every runner takes and returns float32 and
can be compared with the Keras model directly. numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgekit.core import shapes
from edgekit.core.errors import UsageError
from edgekit.core.feeds import declared as declared_values


@dataclass
class IOSpec:
    name: str
    shape: tuple            # with the batch dimension; -1 / None where dynamic
    dtype: str              # numpy dtype name
    scale: float = 0.0      # quantization (0 = not quantized)
    zero_point: int = 0
    symbols: tuple = ()     # the name of each dynamic dimension where the file gives one

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


def call_inputs(runner, specs=(), batch: int | None = None, feeds: dict | None = None,
                seed: int = 0) -> tuple[dict[str, tuple], list[np.ndarray], int]:
    """(the bound shapes, one array per input in order, the batch) for one call, bound
    by core.shapes.bind_call as every reader does (given shapes honoured exactly, the batch
    on the batch axis the model declares; the batch is 1 where it declares none): the
    given values (``--inputs``) as they are (inflated last, once what they declare fits),
    the other inputs seeded uniform -1..1. A value for no input, of another element type,
    or a size still unknown is one line."""
    feeds = feeds or {}
    by_name = {s.name: s for s in runner.inputs}
    headers = declared_values(feeds)   # what the file declares, nothing inflated yet
    for name, value in headers.items():
        if name not in by_name:
            raise UsageError(f"--inputs: {runner.label} has no input {name!r}; its inputs: "
                             f"{', '.join(by_name)}")
        if np.dtype(value.dtype) != np.dtype(by_name[name].dtype):
            raise UsageError(f"--inputs: input {name!r} of {runner.label} is "
                             f"{by_name[name].dtype}, the file gives {value.dtype}")
    given = shapes.given_values(headers)   # named as --inputs arrays in errors
    declared = {s.name: tuple(s.shape) for s in runner.inputs}
    symbols = {s.name: tuple(s.symbols) for s in runner.inputs if s.symbols}
    bound, known = shapes.bind_call(
        declared, [s for s in specs if s.name not in feeds] + given, batch, symbols)
    shapes.require_bound(bound, declared, str(runner.label))
    arrays = random_inputs(runner, bound, seed)
    return bound, [feeds.get(s.name, a) for s, a in zip(runner.inputs, arrays, strict=True)
                   ], known or 1


def random_inputs(runner, bound: dict[str, tuple], seed: int = 0) -> list[np.ndarray]:
    """Seeded uniform -1..1 float inputs of the bound shapes, one per input, in order (the
    runner quantizes them for int8 inputs)."""
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1, 1, bound[s.name]).astype(np.float32) for s in runner.inputs]
