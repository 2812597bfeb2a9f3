"""Adapting a latency table from a small sample (core/lut_adapt.py): a kernel type whose
speed-up on the new machine depends on its channels, not on its work alone, is recovered
for the kernels never sampled once enough of its kernels are (a ridge on their features);
with few, the power law in the work stands. Tables made up from a known law: no timer."""

import math

import pytest

from edgekit.core import lut as L
from edgekit.core import lut_adapt as A
from edgekit.core.records import LayerRecord


def conv(hw, cin, cout):
    return LayerRecord(0, "c", "CONV_2D", input_shapes=[(hw, hw, cin)],
                       output_shape=(hw, hw, cout), macs=hw * hw * cin * cout,
                       attrs={"kernel": [cout, 1, 1, cin], "strides": [1, 1],
                              "activation": "relu6"},
                       act_dtype="int8", weight_dtype="int8")


# the reference: 1 ns a MAC; the new machine: 4x faster at 16 output channels, and faster
# still the wider (a GEMM path for wide channels): ratio = 0.25 * (cout / 16) ** -0.5
SHAPES = [(hw, cin, cout) for hw in (7, 14, 28, 56) for cin in (16, 32, 64, 128, 256)
          for cout in (16, 32, 64, 128, 256)]


def ratio(cout):
    return 0.25 * (cout / 16) ** -0.5


def reference():
    kernels = [L.entry(conv(*s), s[0] * s[0] * s[1] * s[2] * 1e-6, [0]) for s in SHAPES]
    return {"format": L.FORMAT, "version": L.VERSION, "models": [], "kernels": kernels}


@pytest.mark.parametrize("per_type, law", [(24, "ridge"), (6, "power")])
def test_a_speed_up_by_channels_is_recovered_from_enough_sampled_kernels(per_type, law):
    ref = reference()
    sampled = A.choose_kernels(ref, per_type)
    assert len(sampled) == per_type
    new = {i: ref["kernels"][i]["ms"] * ratio(SHAPES[i][2]) for i in sampled}
    adapted = A.adapt(ref, new, {})["kernels"]
    errors = [math.log(adapted[i]["ms"] / (ref["kernels"][i]["ms"] * ratio(s[2])))
              for i, s in enumerate(SHAPES) if i not in new]
    worst = max(abs(e) for e in errors)
    if law == "ridge":
        assert worst < 0.02              # the channels' law, for every unsampled kernel
    else:                                # a power of the work cannot say it
        assert worst > 0.2
