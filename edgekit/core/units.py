"""Human-readable numbers for tables (JSON always carries the exact integers)."""

from __future__ import annotations


def si(n: float, digits: int = 3) -> str:
    """1234567 -> '1.23M' (k, M, G, T)."""
    n = float(n)
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.{digits}g}{unit}"
    return f"{n:.{digits}g}" if n != int(n) else str(int(n))


def nbytes(n: float) -> str:
    """Bytes in binary units: 1536 -> '1.5 KiB'."""
    n = float(n)
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{int(n)} B"


def shape(s) -> str:
    """'96x96x3'; an unknown dimension as '?'."""
    from edgekit.core.shapes import format_dims

    return format_dims(s) if s else "-"


_SIZE_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9,
               "kib": 2**10, "mib": 2**20, "gib": 2**30, "k": 2**10, "m": 2**20, "g": 2**30}


def parse_size(text: str, option: str) -> int:
    """'512KiB', '2 MiB', '1.5MB', '4096' -> bytes (K/M/G alone are binary, as memory sizes
    on data sheets are). Raises ValueError with a one-line reason naming ``option``."""
    import re

    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", str(text))
    unit = m.group(2).lower() if m else None
    if m is None or unit not in _SIZE_UNITS:
        raise ValueError(f"{option} {text}: expected a size such as 512KiB, 2MiB, 1.5MB or "
                         "a number of bytes")
    from edgekit.core.numbers import NumberError, read_number

    try:
        value = read_number(m.group(1), option, 0, 2**64) * _SIZE_UNITS[unit]
        return read_number(int(min(value, 2.0**65)), option, 1, 2**64, "bytes", integer=True)
    except NumberError:
        raise ValueError(f"{option} {text}: must be at least 1 byte and at most 16 EiB"
                         ) from None
