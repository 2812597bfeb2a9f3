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


# ---- choosing an execution order ------------------------------------------------------

@dataclass
class Schedule:
    order: list[str]
    peak_bytes: int
    method: str            # "exact" or "greedy"
    states: int            # search states visited


def _live_after(tensors, by_name, storage, consumers, done: frozenset, node: str,
                outputs: set[str]) -> int:
    """Bytes live while ``node`` runs, given the set ``done`` already run."""
    now = done | {node}
    live = 0
    seen: set[str] = set()
    for t in now:
        s = storage[t]
        if s in seen:
            continue
        # storage s is live if some tensor viewing it is the running node, an output, or
        # still has a consumer that has not run before this step (the running node counts)
        views = [v for v in now if storage[v] == s]
        if any(v == node or v in outputs or any(c not in done for c in consumers[v])
               for v in views):
            live += by_name[s].nbytes
            seen.add(s)
    return live


def best_order(tensors: list[Tensor], outputs: list[str] | None = None,
               max_states: int = 50_000) -> Schedule:
    """An execution order with the lowest peak: exact when the number of reachable
    executed-sets stays under ``max_states`` (a minimax dynamic program over them), else a
    greedy heuristic (run the ready node that leaves the least memory live, ties broken by
    the given order)."""
    by_name = {t.name: t for t in tensors}
    _check_graph(by_name)
    outs = set(outputs or [])
    storage = {t.name: storage_of(by_name, t.name) for t in tensors}
    consumers: dict[str, list[str]] = {t.name: [] for t in tensors}
    for t in tensors:
        for i in t.inputs:
            consumers[i].append(t.name)
    rank = {t.name: k for k, t in enumerate(tensors)}

    def ready(done: frozenset) -> list[str]:
        return [t.name for t in tensors
                if t.name not in done and all(i in done for i in t.inputs)]

    # exact: best[done] = (peak so far, order); expand level by level (|done| = k)
    frontier: dict[frozenset, tuple[int, list[str]]] = {frozenset(): (0, [])}
    states = 1
    exact = True
    for _ in range(len(tensors)):
        nxt: dict[frozenset, tuple[int, list[str]]] = {}
        for done, (peak, order) in frontier.items():
            for n in ready(done):
                live = _live_after(tensors, by_name, storage, consumers, done, n, outs)
                key = done | {n}
                cand = (max(peak, live), order + [n])
                if key not in nxt or cand[0] < nxt[key][0]:
                    nxt[key] = cand
        states += len(nxt)
        frontier = nxt
        if states > max_states:
            exact = False
            break
    if exact:
        (peak, order), = frontier.values()
        return Schedule(order, peak, "exact", states)
    # greedy
    done: frozenset = frozenset()
    order: list[str] = []
    peak = 0
    while len(order) < len(tensors):
        options = ready(done)
        scored = [(_live_after(tensors, by_name, storage, consumers, done, n, outs),
                   rank[n], n) for n in options]
        live, _, n = min(scored)
        peak = max(peak, live)
        order.append(n)
        done = done | {n}
    return Schedule(order, peak, "greedy", states)
