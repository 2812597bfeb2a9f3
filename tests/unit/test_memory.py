import pytest

from edgekit.core.memory import Tensor, best_order, check_order, plan_memory


def chain(*sizes):
    names = [f"t{i}" for i in range(len(sizes))]
    return [Tensor(n, s, [names[i - 1]] if i else []) for i, (n, s) in
            enumerate(zip(names, sizes, strict=False))]


def test_chain_peak_is_largest_adjacent_pair():
    plan = plan_memory(chain(10, 20, 5, 40, 1), outputs=["t4"])
    # step k holds t(k-1) (its input) and t(k)
    assert plan.live_bytes == [10, 30, 25, 45, 41]
    assert plan.peak_bytes == 45 and plan.peak_step_name == "t3"


def test_residual_keeps_the_shortcut_alive():
    # x -> a -> b -> add(b, x): x lives until the add
    ts = [Tensor("x", 100, []), Tensor("a", 10, ["x"]), Tensor("b", 10, ["a"]),
          Tensor("add", 100, ["b", "x"])]
    plan = plan_memory(ts, outputs=["add"])
    assert plan.live_bytes == [100, 110, 120, 210]
    assert plan.live_sets[2] == ["x", "a", "b"]


def test_concat_holds_all_branches():
    ts = [Tensor("in", 4, []), Tensor("b1", 8, ["in"]), Tensor("b2", 8, ["in"]),
          Tensor("cat", 16, ["b1", "b2"])]
    plan = plan_memory(ts, outputs=["cat"])
    assert plan.live_bytes == [4, 12, 20, 32]


def test_alias_allocates_nothing_and_extends_its_base():
    # flatten is a view of conv: conv stays alive until dense (flatten's consumer) runs
    ts = [Tensor("in", 50, []), Tensor("conv", 30, ["in"]),
          Tensor("flatten", 0, ["conv"], alias_of="conv"), Tensor("dense", 2, ["flatten"])]
    plan = plan_memory(ts, outputs=["dense"])
    assert plan.live_bytes == [50, 80, 30, 32]


def test_outputs_live_to_the_end():
    ts = [Tensor("in", 1, []), Tensor("aux", 7, ["in"]), Tensor("main", 3, ["in"])]
    assert plan_memory(ts, outputs=["aux", "main"]).live_bytes == [1, 8, 11]
    assert plan_memory(ts, outputs=["main"]).live_bytes == [1, 8, 4]


def test_the_given_order_is_the_one_planned():
    # two branches that each shrink: finishing one branch before starting the other is better
    ts = [Tensor("in", 1, []), Tensor("a", 100, ["in"]), Tensor("a2", 1, ["a"]),
          Tensor("b", 100, ["in"]), Tensor("b2", 1, ["b"]), Tensor("out", 1, ["a2", "b2"])]
    depth_first = plan_memory(ts, outputs=["out"])
    breadth_first = plan_memory(ts, outputs=["out"], order=["in", "a", "b", "a2", "b2", "out"])
    assert depth_first.peak_bytes == 102
    assert breadth_first.peak_bytes == 201


def test_invalid_orders_are_refused():
    ts = chain(1, 2, 3)
    with pytest.raises(ValueError, match="before its input"):
        check_order(ts, ["t1", "t0", "t2"])
    with pytest.raises(ValueError, match="every node exactly once"):
        check_order(ts, ["t0", "t1"])
    with pytest.raises(ValueError, match="unknown tensor"):
        plan_memory([Tensor("a", 1, ["nope"])])


def test_best_order_finds_the_depth_first_schedule():

    # the hand example above, given breadth-first: the search must find the 102-byte order
    ts = [Tensor("in", 1, []), Tensor("a", 100, ["in"]), Tensor("b", 100, ["in"]),
          Tensor("a2", 1, ["a"]), Tensor("b2", 1, ["b"]), Tensor("out", 1, ["a2", "b2"])]
    assert plan_memory(ts, outputs=["out"]).peak_bytes == 201
    best = best_order(ts, outputs=["out"])
    assert best.method == "exact" and best.peak_bytes == 102
    assert plan_memory(ts, outputs=["out"], order=best.order).peak_bytes == 102
    check_order(ts, best.order)


def test_best_order_on_a_fire_module_by_hand():
    # squeeze (10) feeds expand1 (40) and expand3 (40) -> concat (80). Whatever the order,
    # the concat step holds e1, e3 and the concat: 160 bytes; before it, s + e1 + e3 = 90.
    ts = [Tensor("x", 30, []), Tensor("s", 10, ["x"]), Tensor("e1", 40, ["s"]),
          Tensor("e3", 40, ["s"]), Tensor("cat", 80, ["e1", "e3"])]
    best = best_order(ts, outputs=["cat"])
    assert best.peak_bytes == 160 == plan_memory(ts, outputs=["cat"]).peak_bytes


def test_greedy_fallback_is_valid_and_not_worse_here():

    ts = [Tensor("in", 1, [])]
    for k in range(6):  # six independent branches: too many subsets for a tiny budget
        ts += [Tensor(f"a{k}", 50, ["in"]), Tensor(f"b{k}", 1, [f"a{k}"])]
    ts.append(Tensor("out", 1, [f"b{k}" for k in range(6)]))
    g = best_order(ts, outputs=["out"], max_states=10)
    assert g.method == "greedy"
    check_order(ts, g.order)
    assert g.peak_bytes == plan_memory(ts, outputs=["out"], order=g.order).peak_bytes
    assert g.peak_bytes <= plan_memory(ts, outputs=["out"]).peak_bytes
    exact = best_order(ts, outputs=["out"])
    assert exact.method == "exact" and exact.peak_bytes <= g.peak_bytes


def _all_orders(ts):
    """Every topological order (brute force, small graphs only)."""
    by = {t.name: t for t in ts}

    def rec(done, order):
        if len(order) == len(ts):
            yield list(order)
            return
        for t in ts:
            if t.name not in done and all(i in done for i in by[t.name].inputs):
                yield from rec(done | {t.name}, order + [t.name])

    yield from rec(frozenset(), [])


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@st.composite
def dags(draw):
    n = draw(st.integers(2, 7))
    ts = [Tensor("t0", draw(st.integers(1, 100)), [])]
    for i in range(1, n):
        inputs = draw(st.lists(st.integers(0, i - 1), min_size=1, max_size=3, unique=True))
        alias = draw(st.booleans()) and len(inputs) == 1
        ts.append(Tensor(f"t{i}", 0 if alias else draw(st.integers(1, 100)),
                         [f"t{j}" for j in inputs],
                         alias_of=f"t{inputs[0]}" if alias else None))
    outputs = [t.name for t in ts if not any(t.name in u.inputs for u in ts)]
    return ts, outputs


@settings(max_examples=150, deadline=None)
@given(dags())
def test_exact_search_equals_brute_force(case):
    ts, outputs = case
    brute = min(plan_memory(ts, outputs=outputs, order=o).peak_bytes for o in _all_orders(ts))
    best = best_order(ts, outputs=outputs)
    assert best.method == "exact" and best.peak_bytes == brute
    assert plan_memory(ts, outputs=outputs, order=best.order).peak_bytes == brute
    greedy = best_order(ts, outputs=outputs, max_states=1)
    assert greedy.peak_bytes >= brute
    assert plan_memory(ts, outputs=outputs, order=greedy.order).peak_bytes == greedy.peak_bytes
