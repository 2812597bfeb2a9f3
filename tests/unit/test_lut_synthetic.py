"""The newer families' kernels in a latency table (services/lut_synthetic.py, core/lut.py):
the features of hard-swish, squeeze-and-excite and 5x5 depthwise kernels, a recorded
table whose synthetic kernels stand in for MobileNet v3's (no kernel borrowed from another
type any more, and its hard-swish and mean kernels predicted within 10 % of v3's own
kernels timed alone in the same run), the table's noise from its interleaved rounds, and
which grids get the synthetic kernels. No time is measured here: the table is recorded
(tests/data/lut/v3_synthetic_xeon.lut.json: MobileNet v3 Large 224 and Small 160, v1 α 0.25
at 128 px, and the synthetic files, fp32 and int8, timed on a shared 2-core Xeon, load
average 2.8, one thread, thread-CPU clock, min of 30 runs)."""

import math
from pathlib import Path

import pytest

from edgekit.core import lut as L
from edgekit.core import lut_features as F
from edgekit.core.records import LayerRecord

TABLE = Path(__file__).resolve().parents[1] / "data" / "lut" / "v3_synthetic_xeon.lut.json"


def record(op, inputs, output, macs=0, dtype="int8", **attrs):
    return LayerRecord(0, op.lower(), op, input_shapes=inputs, output_shape=output, macs=macs,
                       attrs=attrs, act_dtype=dtype, weight_dtype=dtype)


def described(r):
    return F.describe(L.key_of(r), r.macs)


def test_hard_swish_and_squeeze_excite_kernels_have_their_own_types_and_features():
    names = F.MOVE_FEATURES
    hs = described(record("HARD_SWISH", [(112, 112, 16)], (112, 112, 16)))
    assert hs.type == "HARD_SWISH|int8|int8" and not hs.macs
    assert hs.x[names.index("log input elements")] == pytest.approx(math.log(112 * 112 * 16))
    assert hs.x[names.index("inputs")] == 1
    # the squeeze-excite multiply: a 28x28x72 map by a 1x1x72 vector, broadcast 784-fold
    mul = described(record("MUL", [(28, 28, 72), (1, 1, 72)], (28, 28, 72)))
    assert mul.type == "MUL|int8|int8" and mul.x[names.index("inputs")] == 2
    assert mul.x[names.index("broadcast (log of largest over smallest input)")] == \
        pytest.approx(math.log(28 * 28))
    assert mul.x[names.index("log input elements")] == pytest.approx(math.log(28 * 28 * 72 + 72))
    assert mul.work == 28 * 28 * 72 * 2 + 72
    # its mean: a 28x28x72 map to 72 numbers
    mean = described(record("MEAN", [(28, 28, 72)], (1, 1, 72)))
    assert mean.x[names.index("log output elements")] == pytest.approx(math.log(72))
    # the squeeze-excite 1x1 convolutions act on a 1x1 map: a type of their own
    se = described(record("CONV_2D", [(1, 1, 72)], (1, 1, 24), macs=72 * 24,
                          kernel=[24, 1, 1, 72], strides=[1, 1], activation="relu"))
    assert se.type == "CONV_2D|int8|int8|one pixel"
    # a 5x5 depthwise kernel: its size is a feature of the depthwise type, MACs 25 a pixel
    k = record("DEPTHWISE_CONV_2D", [(28, 28, 120)], (28, 28, 120), macs=0,
               kernel=[1, 5, 5, 120], strides=[1, 1])
    assert F.mac_count(F.parse_key(L.key_of(k))) == 28 * 28 * 120 * 25
    dw = F.describe(L.key_of(k))          # the MACs from the key alone
    assert dw.type == "DEPTHWISE_CONV_2D|int8|int8"
    assert dw.x[F.MAC_FEATURES.index("kernel size")] == 5


@pytest.fixture(scope="module")
def table():
    return L.Table.load(TABLE)


def _v3(table):
    return [n for n, m in enumerate(table.data["models"]) if m["model"] == "mobilenet_v3"]


