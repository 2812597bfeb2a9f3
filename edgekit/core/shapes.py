"""``--input-shape [NAME:]DxDxD...``: the full input shape (batch included, in the model's
own layout), given once per input, and its binding to a model's declared inputs.

A given shape fills dynamic dimensions only: a value that contradicts a fixed dimension is
an error naming the input, the position, the fixed value and the given one. What stays
unknown is reported, never guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from edgekit.core.errors import UsageError

MAX_DIM = 2**31 - 1      # runtimes index tensors with 32-bit sizes


@dataclass(frozen=True)
class ShapeSpec:
    name: str | None          # None: the model's only (or first) input
    dims: tuple[int, ...]

    def __str__(self) -> str:
        return (f"{self.name}:" if self.name else "") + "x".join(map(str, self.dims))


def format_dims(dims) -> str:
    """'1x3x224x224'; unknown dimensions as '?'."""
    return "x".join("?" if d is None or d < 0 else str(d) for d in dims)


def parse_shape(text: str) -> ShapeSpec:
    """'1x3x224x224', 'image:1x3x224x224' (',' works as a separator too)."""
    name, _, dims_text = text.rpartition(":") if ":" in text else ("", "", text)
    parts = [p for p in re.split(r"[x,X*]", dims_text.strip()) if p.strip()]
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        dims = ()
    if not dims or any(d < 1 or d > MAX_DIM for d in dims):
        raise UsageError(f"--input-shape {text}: expected [NAME:]DxDxD... with every "
                         f"dimension an integer from 1 to {MAX_DIM}, batch first, in the "
                         "model's own layout (e.g. 1x3x224x224 or image:1x224x224x3)")
    return ShapeSpec(name.strip() or None, dims)


def parse_shapes(texts) -> list[ShapeSpec]:
    specs = [parse_shape(t) for t in (texts or [])]
    names = [s.name for s in specs]
    if len(specs) > 1 and None in names:
        raise UsageError("--input-shape: with several shapes, name each input "
                         "(--input-shape NAME:DxD...)")
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise UsageError(f"--input-shape given twice for input {sorted(dupes)[0]!r}")
    return specs


def example(dims) -> str:
    """An example full shape in the model's own layout: known dimensions as they are, the
    batch 1, other unknown ones 224 (3 for a channel axis of an image-like rank-4 input)."""
    out = []
    for i, d in enumerate(dims):
        if d is not None and d > 0:
            out.append(d)
        elif i == 0:
            out.append(1)
        else:
            out.append(224)
    return "x".join(map(str, out))


def bind(declared: dict[str, tuple], specs: list[ShapeSpec]) -> dict[str, tuple]:
    """The declared input shapes (None or a negative value where dynamic) with the given
    specs filled in: {input name: dims, None where still unknown}."""
    bound = {name: tuple(None if d is None or d < 1 else int(d) for d in dims)
             for name, dims in declared.items()}
    names = list(declared)
    for spec in specs:
        name = spec.name if spec.name is not None else (names[0] if names else None)
        if spec.name is None and len(names) > 1:
            raise UsageError(f"--input-shape {spec}: the model has {len(names)} inputs "
                             f"({', '.join(names)}); name the one you mean: "
                             f"--input-shape {names[0]}:{example(declared[names[0]])}")
        if name not in bound:
            raise UsageError(f"--input-shape {spec}: the model has no input {name!r}; "
                             f"its inputs: {', '.join(names)}")
        have = bound[name]
        if len(spec.dims) != len(have):
            raise UsageError(f"--input-shape {spec}: input {name!r} has {len(have)} "
                             f"dimensions ({format_dims(have)}), {len(spec.dims)} given")
        for pos, (fixed, given) in enumerate(zip(have, spec.dims, strict=True)):
            if fixed is not None and fixed != given:
                raise UsageError(f"--input-shape {spec}: input {name!r} has a fixed size "
                                 f"{fixed} at position {pos}, {given} given")
        bound[name] = spec.dims
    return bound


def unbound(bound: dict[str, tuple], skip_batch: bool = False) -> dict[str, list[int]]:
    """{input: positions still unknown} (the batch position left out if ``skip_batch``)."""
    out = {}
    for name, dims in bound.items():
        pos = [i for i, d in enumerate(dims) if d is None and not (skip_batch and i == 0)]
        if pos:
            out[name] = pos
    return out


def require_bound(bound: dict[str, tuple], declared: dict[str, tuple], what: str) -> None:
    """One line naming the first input with an unknown size and an example of the option."""
    missing = unbound(bound)
    if missing:
        name = next(iter(missing))
        flag = (f"{name}:" if len(bound) > 1 else "") + example(declared[name])
        raise UsageError(f"{what}: input {name!r} has dynamic dimensions "
                         f"({format_dims(bound[name])}); give its full shape, batch first, "
                         f"in the model's own layout, e.g. --input-shape {flag}")
