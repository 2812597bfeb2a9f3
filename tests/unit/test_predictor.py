"""The per-kernel-type latency predictor (core/lut_model.py, core/lut.py) on tables with a
known generating law: it recovers the law for kernels never timed, its intervals hold
the measured value at the nominal rate, leaving a config out really leaves its kernels
out, and a kernel without a measured neighbour is flagged, not extrapolated silently.
No time is measured here: every table is made up from the law."""

import math
from pathlib import Path

import numpy as np
import pytest

from edgekit.core import lut as L
from edgekit.core import lut_features as F
from edgekit.core import lut_model as M
from edgekit.core.records import LayerRecord


def conv(hw, cin, cout, k=1, stride=1, dtype="float32", depthwise=False):
    out = -(-hw // stride)
    op = "DEPTHWISE_CONV_2D" if depthwise else "CONV_2D"
    macs = out * out * cout * k * k * (1 if depthwise else cin)
    return LayerRecord(0, "c", op, input_shapes=[(hw, hw, cin)], output_shape=(out, out, cout),
                       macs=macs, attrs={"kernel": [cout, k, k, 1 if depthwise else cin],
                                         "strides": [stride, stride],
                                         "activation": "relu6"},
                       act_dtype=dtype, weight_dtype=dtype)


def elementwise(op, shapes, out, dtype="float32"):
    return LayerRecord(0, "e", op, input_shapes=shapes, output_shape=out, act_dtype=dtype,
                       weight_dtype=dtype)


# the generating law, per kernel type: log ms = c + a·log MACs + b·log Cout (+ dtype)
LAW = {"CONV_2D": (-13.0, 0.95, -0.08), "DEPTHWISE_CONV_2D": (-11.5, 0.9, 0.0)}
INT8 = math.log(0.6)       # int8 kernels at 0.6x the fp32 time


def law_ms(r) -> float:
    if not r.macs:       # data movement: 2 ns per element read or written
        return 2e-6 * (sum(math.prod(s) for s in r.input_shapes) + math.prod(r.output_shape))
    c, a, b = LAW[r.op]
    return math.exp(c + a * math.log(r.macs) + b * math.log(r.output_shape[-1])
                    + (INT8 if r.act_dtype == "int8" else 0.0))


def mobile_net(alpha, res, dtype="float32"):
    """A MobileNet-like chain: stem, depthwise + pointwise blocks, a residual add, a
    classifier."""
    ch = [max(8, int(c * alpha)) for c in (32, 64, 128, 128, 256)]
    rs = [conv(res, 3, ch[0], k=3, stride=2, dtype=dtype)]
    hw = -(-res // 2)
    for cin, cout, s in zip(ch, ch[1:], (1, 2, 1, 2), strict=False):
        rs.append(conv(hw, cin, cin, k=3, stride=s, dtype=dtype, depthwise=True))
        hw = -(-hw // s)
        rs.append(conv(hw, cin, cout, dtype=dtype))
    rs.append(elementwise("ADD", [(hw, hw, ch[-1])] * 2, (hw, hw, ch[-1]), dtype))
    rs.append(conv(1, ch[-1], 100, dtype=dtype))      # the classifier, as a 1x1 conv
    return rs


def make_table(configs, noise=0.0, whole_noise=0.0, seed=0, line=None):
    """A table of ``configs`` [(family, alpha, res, dtype)]: each kernel at the law times
    lognormal noise, each whole model at line[dtype] = (a, b) of the sum, times noise."""
    rng = np.random.default_rng(seed)
    line = line or {"float32": (0.9, 0.05), "int8": (1.1, 0.02)}
    kernels, index, models = [], {}, []
    for n, (family, alpha, res, dtype) in enumerate(configs):
        counts: dict[int, int] = {}
        total = 0.0
        for r in mobile_net(alpha, res, dtype):
            key = L.key_of(r)
            if key not in index:
                index[key] = len(kernels)
                kernels.append(L.entry(r, law_ms(r) * math.exp(rng.normal(0, noise)), []))
            e = kernels[index[key]]
            if n not in e["sources"]:
                e["sources"].append(n)
            counts[index[key]] = counts.get(index[key], 0) + 1
            total += e["ms"]
        a, b = line[dtype]
        models.append({"model": family, "alpha": alpha, "resolution": res, "dtype": dtype,
                       "sum_ms": total, "kernels": sorted([k, c] for k, c in counts.items()),
                       "whole_ms": (a * total + b) * math.exp(rng.normal(0, whole_noise))})
    return L.Table("t", {"format": L.FORMAT, "version": L.VERSION, "models": models,
                         "kernels": kernels, "threads": 1, "provider": "xnnpack"})


GRID = [("v1", a, r, d) for a in (0.25, 0.5, 0.75, 1.0) for r in (96, 128, 160, 192, 224)
        for d in ("float32", "int8")]


def test_keys_parse_back_into_the_kernel():
    r = conv(56, 32, 64, k=3, stride=2)
    k = F.parse_key(L.key_of(r))
    assert (k.op, k.act_dtype, k.kernel_hw, k.strides) == ("CONV_2D", "float32", (3, 3), (2, 2))
    assert k.inputs == ((56, 56, 32),) and k.output == (28, 28, 64)
    assert F.mac_count(k) == r.macs == 28 * 28 * 64 * 9 * 32
    add = F.parse_key(L.key_of(elementwise("ADD", [(4, 4, 8), (1, 1, 8)], (4, 4, 8))))
    assert add.inputs == ((4, 4, 8), (1, 1, 8)) and F.mac_count(add) == 0
    x = F.features(add)        # the broadcast feature: log(128 / 8)
    assert x[F.MOVE_FEATURES.index("broadcast (log of largest over smallest input)")] == \
        pytest.approx(math.log(16))


def test_regression_recovers_the_law_for_kernels_never_timed():
    t = make_table(GRID)
    # sizes between and beyond the grid's, none of them in the table
    for r in (conv(72, 48, 96), conv(150, 24, 24, k=3, depthwise=True),
              conv(40, 100, 200, dtype="int8"), conv(250, 16, 16, k=3, stride=2,
                                                     depthwise=True, dtype="int8")):
        assert L.key_of(r) not in t.by_key
        ms, how = t.kernel_ms(r)
        assert how == "ridge"
        assert ms == pytest.approx(law_ms(r), rel=0.01)


def test_leave_one_config_out_excludes_its_kernels():
    t = make_table(GRID)
    # config 0 (α 0.25, 96 px, fp32) is the only one with its stem: corrupt that time
    stem = L.key_of(mobile_net(0.25, 96)[0])
    assert t.by_key[stem]["sources"] == [0]
    t.by_key[stem]["ms"] *= 1000
    t = L.Table("t", t.data)
    assert t.kernel_ms(mobile_net(0.25, 96)[0]) == (t.by_key[stem]["ms"], "measured")
    ms, how = t.kernel_ms(mobile_net(0.25, 96)[0], exclude={0})
    assert how == "ridge" and ms == pytest.approx(law_ms(mobile_net(0.25, 96)[0]), rel=0.02)
    # ... and from the fit: it is not among the rows the type's regression saw
    fit = t.predictor({0}).fits["CONV_2D|float32|float32"]
    assert fit.n == sum(1 for e in t.data["kernels"] if e["sources"] != [0]
                        and F.describe(e["key"]).type == "CONV_2D|float32|float32")
    # a kernel that another config has too stays measured (config 1 here: a second
    # family with the same config)
    twice = make_table([("a", 0.6, 136, "float32"), ("b", 0.6, 136, "float32"), *GRID])
    e = twice.data["kernels"][0]
    assert e["sources"] == [0, 1]
    assert twice.kernel(e["key"], e["macs"], exclude={0}).how == "measured"
    assert twice.kernel(e["key"], e["macs"], exclude={0, 1}).how == "ridge"
    # the held-out model's own point is left out of the whole-vs-sum line, too
    t.data["models"][0]["whole_ms"] *= 50
    assert t.correction("float32", {0}) == pytest.approx((0.9, 0.05))
    assert t.correction("float32") != pytest.approx((0.9, 0.05))


def test_whole_vs_sum_line_is_learned_per_dtype():
    t = make_table(GRID)
    assert t.correction("float32") == pytest.approx((0.9, 0.05))
    assert t.correction("int8") == pytest.approx((1.1, 0.02))
    rs = mobile_net(0.6, 176, "int8")       # never in the table
    p = t.predict(rs, "int8")
    truth = 1.1 * sum(law_ms(r) for r in rs) + 0.02
    assert p["ms"] == pytest.approx(truth, rel=0.01) and p["measured"] == 0


def test_intervals_hold_the_measured_value_at_the_nominal_rate():
    # kernels with 3 % noise, whole models with 5 %: predict 80 new configs of a
    # finer grid from the table; the 90 % intervals should hold about 90 % of them
    t = make_table(GRID, noise=0.03, whole_noise=0.05, seed=1)
    held = make_table([("v1", a, r, d) for a in (0.3, 0.4, 0.6, 0.7, 0.8, 0.9, 0.35, 0.45)
                       for r in (112, 144, 176, 208, 200) for d in ("float32", "int8")],
                      noise=0.03, whole_noise=0.05, seed=2)
    inside = []
    for n, m in enumerate(held.data["models"]):
        rows = [("", "", k, macs) for k, macs, c in held.model_kernels(n) for _ in range(c)]
        p = t.predict_kernels(rows, m["dtype"])
        lo, hi = p["interval_ms"]
        assert lo < p["ms"] < hi and p["interval_from"] == 20
        inside.append(lo <= m["whole_ms"] <= hi)
    assert 0.8 <= np.mean(inside) <= 0.99
    # with noise-free whole models, the intervals are narrow
    exact = make_table(GRID, noise=0.0, whole_noise=0.0)
    lo, hi = exact.predict(mobile_net(0.6, 176), "float32")["interval_ms"]
    assert hi / lo < 1.02


def test_conformal_rank_needs_enough_errors():
    assert M.conformal_halfwidth([0.1] * 8, 0.9) is None     # rank 9 of 8
    errs = [0.01 * i for i in range(1, 20)]                   # 19: rank 18
    assert M.conformal_halfwidth(errs, 0.9) == pytest.approx(0.18)
    assert M.conformal_halfwidth([-x for x in errs], 0.9) == pytest.approx(0.18)


def test_kernels_without_a_measured_neighbour_are_flagged():
    t = make_table(GRID)
    # a 5x5 depthwise kernel: only 3x3 were timed; its weights-to-MACs ratio lies off
    # every measured kernel's, so the simpler law (a power of the MACs) predicts it
    dw5 = conv(28, 64, 64, k=5, depthwise=True)
    k = t.kernel(L.key_of(dw5), dw5.macs)
    assert "kernel size 5 (measured 3..3)" in k.note and "off the measured" in k.note
    assert k.how == "power" and k.ms == pytest.approx(law_ms(dw5), rel=0.01)
    # ... while a 3x3 one between the measured sizes keeps the full regression
    assert t.kernel(L.key_of(conv(30, 64, 64, k=3, depthwise=True)), 30 * 30 * 64 * 9
                    ).how == "ridge"
    # hard-swish: no kernel of its type; borrowed from the data-movement kernels
    hs = elementwise("HARD_SWISH", [(28, 28, 64)], (28, 28, 64))
    k = t.kernel(L.key_of(hs), 0)
    assert k.how == "borrowed" and "no measured kernel of its type" in k.note
    assert k.ms == pytest.approx(law_ms(hs), rel=0.05)     # ADD follows the same law
    # squeeze-excite's multiply by a per-channel scale: broadcast never measured
    se = elementwise("ADD", [(28, 28, 64), (1, 1, 64)], (28, 28, 64))
    k = t.kernel(L.key_of(se), 0)
    assert k.note and "broadcast" in k.note
    p = t.predict(mobile_net(0.5, 128) + [hs], "float32")
    assert p["borrowed"] == 1 and any("HARD_SWISH" in n for n in p["notes"])
    # a dtype never measured: borrowed from the other dtype's kernels of its class, and
    # the note names the dtype it came from
    t8 = make_table([c for c in GRID if c[3] == "float32"])
    k = t8.kernel(L.key_of(conv(28, 64, 64, dtype="int8")), 28 * 28 * 64 * 64)
    assert k.how == "borrowed" and "kernel of float32" in k.note
    assert L.Table("e", {**t8.data, "kernels": []}).kernel(
        L.key_of(hs), 0).how == "missing"


def test_a_new_machine_from_a_small_sample():
    """LitePred-style: the reference table's kernel types scale by what a few sampled
    kernels say; the new machine here runs convolutions 2x faster, depthwise kernels 1.5x
    slower with a steeper law in the work, and has another whole-vs-sum line."""
    from edgekit.core import lut_adapt as A

    ref = make_table(GRID)
    new_line = {"float32": (0.8, 0.1), "int8": (1.2, 0.05)}
    new = make_table(GRID, line=new_line)
    for e in new.data["kernels"]:
        if e["kind"].startswith("CONV_2D"):
            e["ms"] *= 0.5
        elif e["kind"].startswith("DEPTHWISE"):
            e["ms"] *= 1.5 * (e["work"] / 1e6) ** 0.05
    pick = A.choose_kernels(ref.data, 4)
    kinds = {F.describe(ref.data["kernels"][i]["key"]).type for i in pick}
    # 4 of each type (conv, its one-pixel classifier, depthwise, add; fp32 and int8)
    assert len(kinds) == 8 and len(pick) == 4 * 8
    works = [e["work"] for e in ref.data["kernels"] if e["kind"].startswith("CONV_2D|int8")]
    chosen = [ref.data["kernels"][i]["work"] for i in pick
              if ref.data["kernels"][i]["kind"].startswith("CONV_2D|int8")]
    assert min(chosen) == min(works) and max(chosen) == max(works)
    models = A.choose_models(ref.data, 2)
    assert len(models) == 4
    # the sampled kernels and models measured on the new machine (the same keys)
    by_key = {e["key"]: e["ms"] for e in new.data["kernels"]}
    sums = {n: sum(new.data["kernels"][i]["ms"] * c for i, c in m["kernels"])
            for n, m in enumerate(new.data["models"])}
    wholes = {n: new_line[ref.data["models"][n]["dtype"]][0] * sums[n]
              + new_line[ref.data["models"][n]["dtype"]][1] for n in models}
    adapted = L.Table("a", A.adapt(ref.data, {i: by_key[ref.data["kernels"][i]["key"]]
                                              for i in pick}, wholes))
    for e in adapted.data["kernels"]:          # every kernel on the new machine's law
        assert e["ms"] == pytest.approx(by_key[e["key"]], rel=0.01)
    assert sum(not m["whole_estimated"] for m in adapted.data["models"]) == 4
    rs = mobile_net(0.6, 176, "int8")
    truth = 1.2 * sum(law_ms(r) * (0.5 if r.op == "CONV_2D" else 1.5 * (r.macs / 1e6) ** 0.05
                                   if r.macs else 1.0) for r in rs) + 0.05
    p = adapted.predict(rs, "int8")
    assert p["ms"] == pytest.approx(truth, rel=0.03)
    # two models of a dtype timed whole here: too few for an interval, and said so
    assert p["interval_ms"] is None and p["interval_from"] == 2


def test_calibrate_refuses_a_bad_table_before_measuring(cli, tmp_path):
    bad = tmp_path / "other.lut.json"
    bad.write_text('{"format": "edgekit-latency-table", "version": 1, "models": [], '
                   '"kernels": [{"key": "x"}]}')
    r = cli("profiles", "calibrate", "--lut-from", bad, "-o", tmp_path / "p.toml")
    assert r.code != 0 and "latency table" in r.err and str(bad) in r.err
    assert not (tmp_path / "p.toml").exists()


RECORDED = Path(__file__).resolve().parents[1] / "data" / "latency" / "mobilenet_v1_xeon.lut.json"


def test_a_recorded_table_holds_together():
    """A table recorded on the project's Xeon (see its 'note'): every model's kernels, as
    many times as it has them, add up to its sum; leaving a config out leaves out exactly
    the kernels no other config has."""
    t = L.Table.load(RECORDED)
    assert len(t.data["models"]) == 12
    for n, m in enumerate(t.data["models"]):
        kernels = t.model_kernels(n)
        assert sum(t.by_key[k]["ms"] * c for k, _, c in kernels) == pytest.approx(
            m["sum_ms"], rel=1e-5)
        assert sum(c for _, _, c in kernels) == m["ops"]
        rows = [("", "", k, macs) for k, macs, c in kernels for _ in range(c)]
        p = t.predict_kernels(rows, m["dtype"], {n}, interval=False)
        shared = sum(c for k, _, c in kernels if t.by_key[k]["sources"] != [n])
        assert p["measured"] == shared < m["ops"]
        assert p["measured"] + p["scaled"] + p["borrowed"] == m["ops"]


def test_channel_hinges_follow_a_kernel_switch_in_recorded_times():
    """XNNPACK runs int8 GEMMs of wide layers on AMX on that Xeon (820 GMAC/s against 31
    for narrow ones): a power law in the channels cannot follow it, the hinges can."""
    t = L.Table.load(RECORDED)
    rows = [(t.described(e["key"], e["macs"]), e["ms"]) for e in t.data["kernels"]
            if e["kind"].startswith("CONV_2D|int8")]
    with_hinges = M.fit_type([(d.x, d.work, ms) for d, ms in rows], F.MAC_FEATURES)
    plain = M.fit_type([(d.x[:10], d.work, ms) for d, ms in rows], F.MAC_FEATURES[:10])
    assert with_hinges.kind == plain.kind == "ridge"
    assert with_hinges.loo_rms < 0.15 < 0.3 < plain.loo_rms


def test_a_fully_connected_layer_is_predicted_as_the_convolution_it_equals():
    t = make_table(GRID)
    fc = LayerRecord(0, "fc", "FULLY_CONNECTED", input_shapes=[(128,)], output_shape=(100,),
                     macs=12_800, act_dtype="float32", weight_dtype="float32")
    k = t.kernel(L.key_of(fc), fc.macs)
    assert k.how == "borrowed" and "predicted as CONV_2D" in k.note
    same = conv(1, 128, 100)          # a 1x1 convolution of a 1x1 image (α 0.5's head)
    assert k.ms == pytest.approx(law_ms(same), rel=0.05)


def test_calibrate_refuses_an_unwritable_table_before_measuring(cli, tmp_path, monkeypatch):
    import os

    config = tmp_path / "config"
    (config / "edgekit" / "profiles").mkdir(parents=True)
    (config / "edgekit" / "profiles" / "host.lut.json").mkdir()   # a folder where it goes
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    r = cli("profiles", "calibrate", "--lut-from", RECORDED, "-o", tmp_path / "p.toml")
    assert r.code != 0 and "host.lut.json" in r.err
    assert not (tmp_path / "p.toml").exists() and os.listdir(tmp_path) == ["config"]


def test_activation_bytes_per_op_counted_by_hand():
    # a 3x3 conv 8x8x4 -> 8x8x16 reads 256 and writes 1024 elements; an ADD of two
    # 8x8x16 tensors reads its first input (1024) and writes 1024: 4 bytes each in fp32,
    # 1 in int8; the mean over the two ops
    fp32 = [L.key_of(conv(8, 4, 16, k=3)),
            L.key_of(elementwise("ADD", [(8, 8, 16)] * 2, (8, 8, 16)))]
    assert F.bytes_per_op(fp32) == pytest.approx(math.log((1280 + 2048) * 4 / 2))
    int8 = [L.key_of(conv(8, 4, 16, k=3, dtype="int8"))]
    assert F.bytes_per_op(int8) == pytest.approx(math.log(1280))
    assert F.bytes_per_op([]) is None


def footprint_table(a, c, configs=GRID):
    """make_table's kernels, each whole model at sum · (a + c·g), g its log mean
    activation bytes per op (the footprint law) instead of a line in the sum."""
    t = make_table(configs)
    for n, m in enumerate(t.data["models"]):
        g = F.bytes_per_op(k for k, _, cnt in t.model_kernels(n) for _ in range(cnt))
        m["whole_ms"] = m["sum_ms"] * (a[m["dtype"]] + c[m["dtype"]] * g)
    return L.Table("t", t.data)


def test_whole_vs_sum_footprint_law_is_recovered_and_chosen():
    a, c = {"float32": 0.4, "int8": 0.9}, {"float32": 0.07, "int8": 0.02}
    t = footprint_table(a, c)
    for dtype in a:
        line = t.whole_line(dtype)
        assert line["line"] == "footprint"
        assert (line["a"], line["c"]) == pytest.approx((a[dtype], c[dtype]), rel=1e-6)
        assert line["loo"]["footprint"] < 1e-9 < line["loo"]["plain"]
    rs = mobile_net(0.6, 176)              # never in the table
    g = F.bytes_per_op(L.key_of(r) for r in rs)
    p = t.predict(rs, "float32")
    assert p["correction"]["line"] == "footprint"
    truth = sum(law_ms(r) for r in rs) * (0.4 + 0.07 * g)
    assert p["ms"] == pytest.approx(truth, rel=0.01) and p["measured"] == 0
    # where the law is the plain line, the plain line is kept
    plain = make_table(GRID)
    assert plain.whole_line("float32")["line"] == "plain"
    # without the models' kernel counts (older tables) the footprint cannot be read
    for m in plain.data["models"]:
        del m["kernels"]
    assert "loo" not in L.Table("t", plain.data).whole_line("float32")


def test_recorded_table_whole_vs_sum_line():
    # the recorded Xeon table, each whole-timed model left out in turn: both lines fitted
    # on the others, the footprint line used unless the plain one's leave-one-out error
    # is under PLAIN_MARGIN of its own, and the prediction is that line applied to the
    # sum of the model's kernels
    t = L.Table.load(Path(__file__).parent.parent / "data/lut/v3_synthetic_xeon.lut.json")
    timed = [n for n, m in enumerate(t.data["models"]) if m.get("whole_ms")]
    assert len(timed) >= 5
    for n in timed:
        dtype = t.data["models"][n]["dtype"]
        line = t.whole_line(dtype, {n})
        loo = line["loo"]
        assert (line["line"] == "plain") == (loo["plain"] < L.PLAIN_MARGIN * loo["footprint"])
        keys = [k for k, _, cnt in t.model_kernels(n) for _ in range(cnt)]
        p = t.predict_kernels([("", "", k, None) for k in keys], dtype, {n}, interval=False)
        assert p["correction"]["line"] == line["line"]
        if line["line"] == "footprint":
            scale = line["a"] + line["c"] * F.bytes_per_op(keys)
            assert p["ms"] == pytest.approx(scale * p["sum_ms"])
        else:
            assert p["ms"] == pytest.approx(line["a"] * p["sum_ms"] + line["b"])


def test_footprint_line_skips_models_it_cannot_read():
    # a model whose kernel counts point past the table's kernels: no footprint for it,
    # so the plain line (and no leave-one-out error for it), not a traceback
    a, c = {"float32": 0.4, "int8": 0.9}, {"float32": 0.07, "int8": 0.02}
    t = footprint_table(a, c)
    t.data["models"][0]["kernels"].append([10 ** 6, 1])
    t = L.Table("t", t.data)
    assert t.model_footprint(0) == (None, None)
    assert t.whole_line(t.data["models"][0]["dtype"])["line"] == "plain"
    p = t.predict(mobile_net(0.6, 176, t.data["models"][0]["dtype"]),
                  t.data["models"][0]["dtype"])
    assert p["correction"]["line"] == "plain" and p["ms"] > 0


def test_cached_weights_counted_by_hand():
    # fp32 1x1 conv 8x8x4 -> 8x8x16: 4·16 weights of 4 bytes (256 B), a working set of
    # (256 + 1024) activations · 4 B + 256 B = 5,376 B; a 3x3 depthwise 8x8x16: 144
    # weights (576 B), (1024 + 1024) · 4 + 576 = 8,768 B; an ADD: no weights; int8: 1 B
    keys = [L.key_of(conv(8, 4, 16)), L.key_of(conv(8, 16, 16, k=3, depthwise=True)),
            L.key_of(elementwise("ADD", [(8, 8, 16)] * 2, (8, 8, 16)))]
    mib = 2 ** 20
    assert F.cached_weights_mib(keys, 5377) == pytest.approx(256 / mib)
    assert F.cached_weights_mib(keys, 5376) == 0.0
    assert F.cached_weights_mib(keys, 8769) == pytest.approx((256 + 576) / mib)
    assert F.cached_weights_mib([L.key_of(conv(8, 4, 16, dtype="int8"))], 1345) == \
        pytest.approx(64 / mib)


def test_reduction_depth_feature():
    # the K of a convolution's GEMM (kernel size x input channels) past 128: 0 for a
    # 3-channel 3x3 stem (27), log(288 / 128) for a full 3x3 convolution of 32 channels
    at = F.MAC_FEATURES.index("~reduction depth past 128")
    for key, depth in ((L.key_of(conv(16, 3, 32, k=3, stride=2)), 27),
                       (L.key_of(conv(16, 32, 64, k=3)), 288),
                       (L.key_of(conv(16, 256, 64)), 256)):
        assert F.describe(key).x[at] == pytest.approx(max(0.0, math.log(depth / 128)))


def cache_table(a, c, d, l2=2 ** 20):
    """footprint_table's models, each whole model at sum · (a + c·g) + d·w, w the MiB of
    weights of its ops whose working set fits CACHE_SHARE of ``l2`` (the cache law)."""
    t = footprint_table(a, c)
    t.data["environment"] = {"l2_bytes": l2}
    for n, m in enumerate(t.data["models"]):
        keys = [k for k, _, cnt in t.model_kernels(n) for _ in range(cnt)]
        m["whole_ms"] += d[m["dtype"]] * F.cached_weights_mib(keys,
                                                              L.lut_line.CACHE_SHARE * l2)
    return L.Table("t", t.data)


def test_whole_vs_sum_cache_law_is_recovered_and_chosen():
    a, c = {"float32": 0.4, "int8": 0.9}, {"float32": 0.07, "int8": 0.02}
    d = {"float32": 0.08, "int8": 0.03}
    t = cache_table(a, c, d)
    for dtype in a:
        line = t.whole_line(dtype)
        assert line["line"] == "cache"
        assert (line["a"], line["c"], line["d"]) == pytest.approx(
            (a[dtype], c[dtype], d[dtype]), rel=1e-6)
        assert line["loo"]["cache"] < 1e-9 < line["loo"]["footprint"]
    rs = mobile_net(0.6, 176)              # never in the table
    keys = [L.key_of(r) for r in rs]
    w = F.cached_weights_mib(keys, L.lut_line.CACHE_SHARE * 2 ** 20)
    assert w > 0
    p = t.predict(rs, "float32")
    assert p["correction"]["line"] == "cache"
    truth = sum(law_ms(r) for r in rs) * (0.4 + 0.07 * F.bytes_per_op(keys)) + 0.08 * w
    assert p["ms"] == pytest.approx(truth, rel=0.01)
    # a table that does not say its machine's L2 (older tables, a kernel that does not
    # say): the footprint line, as before
    del t.data["environment"]
    assert L.Table("t", t.data).whole_line("float32")["line"] != "cache"


def test_l2_size_read_from_sysfs_matches_getconf():
    import os
    import shutil
    import subprocess

    from edgekit.runtimes.env import fingerprint, l2_bytes

    if not shutil.which("getconf"):
        pytest.skip("no getconf here")
    said = subprocess.run(["getconf", "LEVEL2_CACHE_SIZE"], capture_output=True,
                          text=True).stdout.strip()
    if not said.isdigit() or int(said) <= 0:
        pytest.skip("getconf does not say this machine's L2")
    assert l2_bytes() == int(said)
    assert fingerprint()["l2_bytes"] == l2_bytes(min(os.sched_getaffinity(0)))


def test_a_model_without_time_keeps_the_sum():
    # every kernel of the model missing (0 ms) while its weights would stay in cache: the
    # cache line has no scale to give (was a division by zero), the sum itself is kept
    from edgekit.core import lut_line

    line = {"line": "cache", "a": 0.3, "c": 0.05, "d": 0.04}
    assert lut_line.apply(line, 0.0, 11.0, 2.0) is None
    assert lut_line.apply(line, 1.0, 11.0, 2.0)[0] == pytest.approx(0.3 + 0.55 + 0.08)
    t = cache_table({"float32": 0.4, "int8": 0.9}, {"float32": 0.07, "int8": 0.02},
                    {"float32": 0.08, "int8": 0.03})
    keys = [L.key_of(r) for r in mobile_net(0.6, 176)]
    ms, scale, offset, said = t.whole_of([(k, 0.0) for k in keys], "float32")
    assert (ms, scale, offset, said["line"]) == (0.0, 1.0, 0.0, "plain")


@pytest.mark.parametrize("layout, want", [
    ([("1", "Data", "48K"), ("1", "Instruction", "64K"), ("2", "Unified", "2048K"),
      ("3", "Unified", "491520K")], 2 * 2 ** 20),
    ([("1", "Data", "32K"), ("2", "Unified", "1M")], 2 ** 20),       # a Pi 4: 1 MiB
    ([("1", "Data", "32K"), ("3", "Unified", "8192K")], None),        # no L2 said
    ([("1", "Data", "32K"), ("2", "Unified", "big")], None),
    ([], None),                                                        # no cache folder
])
def test_l2_size_from_a_sysfs_layout(tmp_path, monkeypatch, layout, want):
    from edgekit.runtimes import env

    for i, (level, kind, size) in enumerate(layout):
        d = tmp_path / f"cpu0/cache/index{i}"
        d.mkdir(parents=True)
        for name, value in (("level", level), ("type", kind), ("size", size)):
            (d / name).write_text(value + "\n")
    monkeypatch.setattr(env, "_CACHE", str(tmp_path) + "/cpu{}/cache/index{}/{}")
    assert env.l2_bytes(0) == want
