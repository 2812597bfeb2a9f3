"""Pareto fronts and constraints for choosing a model (pure Python).

A point is a dict; an objective is a key and a sense ("max" or "min"). A point dominates
another when it is at least as good on every objective and better on one. Points with an
objective missing (None) take no part in the front.
"""

from __future__ import annotations

from collections.abc import Sequence

Objective = tuple[str, str]          # (key, "max" | "min")


def _value(point: dict, objective: Objective) -> float:
    key, sense = objective
    v = float(point[key])
    return v if sense == "max" else -v


def dominates(a: dict, b: dict, objectives: Sequence[Objective]) -> bool:
    """Whether ``a`` is at least as good as ``b`` everywhere and better somewhere."""
    better = False
    for o in objectives:
        va, vb = _value(a, o), _value(b, o)
        if va < vb:
            return False
        better = better or va > vb
    return better


def front(points: Sequence[dict], objectives: Sequence[Objective]) -> list[int]:
    """Indices of the non-dominated points (in their order). Sorting by the first
    objective lets each point be compared only with those that could dominate it."""
    for _, sense in objectives:
        if sense not in ("max", "min"):
            raise ValueError(f"objective sense {sense!r}: must be 'max' or 'min'")
    usable = [i for i, p in enumerate(points) if all(p.get(k) is not None for k, _ in objectives)]
    order = sorted(usable, key=lambda i: [-_value(points[i], o) for o in objectives])
    kept: list[int] = []
    for i in order:     # a dominator sorts no later than what it dominates
        if not any(dominates(points[j], points[i], objectives) for j in kept):
            kept.append(i)
    return sorted(kept)


def violations(point: dict, limits: dict[str, float | None]) -> list[str]:
    """The keys whose value is above its limit (a missing value breaks a given limit:
    a config whose latency is unknown cannot be called fast enough)."""
    return [k for k, limit in limits.items()
            if limit is not None and (point.get(k) is None or point[k] > limit)]


def best(points: Sequence[dict], candidates: Sequence[int], accuracy: str,
         latency: str | None) -> int | None:
    """Among ``candidates``: the most accurate point, then the fastest; None if none."""
    if not candidates:
        return None

    def rank(i):
        p = points[i]
        lat = p.get(latency) if latency else None
        return (-float(p[accuracy]), float("inf") if lat is None else float(lat))

    return min(candidates, key=rank)
