"""What --keep-float auto aims at on a model with several outputs
(export.keep_float_target), and which layers can help an output (KerasGraph.upstream), on
hand-made fidelity records: no TensorFlow."""

from types import SimpleNamespace

import numpy as np

from edgekit.export.keep_float_target import aim, missed, reached, says
from edgekit.export.layer_groups import (
    INPUT,
    Group,
    KerasGraph,
    input_source,
    input_value,
    is_input,
)
from edgekit.export.multi_io import ModelIO


def _ctx(min_sqnr=None, max_drop=None, labels=True):
    """Two classification heads 'a' and 'b' and a regression head 'r'; the reference
    is right on 3 of 4 samples of 'a' and on all 4 of 'b'."""
    io = ModelIO(["x"], [(2,)], ["a", "b", "r"], [True, True, False])
    eye = np.eye(3, dtype=np.float32)
    refs = [eye[[0, 1, 2, 0]], eye[[2, 2, 1, 0]], np.zeros((4, 2), np.float32)]
    y = {"a": np.array([0, 1, 2, 1]), "b": np.array([2, 2, 1, 0])} if labels else {}
    opts = SimpleNamespace(min_sqnr=min_sqnr, max_drop=max_drop,
                           drop_allowed=1.0 if max_drop is None else max_drop)
    return SimpleNamespace(opts=opts, refs=refs, io=io, val=SimpleNamespace(labels=y))


def _fid(acc_a, acc_b, sqnr):
    """A file's fidelity as the export gives it: the worst output's (lowest SQNR, here
    'r') figures, and every output's."""
    per = [{"output": "a", "accuracy": acc_a, "sqnr_db": sqnr + 5},
           {"output": "b", "accuracy": acc_b, "sqnr_db": sqnr + 3},
           {"output": "r", "accuracy": None, "sqnr_db": sqnr}]
    return {**per[2], "top1_agreement": None, "per_output": per}


def test_the_sqnr_target_is_on_the_lowest_output():
    ctx = _ctx(min_sqnr=30.0)
    a = aim(_fid(0.75, 1.0, 28.0), ctx)
    assert (a.score, a.target, a.unit, a.output) == (28.0, 30.0, "dB", "r")
    assert not reached(_fid(0.75, 1.0, 28.0), ctx)
    assert reached(_fid(0.0, 0.0, 30.0), ctx)       # the SQNR alone suffices
    m = missed(a)
    assert m == {"target": 30.0, "unit": "dB", "got": 28.0, "short_by": 2.0, "output": "r"}
    assert "output r: 28.0 against 30.0 dB, short by 2.0" in says(m, 2, "no gain")


def test_the_accuracy_target_is_on_the_output_furthest_below_its_reference():
    ctx = _ctx()        # references: a 75 %, b 100 %; --max-drop 1 point
    a = aim(_fid(0.75, 0.5, 20.0), ctx)
    assert a.output == "b" and a.score == 50.0 and a.target == 99.0
    assert a.margin == -49.0
    a = aim(_fid(0.5, 1.0, 20.0), ctx)
    assert a.output == "a" and a.score == 50.0 and a.target == 74.0
    assert not reached(_fid(0.75, 0.75, 20.0), ctx)     # every labelled output counts
    assert reached(_fid(0.75, 1.0, 20.0), ctx)


def test_without_labels_the_figure_is_the_lowest_sqnr_and_nothing_is_reached():
    ctx = _ctx(labels=False)
    a = aim(_fid(None, None, 25.0), ctx)
    assert (a.score, a.target, a.output, a.margin) == (25.0, None, "r", 25.0)
    assert not reached(_fid(None, None, 99.0), ctx)
    assert missed(a)["short_by"] is None


def _graph():
    """Two inputs: conv on the first, fc on the second, joined, two heads."""
    groups = [Group("conv", "Conv2D", ["conv"], [input_source(0, 2)]),
              Group("fc", "Dense", ["fc", "fc_relu"], [input_source(1, 2)]),
              Group("joined", "Concatenate", ["joined"], ["conv", "fc"]),
              Group("head", "Dense", ["head"], ["joined"]),
              Group("aux", "Dense", ["aux"], ["fc"])]
    kg = KerasGraph(groups, inputs=["img", "prof"])
    kg.group_of = {"img": INPUT, "prof": INPUT, "fc_relu": "fc",
                   **{g.name: g.name for g in groups}}
    return kg


def test_upstream_holds_what_feeds_an_output_and_nothing_of_another_head():
    kg = _graph()
    assert kg.upstream("head") == {"head", "joined", "conv", "fc"}
    assert kg.upstream("aux") == {"aux", "fc"}
    assert kg.upstream("fc_relu") == {"fc"}


def test_input_sources_pick_their_own_input():
    x = [np.zeros((2, 3)), np.ones((2, 4))]
    assert input_source(0, 1) == INPUT and is_input(INPUT)
    assert is_input(input_source(1, 2)) and not is_input("conv")
    assert input_value(x, input_source(1, 2)) is x[1]
    assert input_value(x, input_source(0, 2)) is x[0]
    assert input_value(x[0], INPUT) is x[0]
