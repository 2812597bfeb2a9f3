"""The predictor on a recorded table of real timings (tests/data/lut/grid_xeon.lut.json:
`tools/predict_latency.py --rounds 5` on the project's Xeon, 1 thread, XNNPACK, min of 30
runs by the thread's CPU clock; MobileNet v1 and v2 × 4 α × 128–224 px, v3 small/large,
EfficientNet-Lite 0/1, MobileNet v4 conv_small, fp32 and int8, and the synthetic kernels
of the newer families; its machine's L2: 2 MiB). Each model is predicted with its own
kernels and its own whole timing left out and checked against the table's whole time
of it (the median of its 6 timings): the oracle is the measurement, never the predictor.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from edgekit.core import lut as L

TABLE = Path(__file__).resolve().parents[1] / "data" / "lut" / "grid_xeon.lut.json"


def leave_one_out(table: L.Table) -> list[tuple[dict, float, list[float] | None]]:
    """(model, predicted ms, 90 % interval) of every real model with itself left out."""
    out = []
    for n, m in enumerate(table.data["models"]):
        if m.get("synthetic") or not m.get("whole_ms"):
            continue
        rows = [("", "", k, macs) for k, macs, c in table.model_kernels(n) for _ in range(c)]
        p = table.predict_kernels(rows, m["dtype"], {n})
        out.append((m, p["ms"], p["interval_ms"]))
    return out


@pytest.fixture(scope="module")
def recorded():
    return L.Table.load(TABLE)


def test_recorded_table_cache_line_is_chosen_and_fits_better(recorded):
    assert recorded.data["environment"]["l2_bytes"] == 2 * 2 ** 20
    for dtype in ("float32", "int8"):
        line = recorded.whole_line(dtype)
        assert line["line"] == "cache"
        # the weights that stay in cache alone cost time in the model: d > 0 (ms per MiB)
        assert line["d"] > 0
        assert line["loo"]["cache"] < line["loo"]["footprint"] <= line["loo"]["plain"]


def test_recorded_table_leave_one_config_out(recorded):
    rows = leave_one_out(recorded)
    assert len(rows) == 80
    within = sum(abs(ms / m["whole_ms"] - 1) <= 0.10 for m, ms, _ in rows)
    held = sum(iv[0] <= m["whole_ms"] <= iv[1] for m, _, iv in rows)
    # measured when recorded: 78 of 80 within ±10 % (the footprint line: 75), the 90 %
    # interval holding 79
    assert within >= 77
    assert held >= 72                     # at least the 90 % it is meant to hold
    # the same table without its machine's L2: the footprint line, as older tables
    older = L.Table("older", {**recorded.data, "environment": {}})
    assert older.whole_line("float32")["line"] != "cache"
    before = sum(abs(ms / m["whole_ms"] - 1) <= 0.10 for m, ms, _ in leave_one_out(older))
    assert before < within


def test_recorded_table_full_3x3_convolutions_are_not_stems(recorded):
    # MobileNet v4's int8 full 3x3 stride-2 convolutions (K = 288) run at 200+ GMAC/s,
    # the 3-channel stems (K = 27) at 5-20: with every v4 model left out, its 3x3
    # convolutions are predicted within 30 % of their measured times, not at 2x
    v4 = {n for n, m in enumerate(recorded.data["models"]) if m["model"] == "mobilenet_v4"}
    seen = 0
    for e in recorded.data["kernels"]:
        if not set(e["sources"]) <= v4 or not e["key"].startswith("CONV_2D|int8|int8|3x3|"):
            continue
        k = recorded.described(e["key"], e.get("macs"))
        if k.x[0] < math.log(1e6):       # big enough to time well
            continue
        p = recorded.kernel(e["key"], e.get("macs"), v4)
        assert abs(math.log(p.ms / e["ms"])) < math.log(1.3), e["key"]
        seen += 1
    assert seen >= 4         # v4 at 192 and 224 px: the stems and two full 3x3 each
