"""One way to read a number, for every option and every number in every file edgekit reads.

``read_number(value, what, lo, hi, unit)`` takes what a user typed or a file held (a string,
an int, a float; never a bool) and returns a finite int or float inside the stated range,
or raises :class:`NumberError`, a usage error (exit 2) of one line that names the option or
the key, what was expected (with the unit) and what was given::

    --max-latency nan: must be a number > 0 (ms)
    profiles/pi5.toml: key 'compute.peak_gflops_fp32': expected a number > 0 (GFLOP/s), got nan

Strings are read as plain ASCII decimals (``' 3 '``, ``'1e-3'``, ``'-0'``): no NaN or
infinity in any spelling, no values that overflow a float (``'1e309'``), no digits of other
scripts (Python's ``float`` would take ``'١٢'``). A value that underflows to 0
(``'1e-400'``) is 0, and is refused where the range excludes 0.

JSON that edgekit writes goes through :func:`dumps` (``allow_nan=False``): a NaN or an
infinity that got past the readers fails loudly instead of writing a file that is not JSON.
Standard library only.
"""

from __future__ import annotations

import json
import math
import re

from edgekit.core.errors import UsageError

_DECIMAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_INTEGER = re.compile(r"[+-]?\d+")


class NumberError(UsageError, ValueError):
    """A number that is not finite, not a number, or outside its range. ``expected`` says
    what was wanted ('a number > 0 (ms)'), ``got`` what was given, ``what`` names it."""

    def __init__(self, what: str, expected: str, got: str):
        self.what, self.expected, self.got = what, expected, got
        super().__init__(f"{what} {got}: must be {expected}")


def shown(value) -> str:
    """A number as an error line shows it: ints whole, floats short (%g), text as typed."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str):
        text = value.strip()
        return text if text and text.isprintable() and len(text) <= 40 else \
            repr(value[:40])
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


def _bound(v: float) -> str:
    if float(v).is_integer() and abs(v) < 1e15:
        v = int(v)
        return f"{v:,}" if abs(v) >= 10_000 else str(v)
    return f"{v:g}"


def describe(lo: float | None = None, hi: float | None = None, unit: str = "",
             integer: bool = False, lo_open: bool = False, hi_open: bool = False) -> str:
    """'a number > 0 and <= 4 (ms)', 'an integer >= 1 and <= 256': what a range accepts."""
    parts = []
    if lo is not None:
        parts.append(f"{'>' if lo_open else '>='} {_bound(lo)}")
    if hi is not None:
        parts.append(f"{'<' if hi_open else '<='} {_bound(hi)}")
    text = ("an integer" if integer else "a number") + (" " + " and ".join(parts)
                                                         if parts else "")
    return f"{text} ({unit})" if unit else text


def read_number(value, what: str, lo: float | None = None, hi: float | None = None,
                unit: str = "", integer: bool = False, lo_open: bool = False,
                hi_open: bool = False) -> int | float:
    """``value`` as a finite int (``integer``) or float in the range, or a NumberError
    naming ``what`` (an option such as '--max-latency', or a key)."""
    expected = describe(lo, hi, unit, integer, lo_open, hi_open)

    def bad():
        return NumberError(what, expected, shown(value))

    if isinstance(value, bool) or value is None:
        raise bad()
    number: int | float
    if isinstance(value, str):
        text = value.strip()
        if not text.isascii() or len(text) > 400:
            raise bad()
        if integer and _INTEGER.fullmatch(text):
            number = int(text)
        elif _DECIMAL.fullmatch(text):
            number = float(text)
        else:
            raise bad()
    elif isinstance(value, int):
        number = int(value)
    elif isinstance(value, float) or _is_numpy_number(value):
        number = float(value) if not _is_numpy_integer(value) else int(value)
    else:
        raise bad()
    if isinstance(number, float):
        if not math.isfinite(number):
            raise bad()
        if integer:
            if not number.is_integer():
                raise bad()
            number = int(number)
    if lo is not None and (number <= lo if lo_open else number < lo):
        raise bad()
    if hi is not None and (number >= hi if hi_open else number > hi):
        raise bad()
    if not integer and isinstance(number, int) and abs(number) > 2**53:
        raise bad()                  # not exactly a float any more
    return number


def _is_numpy_number(value) -> bool:
    return type(value).__module__ == "numpy" and hasattr(value, "dtype") and \
        value.dtype.kind in "iuf" and getattr(value, "ndim", 0) == 0


def _is_numpy_integer(value) -> bool:
    return _is_numpy_number(value) and value.dtype.kind in "iu"


def dumps(doc, **kwargs) -> str:
    """JSON text of ``doc``; NaN and infinity are refused (they are not JSON), loudly."""
    return json.dumps(doc, allow_nan=False, **kwargs)
