"""Pareto fronts and limits (core/pareto.py): the front equals the brute-force definition on
random point sets with ties and missing values; limits and the best pick."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgekit.core import pareto

OBJECTIVES = [("acc", "max"), ("lat", "min"), ("mem", "min")]


def brute_force(points, objectives):
    """The definition, O(n²): kept unless another point is >= everywhere and > somewhere."""
    def better_or_equal(a, b, key, sense):
        return a[key] >= b[key] if sense == "max" else a[key] <= b[key]

    def strictly(a, b, key, sense):
        return a[key] > b[key] if sense == "max" else a[key] < b[key]

    usable = [i for i, p in enumerate(points) if all(p[k] is not None for k, _ in objectives)]
    return [i for i in usable if not any(
        all(better_or_equal(points[j], points[i], k, s) for k, s in objectives)
        and any(strictly(points[j], points[i], k, s) for k, s in objectives)
        for j in usable if j != i)]


value = st.one_of(st.integers(0, 6), st.none())    # small range: many ties
point = st.fixed_dictionaries({"acc": value, "lat": value, "mem": value})


@settings(max_examples=400, deadline=None)
@given(st.lists(point, max_size=25), st.integers(1, 3))
def test_front_is_the_brute_force_front(points, n_objectives):
    objectives = OBJECTIVES[:n_objectives]
    assert pareto.front(points, objectives) == brute_force(points, objectives)


def test_a_worked_example():
    pts = [{"acc": 70, "lat": 10, "mem": 5}, {"acc": 60, "lat": 5, "mem": 5},
           {"acc": 60, "lat": 10, "mem": 5},        # dominated by both above
           {"acc": 50, "lat": 2, "mem": 9}, {"acc": 70, "lat": 10, "mem": 5}]  # a twin
    assert pareto.front(pts, OBJECTIVES) == [0, 1, 3, 4]
    with pytest.raises(ValueError):
        pareto.front(pts, [("acc", "best")])


def test_limits_and_the_best_pick():
    pts = [{"acc": 70, "lat": 12.0, "ram": 600}, {"acc": 65, "lat": 8.0, "ram": 300},
           {"acc": 65, "lat": 6.0, "ram": 500}, {"acc": 40, "lat": None, "ram": 10}]
    limits = {"lat": 10.0, "ram": 512, "flash": None}
    assert [pareto.violations(p, limits) for p in pts] == [["lat", "ram"], [], [], ["lat"]]
    ok = [i for i, p in enumerate(pts) if not pareto.violations(p, limits)]
    assert pareto.best(pts, ok, "acc", "lat") == 2     # equal accuracy: the faster one
    assert pareto.best(pts, [], "acc", "lat") is None
