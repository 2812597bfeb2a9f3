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


class _Graph:
    """The tensors as bitmasks, for the order search: node i's inputs, consumers, storage
    and own bytes, and the incremental live-bytes step."""

    def __init__(self, tensors: list[Tensor], outputs: list[str] | None):
        by_name = {t.name: t for t in tensors}
        _check_graph(by_name)
        self.names = [t.name for t in tensors]
        index = {n: i for i, n in enumerate(self.names)}
        n = self.n = len(self.names)
        self.in_outs = {index[storage_of(by_name, o)] for o in (outputs or [])}
        storage = [index[storage_of(by_name, t.name)] for t in tensors]
        self.own = [t.nbytes if t.alias_of is None else 0 for t in tensors]
        self.inmask = [0] * n
        self.consumers: list[list[int]] = [[] for _ in range(n)]
        for i, t in enumerate(tensors):
            for name in t.inputs:
                self.inmask[i] |= 1 << index[name]
                self.consumers[index[name]].append(i)
        self.cmask = [0] * n          # consumers of every view of a storage
        for i in range(n):
            for c in self.consumers[i]:
                self.cmask[storage[i]] |= 1 << c
        self.in_storages = [sorted({storage[index[name]] for name in t.inputs})
                            for t in tensors]
        self.sources = tuple(i for i in range(n) if self.inmask[i] == 0)

    def step(self, done: int, live_before: int, v: int) -> tuple[int, int, int]:
        """(new set, bytes live while v runs, L of the new set)."""
        new = done | (1 << v)
        running = live_before + self.own[v]
        after = running
        for s in self.in_storages[v]:   # storages v was the last consumer of
            if s not in self.in_outs and not (self.cmask[s] & ~new):
                after -= self.own[s]
        if self.own[v] and v not in self.in_outs and not (self.cmask[v] & ~new):
            after -= self.own[v]        # produced and never needed again
        return new, running, after

    def advance(self, ready: tuple, v: int, new: int) -> tuple:
        nxt = [r for r in ready if r != v]
        nxt += [c for c in self.consumers[v] if not (self.inmask[c] & ~new) and c not in nxt]
        return tuple(sorted(nxt))

    def exact(self, max_states: int) -> Schedule | None:
        """Level by level over executed-sets (state -> (peak, L, ready, parent, node));
        None when more than ``max_states`` states would be needed."""
        level: dict[int, tuple] = {0: (0, 0, self.sources, None, None)}
        parents: list[dict[int, tuple]] = []
        states = 1
        for _ in range(self.n):
            nxt: dict[int, tuple] = {}
            for done, (peak, live, ready, _p, _v) in level.items():
                for v in ready:
                    new, running, after = self.step(done, live, v)
                    cand_peak = max(peak, running)
                    old = nxt.get(new)
                    if old is None or cand_peak < old[0]:
                        nxt[new] = (cand_peak, after, None, done, v)
            for new, (peak, after, _r, done, v) in nxt.items():
                nxt[new] = (peak, after, self.advance(level[done][2], v, new), done, v)
            parents.append(level)
            level = nxt
            states += len(nxt)
            if states > max_states:
                self.states = states
                return None
        (final, (peak, _l, _r, done, v)), = level.items()
        order = []
        state = final
        for k in range(self.n - 1, -1, -1):
            entry = level[state] if k == self.n - 1 else parents[k + 1][state]
            order.append(entry[4])
            state = entry[3]
        return Schedule([self.names[i] for i in reversed(order)], peak, "exact", states)

    def greedy(self, states: int) -> Schedule:
        """Run the ready node that leaves the least memory live, ties in the given order."""
        done, live, ready, peak, order = 0, 0, self.sources, 0, []
        while len(order) < self.n:
            best = min((self.step(done, live, v)[2], v) for v in ready)[1]
            new, running, live = self.step(done, live, best)
            peak = max(peak, running)
            ready = self.advance(ready, best, new)
            done = new
            order.append(best)
        return Schedule([self.names[i] for i in order], peak, "greedy", states)


def best_order(tensors: list[Tensor], outputs: list[str] | None = None,
               max_states: int = 200_000) -> Schedule:
    """An execution order with the lowest peak.

    Exact while the number of reachable executed-sets stays under ``max_states``: a minimax
    dynamic program over those sets (bitmasks). For a set S of executed nodes, let L(S) be
    the bytes of the storages produced in S that are still needed (a consumer outside S, or
    a model output); running a ready node v next holds L(S) + own(v) bytes, so
    best(S + v) = min over v of max(best(S), L(S) + own(v)); what remains after S depends
    only on S, which makes keeping the best peak per set exact. Beyond the budget: a greedy
    order (run the ready node that leaves the least memory live, ties in the given order).
    """
    graph = _Graph(tensors, outputs)
    if graph.n == 0:
        return Schedule([], 0, "exact", 1)
    return graph.exact(max_states) or graph.greedy(graph.states)