def _predicted(table, n, exclude):
    rows = [("", key.split("|", 1)[0], key, macs)
            for key, macs, count in table.model_kernels(n) for _ in range(count)]
    return table.predict_kernels(rows, table.data["models"][n]["dtype"], exclude,
                                 interval=False)


def _by_op(table, n, prediction, op):
    """(predicted, measured) ms of the ops ``op`` of model ``n``: the prediction against
    the same kernels timed alone in the table."""
    measured = sum(table.by_key[key]["ms"] * count
                   for key, _, count in table.model_kernels(n) if key.startswith(op + "|"))
    return sum(o["ms"] for o in prediction["ops"] if o["op"] == op), measured


def test_the_recorded_table_holds_what_the_test_needs(table):
    ms = table.data["models"]
    synthetic = [m for m in ms if m.get("synthetic")]
    assert len(_v3(table)) == 4 and len(synthetic) == 20
    assert all(m["whole_ms"] is None for m in synthetic)      # never timed whole
    assert {m["dtype"] for m in synthetic} == {"float32", "int8"}


def test_synthetic_kernels_end_v3s_borrowed_kernels(table):
    v3 = set(_v3(table))
    synthetic = {n for n, m in enumerate(table.data["models"]) if m.get("synthetic")}
    for n in sorted(v3):
        alone = _predicted(table, n, v3 | synthetic)       # v1 only: hard-swish borrowed
        assert alone["borrowed"] > 0
        assert all(o["found"] == "borrowed" for o in alone["ops"] if o["op"] == "HARD_SWISH")
        p = _predicted(table, n, v3)                         # v1 + the synthetic kernels
        assert p["borrowed"] == p["missing"] == 0, p["notes"]
        assert not any("no measured kernel of its type" in note for note in p["notes"])
        # hard-swish and squeeze-excite's mean, predicted from the synthetic kernels, land
        # within 10 % of v3's own kernels timed alone; borrowed, hard-swish was off by half
        for op in ("HARD_SWISH", "MEAN"):
            got, want = _by_op(table, n, p, op)
            assert got == pytest.approx(want, rel=0.10), (op, n)
        got, want = _by_op(table, n, alone, "HARD_SWISH")
        assert abs(got / want - 1) > 0.5


def test_the_tables_noise_is_the_spread_of_its_rounds():
    def model(rounds=None, ci=None, dtype="int8"):
        return {"dtype": dtype, "whole_ms": 2.0, "sum_ms": 1.8, "whole_ci95_ms": ci,
                "whole_rounds_ms": rounds}

    rounds = [model([2.0, 2.2, 1.8]), model([1.0, 1.1, 1.0]), model([4.0, 4.0, 4.4]),
              model([9.0], ci=[1.0, 3.0])]         # one round: no spread of its own
    t = L.Table("t", {"format": L.FORMAT, "version": L.VERSION, "models": rounds,
                      "kernels": []})
    # half-ranges over medians: 0.2/2.0, 0.05/1.0, 0.2/4.0 -> median 0.05
    assert t.noise("int8") == pytest.approx(0.05)
    # a table without rounds: the 95 % intervals of its single timings
    single = L.Table("t", {"format": L.FORMAT, "version": L.VERSION, "kernels": [],
                           "models": [model(ci=[1.9, 2.1]), model(ci=[1.6, 2.4])]})
    assert single.noise("int8") == pytest.approx((0.05 + 0.2) / 2)
    assert single.noise("float32") is None


def test_the_interval_adds_the_noise_of_another_timing():
    """The conformal half-width (from errors against the table's own timings) and the
    table's noise, as the spread of a normal at the interval's coverage, in quadrature."""
    def table(rounds):
        models = [{"dtype": "int8", "whole_ms": 1.0, "sum_ms": 1.0, "whole_rounds_ms": r}
                  for r in rounds]
        t = L.Table("t", {"format": L.FORMAT, "version": L.VERSION, "models": models,
                          "kernels": []})
        # 19 models' leave-one-out errors 0.01 .. 0.19: the 18th smallest holds 90 %
        t._errors["int8", frozenset()] = {n: 0.01 * (n + 1) for n in range(19)}
        return t

    quiet = table([None] * 19).interval(2.0, "int8")
    assert quiet["interval_ms"] == pytest.approx([2.0 * math.exp(-0.18), 2.0 * math.exp(0.18)])
    noisy = table([[0.95, 1.0, 1.05]] * 19).interval(2.0, "int8")     # noise 0.05
    half = math.hypot(0.18, 1.6448536 * 0.05)
    assert noisy["interval_ms"] == pytest.approx([2.0 * math.exp(-half), 2.0 * math.exp(half)])
    assert noisy["interval_from"] == 19


