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
