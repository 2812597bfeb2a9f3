import math

import pytest

from edgekit.core.stats import regression, summarize


def test_percentiles_on_known_samples():
    s = summarize(range(1, 101))  # 1..100
    assert s["min"] == 1 and s["max"] == 100 and s["n"] == 100
    assert s["p50"] == 50.5
    assert math.isclose(s["p90"], 90.1) and math.isclose(s["p99"], 99.01)
    assert s["mean"] == 50.5
    assert math.isclose(s["stdev"], 29.011491975882016)
    assert math.isclose(s["cv"], s["stdev"] / 50.5)


def test_small_samples():
    assert summarize([1, 2, 3, 4])["p50"] == 2.5
    one = summarize([7.0])
    assert one["stdev"] == 0 and one["p99"] == 7.0 and one["cv"] == 0
    with pytest.raises(ValueError):
        summarize([])


def test_regression_needs_more_than_noise():
    assert regression(10.0, 10.3, 0.2, 0.2) == "same"      # within 2 sigma
    assert regression(10.0, 12.0, 0.2, 0.2) == "slower"
    assert regression(10.0, 8.0, 0.2, 0.2) == "faster"
    assert regression(10.0, 10.4, 0.01, 0.01) == "same"    # beyond noise, below 5 %