def test_which_grids_get_the_synthetic_kernels():
    from edgekit.services.lut import Grid

    assert Grid().with_synthetic()                          # v1 + v2: the default grid
    assert not Grid(models=["mobilenet"]).with_synthetic()  # one family: its own kernels
    assert Grid(models=["mobilenet"], synthetic=True).with_synthetic()
    assert not Grid(synthetic=False).with_synthetic()


def test_a_synthetic_row_is_never_a_model_timed_whole():
    from edgekit.services.lut import model_row

    r = record("HARD_SWISH", [(8, 8, 16)], (8, 8, 16))
    kernels = [L.entry(r, 0.01, [0])]
    c = {"model": "lut_kernels", "alpha": None, "resolution": 8, "knobs": {"side": 8},
         "quant": "int8", "dtype": "int8", "path": "k.tflite", "records": [r, r],
         "positions": [0], "synthetic": True}
    row = model_row(c, {"whole": None, "ops": []}, kernels)
    assert row["synthetic"] is True and row["whole_ms"] is None
    assert row["sum_ms"] == pytest.approx(0.02) and row["kernels"] == [[0, 2]]


def test_the_small_sample_of_a_table_times_the_synthetic_types_too(table):
    """profiles calibrate --lut-sample N: N kernels of every type, hard-swish and the
    squeeze-excite multiply among them (cut from the synthetic files)."""
    from edgekit.core import lut_adapt as A

    chosen = A.choose_kernels(table.data, 2)
    types = {F.describe(table.data["kernels"][i]["key"]).type for i in chosen}
    assert {"HARD_SWISH|int8|int8", "HARD_SWISH|float32|float32", "MUL|int8|int8"} <= types
    synthetic = {n for n, m in enumerate(table.data["models"]) if m.get("synthetic")}
    assert any(set(table.data["kernels"][i]["sources"]) <= synthetic for i in chosen)


@pytest.mark.slow
def test_a_synthetic_file_holds_the_newer_families_kernels():
    """The smallest synthetic shape, exported to int8 by the converter: the ops its Keras
    layers stand for (hard-swish, the squeeze-excite mean, 1x1 convolutions of the 1x1
    map, the broadcast multiply, 5x5 depthwise, a full 3x3 stride-2 convolution, the
    head's 1x1 convolution to its width)."""
    from edgekit.readers.tflite_reader import read_tflite
    from edgekit.services import lut_synthetic as S

    side, channels, head = S.SHAPES[-1]
    records = [r for r in read_tflite(S.kernel_file(side, channels, head, "int8"))[0]
               if r.op != "INPUT"]
    ops = {r.op for r in records}
    assert {"HARD_SWISH", "MEAN", "MUL", "ADD", "CONV_2D", "DEPTHWISE_CONV_2D"} <= ops
    assert all(r.act_dtype == "int8" for r in records)
    assert any(r.op == "MUL" and len(r.input_shapes) == 2
               and r.input_shapes[1] == (1, 1, r.output_shape[-1])
               and r.output_shape[:2] == (side, side) for r in records)
    assert any(r.op == "DEPTHWISE_CONV_2D" and r.attrs["kernel"][1:3] == [5, 5]
               for r in records)
    assert any(r.op == "CONV_2D" and r.attrs["kernel"][1:3] == [3, 3]
               and r.attrs["strides"] == [2, 2] for r in records)
    assert any(r.op == "CONV_2D" and r.output_shape == (1, 1, head) for r in records)
