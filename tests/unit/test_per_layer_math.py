"""The figures of --per-layer and of the honest model-level figure (core.quant_error),
against independent computations on generated tensors: a real quantizer (round, clip) in
numpy, noise of known power, and a softmax quantized like a full-int8 file's output."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgekit.core import quant_error as qe

SEEDS = st.integers(0, 2**31 - 1)


def quantize(x, step, zp=0, qmin=-128, qmax=127):
    """What an int8 tensor holds: round to the step, clip to the integer range; returned
    dequantized and with the mask of clipped values."""
    q = np.round(x / step) + zp
    clipped = (q < qmin) | (q > qmax)
    return (np.clip(q, qmin, qmax) - zp) * step, clipped


@settings(max_examples=60, deadline=None)
@given(SEEDS, st.floats(1e-3, 1e3), st.floats(-40, 60))
def test_sqnr_of_noise_with_a_known_power(seed, scale, target_db):
    rng = np.random.default_rng(seed)
    ref = rng.normal(0, scale, (8, 5, 5, 4))
    noise = rng.normal(0, 1, ref.shape)
    # scale the noise so that its power is exactly signal / 10^(target/10)
    noise *= math.sqrt(np.sum(ref**2) / 10 ** (target_db / 10) / np.sum(noise**2))
    assert qe.sqnr_db(ref, ref + noise) == pytest.approx(target_db, abs=1e-6)
    # scale-free: the same figure for the tensor in other units
    assert qe.sqnr_db(ref * 7.5, (ref + noise) * 7.5) == pytest.approx(target_db, abs=1e-6)


def test_sqnr_identical_and_silent():
    x = np.ones((2, 3))
    assert qe.sqnr_db(x, x) == math.inf
    assert qe.sqnr_db(np.zeros((2, 3)), x) == -math.inf
    assert qe.finite_or_none(math.inf) == "inf" and qe.as_float("inf") == math.inf


@settings(max_examples=60, deadline=None)
@given(SEEDS, st.integers(2, 32), st.floats(10, 1e4))
def test_one_swamping_channel_cannot_hide_the_others(seed, channels, factor):
    """The outlier class: one channel `factor` times the others sets the step of a
    per-tensor int8 tensor; the plain SQNR stays high, the channel-averaged one does not,
    and the collapsed share counts every channel that lost its information."""
    rng = np.random.default_rng(seed)
    ref = np.abs(rng.normal(0.5, 0.3, (16, 6, 6, channels)))
    big = int(rng.integers(channels))
    ref[..., big] *= factor
    step = ref.max() / 255
    got, _ = quantize(ref, step, zp=-128)
    small = [c for c in range(channels) if c != big]
    one_level = [c for c in small if np.ptp(got[..., c]) == 0]
    assert qe.collapsed_share(ref, got, step) == pytest.approx(len(one_level) / channels)
    per_channel = []
    for c in range(channels):
        s, n = np.sum(ref[..., c] ** 2), np.sum((ref[..., c] - got[..., c]) ** 2)
        per_channel.append(min(qe.CHANNEL_CAP_DB, 10 * math.log10(s / n)) if n else
                           qe.CHANNEL_CAP_DB)
    assert qe.channel_sqnr_db(ref, got) == pytest.approx(np.mean(per_channel))
    if factor >= 1000:
        assert qe.sqnr_db(ref, got) - qe.channel_sqnr_db(ref, got) > 20


@settings(max_examples=60, deadline=None)
@given(SEEDS, st.floats(1e-3, 1.0), st.integers(-128, 127), st.floats(0.5, 3.0))
def test_clipped_share_is_what_the_quantizer_clips(seed, step, zp, spread):
    rng = np.random.default_rng(seed)
    ref = rng.normal(0, spread * 128 * step, (4, 50))
    _, clipped = quantize(ref, step, zp)
    assert qe.clipped_share(ref, step, zp) == pytest.approx(np.mean(clipped))
    assert qe.clipped_share(ref, None) is None


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@settings(max_examples=60, deadline=None)
@given(SEEDS, st.integers(2, 1000), st.floats(0.01, 20))
def test_a_quantized_softmax_keeps_its_arg_max_exactly_where_no_tie_is_measured(
        seed, classes, temperature):
    """The reason the honest figure gives: samples whose two largest probabilities are at
    least one step apart keep their arg-max in an int8 softmax (step 1/256, zero point
    -128); the others are the tie share, and only they can flip."""
    rng = np.random.default_rng(seed)
    p = softmax(rng.normal(0, temperature, (64, classes)))
    step = 1 / 256
    q, _ = quantize(p, step, zp=-128)
    top2 = np.sort(p, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] >= step * 1.000001
    assert np.all(np.argmax(q, axis=1)[clear] == np.argmax(p, axis=1)[clear])
    assert qe.tie_share(p, step) == pytest.approx(1 - np.mean(clear), abs=1 / 64)


def test_an_untrained_thousand_class_softmax_is_all_ties():
    rng = np.random.default_rng(0)
    p = softmax(rng.normal(0, 0.05, (20, 1000)))       # every probability near 0.001
    assert qe.tie_share(p, 1 / 256) == 1.0


def test_worst_and_its_reason():
    rows = [{"layer": "a", "isolated_sqnr_db": 40.0, "collapsed_share": 0.0,
             "clipped_share": 0.0, "step": 0.02, "max_abs_error": 0.1},
            {"layer": "b", "isolated_sqnr_db": 1.2, "collapsed_share": 0.97,
             "clipped_share": 0.0, "step": 26.5, "max_abs_error": 600.0},
            {"layer": "c", "isolated_sqnr_db": None}]
    w = qe.worst(rows)
    assert w["layer"] == "b"
    assert "97% of its output channels collapse" in qe.why(w)
    assert qe.worst([{"layer": "x"}]) is None
    clip = {"collapsed_share": 0, "clipped_share": 0.05, "step": 0.1}
    assert "5.0% of its values are clipped" in qe.why(clip)


@settings(max_examples=40, deadline=None)
@given(SEEDS, st.sampled_from([None, 0.01, 0.1]))
def test_the_combined_figures_are_the_single_ones(seed, step):
    rng = np.random.default_rng(seed)
    ref = rng.normal(0, 1, (6, 4, 4, 3)).astype(np.float32)
    out = ref + rng.normal(0, 0.05, ref.shape).astype(np.float32)
    e = qe.tensor_error(ref, out, step, 3)
    assert e["sqnr_db"] == pytest.approx(qe.sqnr_db(ref, out))
    assert e["cosine"] == pytest.approx(qe.cosine(ref, out))
    assert e["max_abs_error"] == pytest.approx(qe.max_abs_error(ref, out))
    assert e["clipped_share"] == qe.clipped_share(ref, step, 3)
    assert e["collapsed_share"] == qe.collapsed_share(ref, out, step)


def test_range_ratio_names_the_swamping_channel():
    ref = np.ones((4, 3, 3, 5)) * np.arange(1, 6)
    ref[0] = 0                                        # every channel spans 0..c
    ref[..., 2] *= 1000
    assert qe.range_ratio(ref) == pytest.approx(3000 / 4)   # median of 1, 2, 4, 5, 3000
    row = {"collapsed_share": 0.8, "clipped_share": 0, "step": 11.8, "range_ratio": 750.0}
    assert "widest channel spans 750x the median one's range" in qe.why(row)
    assert qe.range_ratio(np.zeros((2, 3))) is None
