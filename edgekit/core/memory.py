"""Peak activation memory by liveness over an execution order.

A tensor is alive from the step that produces it to the step of its last consumer (model
outputs stay alive to the end). At each step the live set is every tensor produced at or
before the step and still needed at or after it, so an op's inputs and output are counted
together. The peak is the largest sum of live bytes over the order.

A tensor may be an alias (a view: reshape, flatten, dropout at inference): it allocates
nothing and keeps the tensor it views alive until its own last consumer.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Tensor:
    """A node of the graph and the tensor it produces."""

    name: str
    nbytes: int
    inputs: list[str] = field(default_factory=list)
    alias_of: str | None = None


@dataclass
class MemoryPlan:
    order: list[str]
    live_bytes: list[int]          # live bytes while each step of ``order`` runs
    live_sets: list[list[str]]     # names of the live (storage-owning) tensors at each step
    peak_bytes: int
    peak_step: int

    @property
    def peak_step_name(self) -> str | None:
        return self.order[self.peak_step] if self.order else None


def _check_graph(tensors: dict[str, Tensor]) -> None:
    for t in tensors.values():
        for i in t.inputs:
            if i not in tensors:
                raise ValueError(f"{t.name!r} consumes unknown tensor {i!r}")
        if t.alias_of is not None and t.alias_of not in tensors:
            raise ValueError(f"{t.name!r} aliases unknown tensor {t.alias_of!r}")


def check_order(tensors: list[Tensor], order: list[str]) -> None:
    """Raise ValueError unless ``order`` runs every node once, each after its inputs."""
    names = {t.name for t in tensors}
    if len(order) != len(names) or set(order) != names:
        raise ValueError("the order must list every node exactly once")
    by_name = {t.name: t for t in tensors}
    seen: set[str] = set()
    for n in order:
        missing = [i for i in by_name[n].inputs if i not in seen]
        if missing:
            raise ValueError(f"{n!r} runs before its input {missing[0]!r}")
        seen.add(n)


def storage_of(tensors: dict[str, Tensor], name: str) -> str:
    """The tensor that owns the memory behind ``name`` (itself unless it is an alias)."""
    seen = set()
    while tensors[name].alias_of is not None:
        if name in seen:
            raise ValueError(f"alias cycle at {name!r}")
        seen.add(name)
        name = tensors[name].alias_of  # type: ignore[assignment]
    return name


def plan_memory(tensors: list[Tensor], outputs: list[str] | None = None,
                order: list[str] | None = None) -> MemoryPlan:
    """Live bytes at every step of ``order`` (default: the order of ``tensors``)."""
    by_name = {t.name: t for t in tensors}
    _check_graph(by_name)
    order = list(order) if order is not None else [t.name for t in tensors]
    check_order(tensors, order)
    if not order:
        return MemoryPlan([], [], [], 0, 0)
    step = {n: i for i, n in enumerate(order)}
    last = len(order) - 1
    # last use of each storage: over every consumer of the storage or of any alias of it
    end: dict[str, int] = {}
    start: dict[str, int] = {}
    for n in order:
        s = storage_of(by_name, n)
        start.setdefault(s, step[n])
        end[s] = max(end.get(s, step[n]), step[n])
        for i in by_name[n].inputs:
            si = storage_of(by_name, i)
            end[si] = max(end.get(si, step[i]), step[n])
    for o in outputs or []:
        end[storage_of(by_name, o)] = last
    live_bytes = [0] * len(order)
    live_sets: list[list[str]] = [[] for _ in order]
    for s, b in start.items():
        nbytes = by_name[s].nbytes
        for k in range(b, end[s] + 1):
            live_bytes[k] += nbytes
            live_sets[k].append(s)
    peak_step = max(range(len(order)), key=live_bytes.__getitem__)
    return MemoryPlan(order, live_bytes, live_sets, live_bytes[peak_step], peak_step)
