"""One way to read a number (core.numbers): whatever is typed or stored, the result is a
finite number in its range, or one usage line naming the option and the unit."""

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgekit.core.errors import UsageError
from edgekit.core.numbers import NumberError, dumps, read_number

JUNK = st.sampled_from(["nan", "NaN", "-nan", "inf", "-inf", "Infinity", "1e309", "-1e309",
                        "1e-400", " 3 ", "", "  ", "abc", "٣", "１２", "3.5.1", "0x10",
                        "1_000", "--1", "+", ".", "e5", "-0", "0", "1e3", "12ms", "\n7\n",
                        "9" * 500])
VALUES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**30, 10**30),
    st.text(max_size=30), JUNK, st.booleans(), st.none(),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.integers(-10**6, 10**6).map(str))
RANGES = st.tuples(st.sampled_from([None, 0, 1, 0.001, -5]),
                   st.sampled_from([None, 1, 4, 256, 86_400, 1e9]),
                   st.sampled_from(["", "ms", "s", "GFLOP/s"]), st.booleans(), st.booleans())


@settings(max_examples=600, deadline=None)
@given(VALUES, RANGES)
def test_a_number_is_finite_and_in_range_or_one_line_that_names_it(value, bounds):
    lo, hi, unit, integer, lo_open = bounds
    try:
        n = read_number(value, "--limit", lo, hi, unit, integer=integer, lo_open=lo_open)
    except NumberError as e:
        text = str(e)
        assert isinstance(e, UsageError) and e.exit_code == 2
        assert text.startswith("--limit ") and "\n" not in text and "must be" in text
        assert unit in text
        return
    assert not isinstance(n, bool) and isinstance(n, int | float) and math.isfinite(n)
    assert not integer or isinstance(n, int)
    assert lo is None or (n > lo if lo_open else n >= lo)
    assert hi is None or n <= hi


@pytest.mark.parametrize("text, expected", [(" 3 ", 3.0), ("-0", 0.0), ("1e-400", 0.0),
                                            ("1e3", 1000.0), ("0.25", 0.25)])
def test_plain_decimals_are_read(text, expected):
    assert read_number(text, "--x") == expected


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "1e309", "٣", "", "abc", "True"])
def test_what_is_not_a_finite_decimal_is_refused(text):
    with pytest.raises(NumberError, match=r"^--max-latency .*must be a number > 0 \(ms\)$"):
        read_number(text, "--max-latency", 0, None, "ms", lo_open=True)


def test_an_integer_option_refuses_fractions_and_keeps_big_integers_exact():
    assert read_number("4096", "--resolution", 32, 4096, integer=True) == 4096
    assert read_number(str(10**18 + 1), "--batch", 1, None, integer=True) == 10**18 + 1
    with pytest.raises(NumberError, match="must be an integer >= 32 and <= 4096"):
        read_number("64.5", "--resolution", 32, 4096, integer=True)


@given(st.recursive(st.floats(allow_nan=True, allow_infinity=True) | st.integers() |
                    st.text(max_size=5),
                    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=3), c,
                                                                        max_size=3),
                    max_leaves=10))
def test_json_that_edgekit_writes_is_json_or_fails_loudly(doc):
    try:
        text = dumps(doc)
    except ValueError:
        return
    json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} written"))
