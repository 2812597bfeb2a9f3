"""``--input-shape [NAME:]DxDxD...``: the full input shape (batch included, in the model's
own layout), given once per input, and its binding to a model's declared inputs.

A given shape fills dynamic dimensions only: a value that contradicts a fixed dimension is
an error naming the input, the position, the fixed value and the given one. What stays
unknown is reported, never guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from edgekit.core.errors import UsageError
from edgekit.core.numbers import NumberError, read_number

MAX_DIM = 2**31 - 1      # runtimes index tensors with 32-bit sizes


@dataclass(frozen=True)
class ShapeSpec:
    name: str | None          # None: the model's only (or first) input
    dims: tuple[int, ...]
    source: str = field(default="--input-shape", compare=False)   # or "--inputs": an array

    def __str__(self) -> str:
        return (f"{self.name}:" if self.name else "") + "x".join(map(str, self.dims))

    @property
    def given(self) -> str:
        """How an error names what the user gave: '--input-shape image:1x3x8x8', or
        "--inputs array 'image' (1x3x8x8)" for the shape of a given array."""
        if self.source == "--input-shape":
            return f"--input-shape {self}"
        return f"{self.source} array {self.name!r} ({format_dims(self.dims)})"


def given_values(values: dict | None, names=None) -> list[ShapeSpec]:
    """The shapes of given input values (``--inputs``), named as such in errors (only the
    inputs among ``names``, when given)."""
    return [ShapeSpec(n, tuple(v.shape), "--inputs") for n, v in (values or {}).items()
            if names is None or n in names]


def format_dims(dims) -> str:
    """'1x3x224x224'; unknown dimensions as '?'."""
    return "x".join("?" if d is None or d < 0 else str(d) for d in dims)


def parse_shape(text: str) -> ShapeSpec:
    """'1x3x224x224', 'image:1x3x224x224' (',' works as a separator too)."""
    name, _, dims_text = text.rpartition(":") if ":" in text else ("", "", text)
    parts = [p for p in re.split(r"[x,X*]", dims_text.strip()) if p.strip()]
    try:   # ASCII digits only (int() would read '1x٣x224x224' as 1x3x224x224)
        dims = tuple(read_number(p, "--input-shape", 1, MAX_DIM, integer=True)
                     for p in parts if re.fullmatch(r"\s*[0-9]+\s*", p))
    except NumberError:
        dims = ()
    if len(dims) != len(parts):
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
            raise UsageError(f"{spec.given}: the model has {len(names)} inputs "
                             f"({', '.join(names)}); name the one you mean: "
                             f"--input-shape {names[0]}:{example(declared[names[0]])}")
        if name not in bound:
            raise UsageError(f"{spec.given}: the model has no input {name!r}; "
                             f"its inputs: {', '.join(names)}")
        have = bound[name]
        if len(spec.dims) != len(have):
            raise UsageError(f"{spec.given}: input {name!r} has {len(have)} "
                             f"dimensions ({format_dims(have)}), {len(spec.dims)} given")
        for pos, (fixed, given) in enumerate(zip(have, spec.dims, strict=True)):
            if fixed is not None and fixed != given:
                raise UsageError(f"{spec.given}: input {name!r} has a fixed size "
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


def bind_call(declared: dict[str, tuple], specs: list[ShapeSpec] | tuple = (),
              batch: int | None = None, symbols: dict[str, tuple] | None = None
              ) -> tuple[dict[str, tuple], int | None]:
    """The sizes of one call, for every reader and runtime alike: ({input: dims, None where
    still unknown}, the batch, or None when the model declares no batch axis).

    The batch axis is axis 0 of the first input when it is dynamic; it takes ``batch``
    (else 1), and so does every dynamic input dimension with the same symbol (for a file
    without symbols: axis 0 of the other inputs when dynamic). No other axis is taken for
    a batch. Given shapes (``specs``, ``--inputs`` arrays) are honoured exactly, checked
    against the fixed sizes; a ``batch`` above 1 for a model without a batch axis, or one
    that contradicts a given shape, is refused with the reason."""
    names = list(declared)
    symbols = symbols or {}
    bound = {name: tuple(None if d is None or d < 1 else int(d) for d in dims)
             for name, dims in declared.items()}
    first = names[0] if names else None
    axis = first is not None and bool(bound[first]) and bound[first][0] is None
    if batch is not None and batch != 1 and first is not None and not axis and bound[first]:
        raise UsageError(f"--batch {batch}: input {first!r} has a fixed first dimension of "
                         f"{bound[first][0]}; the model declares no batch axis to change "
                         "(give --input-shape for other sizes)")
    given = {s.name if s.name is not None else first for s in specs}
    if axis:
        symbol = (symbols.get(first) or (None,))[0]
        for name in names:
            dims = list(bound[name])
            marks = symbols.get(name) or (None,) * len(dims)
            for pos, d in enumerate(dims):
                same = (name == first and pos == 0) or (
                    d is None and (marks[pos] == symbol if symbol is not None
                                   else pos == 0 and marks[pos] is None))
                if same and d is None:
                    dims[pos] = batch or 1
            bound[name] = tuple(dims)
    exact = bind(declared, list(specs))
    for name in given:
        if batch is not None and axis and name == first and exact[name][0] != batch:
            raise UsageError(f"--batch {batch} contradicts the given shape of {name!r} "
                             f"({format_dims(exact[name])})")
        bound[name] = exact[name]
    known = bound[first][0] if axis and bound[first] else None
    return bound, known
