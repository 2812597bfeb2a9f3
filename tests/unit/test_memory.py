import pytest

from edgekit.core.memory import Tensor, check_order, plan_memory


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
