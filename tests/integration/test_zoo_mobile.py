"""MobileNet v3, EfficientNet-Lite and MobileNet v4 against their oracles: keras.applications
(v3, layer for layer), the papers' tables, and counts written out here from the papers'
architecture tables, layer by layer, never from the builders. The counting convention is
timm's, counted in torch (convolutions and the classifier; no batch norm, activation or
element-wise work): the figures the formulas must reproduce first are timm's own."""

import json
import math
from functools import cache

import pytest

from tests.integration import conftest


@cache
def zoo_report(name, **knobs):
    """One analysis per config for the whole module (several tests read the same one)."""
    return conftest.zoo_report(name, **knobs)


def totals(name, **knobs):
    return zoo_report(name, **knobs).totals()

# ---- an independent count: a list of (kind, c_in, c_out, kernel, output side) -------------


def conv(cin, cout, k, out, groups=1, bias=False, bn=True):
    """(trainable params, MACs) of a k x k convolution with ``out`` x ``out`` outputs."""
    params = k * k * cin // groups * cout + (cout if bias else 0) + (2 * cout if bn else 0)
    return params, k * k * cin // groups * cout * out * out


def dw(c, k, out):
    return conv(c, c, k, out, groups=c)


def total(layers):
    return tuple(map(sum, zip(*layers, strict=True)))


def side(resolution, stride):
    return math.ceil(resolution / stride)


# MobileNet v3, the paper's Table 1 (Large) and 2 (Small): kernel, expansion size, output,
# squeeze-excite (its squeeze width: the expansion / 4 rounded to 8 as the TF code does),
# stride. The last row of each is the 1x1 conv before pooling, then the head and classifier.
V3_LARGE = [(3, 16, 16, 0, 1), (3, 64, 24, 0, 2), (3, 72, 24, 0, 1), (5, 72, 40, 24, 2),
            (5, 120, 40, 32, 1), (5, 120, 40, 32, 1), (3, 240, 80, 0, 2), (3, 200, 80, 0, 1),
            (3, 184, 80, 0, 1), (3, 184, 80, 0, 1), (3, 480, 112, 120, 1),
            (3, 672, 112, 168, 1), (5, 672, 160, 168, 2), (5, 960, 160, 240, 1),
            (5, 960, 160, 240, 1)]
V3_SMALL = [(3, 16, 16, 8, 2), (3, 72, 24, 0, 2), (3, 88, 24, 0, 1), (5, 96, 40, 24, 2),
            (5, 240, 40, 64, 1), (5, 240, 40, 64, 1), (5, 120, 48, 32, 1),
            (5, 144, 48, 40, 1), (5, 288, 96, 72, 2), (5, 576, 96, 144, 1),
            (5, 576, 96, 144, 1)]


def v3_count(blocks, last, head, resolution=224, classes=1000):
    hw = side(resolution, 2)
    layers = [conv(3, 16, 3, hw)]
    cin = 16
    for k, exp, cout, se, s in blocks:
        if exp != cin:
            layers.append(conv(cin, exp, 1, hw))
        hw = side(hw, s)
        layers.append(dw(exp, k, hw))
        if se:
            layers += [conv(exp, se, 1, 1, bias=True, bn=False),
                       conv(se, exp, 1, 1, bias=True, bn=False)]
        layers.append(conv(exp, cout, 1, hw))
        cin = cout
    layers += [conv(cin, last, 1, hw), conv(last, head, 1, 1, bias=True, bn=False),
               conv(head, classes, 1, 1, bias=True, bn=False)]
    return total(layers)


def test_v3_formula_reproduces_timm():
    # timm tf_mobilenetv3_{large,small}_100 counted in torch at 224 px: MACs
    assert v3_count(V3_LARGE, 960, 1280)[1] == 216_589_760
    assert v3_count(V3_SMALL, 576, 1024)[1] == 56_510_400


@pytest.mark.parametrize("variant, blocks, last, head", [("large", V3_LARGE, 960, 1280),
                                                          ("small", V3_SMALL, 576, 1024)])
def test_v3_counts_by_the_formula(variant, blocks, last, head):
    params, macs = v3_count(blocks, last, head)
    t = totals("mobilenet_v3", variant=variant, alpha=1.0, minimalistic=False)
    assert abs(t["macs"] - macs) / macs < 0.005
    assert t["trainable_params"] == params


@pytest.mark.parametrize("variant", ["large", "small"])
@pytest.mark.parametrize("minimalistic", [False, True])
@pytest.mark.parametrize("alpha", [0.75, 1.0])
def test_v3_equals_keras_applications(keras, variant, minimalistic, alpha):
    _same_as_keras(keras, variant, minimalistic, alpha)


@pytest.mark.parametrize("variant, alpha", [("large", 0.35), ("small", 1.5)])
def test_v3_equals_keras_applications_at_other_widths(keras, variant, alpha):
    _same_as_keras(keras, variant, False, alpha)   # 1.5: the head conv grows with alpha too


def _same_as_keras(keras, variant, minimalistic, alpha):
    from edgekit.zoo.registry import build

    app = {"large": keras.applications.MobileNetV3Large,
           "small": keras.applications.MobileNetV3Small}[variant]
    ref = app(weights=None, alpha=alpha, minimalistic=minimalistic, input_shape=(96, 96, 3))
    ours, _ = build("mobilenet_v3", {"variant": variant, "alpha": alpha,
                                     "minimalistic": minimalistic, "resolution": 96})
    assert ours.count_params() == ref.count_params()
    # the same weighted layers, in the same order, with the same names and shapes
    def weighted(m):
        return [(layer.name, [tuple(w.shape) for w in layer.weights])
                for layer in m.layers if layer.weights]

    assert weighted(ours) == weighted(ref)


def test_v3_computes_what_keras_applications_computes(keras):
    """keras.applications' weights copied in order: the same outputs (activations, squeeze-
    excite and its hard sigmoid in the same places), Keras' Rescaling layer standing for
    the zoo's preprocessed input (x in -1..1 is 127.5 * (x + 1) in pixels)."""
    import numpy as np

    from edgekit.zoo.registry import build

    ref = keras.applications.MobileNetV3Large(weights=None, input_shape=(64, 64, 3))
    ours, _ = build("mobilenet_v3", {"resolution": 64})
    rng = np.random.default_rng(0)
    weights = [w + rng.normal(0, 0.05, w.shape).astype(w.dtype) for w in ref.get_weights()]
    ref.set_weights(weights)      # BN statistics and biases away from 0/1, so all count
    ours.set_weights(weights)
    x = rng.uniform(-1, 1, (2, 64, 64, 3)).astype("float32")
    want = keras.Model(ref.input, ref.get_layer("logits").output)(127.5 * (x + 1))
    got = keras.Model(ours.input, ours.get_layer("logits").output)(x)
    want, got = np.asarray(want), np.asarray(got)
    assert np.abs(got - want).max() < 1e-4 * np.abs(want).max() and want.std() > 0


# Howard et al. 2019, Table 3 (MAdds, millions), and the minimalistic Large of the model
# garden's checkpoint table: the zoo's count within 2 % (the paper rounds, and counts the
# head a little differently)
V3_PAPER_MMACS = {("large", 1.0, False): 219, ("large", 0.75, False): 155,
                  ("small", 1.0, False): 56, ("small", 0.75, False): 44,
                  ("large", 1.0, True): 209}


@pytest.mark.parametrize("key", V3_PAPER_MMACS)
def test_v3_macs_match_the_paper(key):
    variant, alpha, minimalistic = key
    macs = totals("mobilenet_v3", variant=variant, alpha=alpha,
                  minimalistic=minimalistic)["macs"] / 1e6
    assert abs(macs - V3_PAPER_MMACS[key]) / V3_PAPER_MMACS[key] < 0.02


def test_v3_layer_names_are_readable():
    names = {r.name for r in zoo_report("mobilenet_v3", variant="small",
                                        resolution=64).layers}
    assert {"expanded_conv_3_project", "expanded_conv_3_expand_hard_swish",
            "expanded_conv_3_squeeze_excite_hard_sigmoid", "expanded_conv_1_depthwise_relu",
            "conv_2", "logits"} <= names


# ---- EfficientNet-Lite: B0's stages (kernel, repeats, channels, expansion, stride), ReLU6,
# no squeeze-excite, stem 32 and head 1280 fixed, first and last stages' repeats fixed ----

# Lite0 and Lite4 as the official builder scales them, written out: Lite4 has width 1.4
# (16 -> 24, 24 -> 32, 40 -> 56, 80 -> 112, 112 -> 160, 192 -> 272, 320 -> 448 after
# rounding to 8) and depth 1.8 (ceil: 2 -> 4, 3 -> 6, 4 -> 8), at 300 px
LITE0 = [(3, 1, 16, 1, 1), (3, 2, 24, 6, 2), (5, 2, 40, 6, 2), (3, 3, 80, 6, 2),
         (5, 3, 112, 6, 1), (5, 4, 192, 6, 2), (3, 1, 320, 6, 1)]
LITE4 = [(3, 1, 24, 1, 1), (3, 4, 32, 6, 2), (5, 4, 56, 6, 2), (3, 6, 112, 6, 2),
         (5, 6, 160, 6, 1), (5, 8, 272, 6, 2), (3, 1, 448, 6, 1)]


def lite_count(stages, resolution, classes=1000):
    hw = side(resolution, 2)
    layers = [conv(3, 32, 3, hw)]
    cin = 32
    for k, repeats, cout, t, stride in stages:
        for i in range(repeats):
            if t != 1:
                layers.append(conv(cin, cin * t, 1, hw))
            hw = side(hw, stride if i == 0 else 1)
            layers += [dw(cin * t, k, hw), conv(cin * t, cout, 1, hw)]
            cin = cout
    layers += [conv(cin, 1280, 1, hw), conv(1280, classes, 1, 1, bias=True, bn=False)]
    return total(layers)


def test_lite_formula_reproduces_timm():
    # timm tf_efficientnet_lite0 counted in torch: 4,652,008 params, 385,187,552 MACs
    assert lite_count(LITE0, 224) == (4_652_008, 385_187_552)


@pytest.mark.parametrize("variant, stages, resolution", [("0", LITE0, 224),
                                                          ("4", LITE4, 300)])
def test_lite_counts_by_the_formula(variant, stages, resolution):
    params, macs = lite_count(stages, resolution)
    t = zoo_report("efficientnet_lite", variant=variant).totals()   # its own resolution
    assert t["trainable_params"] == params
    assert abs(t["macs"] - macs) / macs < 0.005
    # a peer port's table (d-li14/efficientnet-lite.pytorch): Lite4 13.007 M, 2.553 GFLOPs
    if variant == "4":
        assert (round(params / 1e6, 3), round(macs / 1e9, 3)) == (13.007, 2.553)


# a peer port's table (d-li14/efficientnet-lite.pytorch, counted in torch): params (M) and
# GFLOPs (its multiply-accumulates, G) of Lite1-3 at their own resolutions
LITE_PEER = {"1": (5.417, 0.600), "2": (6.092, 0.860), "3": (8.197, 1.383)}


@pytest.mark.parametrize("variant", LITE_PEER)
def test_lite_against_a_peer_port(variant):
    report = zoo_report("efficientnet_lite", variant=variant)
    t = report.totals()
    assert (round(t["trainable_params"] / 1e6, 3), round(t["macs"] / 1e9, 3)) == \
        LITE_PEER[variant]
    if variant == "2":   # Lite2 is 1.1x wide and 260 px; stem and head stay as in Lite0
        assert tuple(report.model["input_shape"]) == (260, 260, 3)
        by_name = {r.name: r for r in report.layers}
        assert by_name["stem_conv"].output_shape[-1] == 32
        assert by_name["top_conv"].output_shape[-1] == 1280
        assert not any("se_" in n or "excite" in n for n in by_name)
        acts = {r.attrs["activation"] for r in report.layers if r.op == "ReLU"}
        assert acts == {"relu6"}


# ---- MobileNet v4 Conv-S, the paper's Table (timm mobilenetv4_conv_small), layer by layer -


def mnv4_conv_small(resolution=224, classes=1000):
    s = [side(resolution, 2 ** i) for i in range(6)]     # 224, 112, 56, 28, 14, 7
    layers = [conv(3, 32, 3, s[1]),                       # stem
              conv(32, 32, 3, s[2]), conv(32, 32, 1, s[2]),
              conv(32, 96, 3, s[3]), conv(96, 64, 1, s[3]),
              # ExtraDW 5x5/5x5, stride on the second: 64 -> 192 -> 96
              dw(64, 5, s[3]), conv(64, 192, 1, s[3]), dw(192, 5, s[4]), conv(192, 96, 1, s[4])]
    for _ in range(4):                                    # IB 3x3, expansion 2
        layers += [conv(96, 192, 1, s[4]), dw(192, 3, s[4]), conv(192, 96, 1, s[4])]
    layers += [dw(96, 3, s[4]), conv(96, 384, 1, s[4]), conv(384, 96, 1, s[4]),  # ConvNext
               # ExtraDW 3x3/3x3 stride 2: 96 -> 576 -> 128
               dw(96, 3, s[4]), conv(96, 576, 1, s[4]), dw(576, 3, s[5]), conv(576, 128, 1, s[5]),
               dw(128, 5, s[5]), conv(128, 512, 1, s[5]), dw(512, 5, s[5]),       # ExtraDW
               conv(512, 128, 1, s[5])]
    for mid, k in ((512, 5), (384, 5), (512, 3), (512, 3)):                      # IB
        layers += [conv(128, mid, 1, s[5]), dw(mid, k, s[5]), conv(mid, 128, 1, s[5])]
    layers += [conv(128, 960, 1, s[5]), conv(960, 1280, 1, 1),                   # head + BN
               conv(1280, classes, 1, 1, bias=True, bn=False)]
    return total(layers)


def test_mnv4_formula_reproduces_timm():
    # timm mobilenetv4_conv_small counted in torch: 3,774,024 params, 186,005,568 MACs
    assert mnv4_conv_small() == (3_774_024, 186_005_568)


def test_mnv4_conv_small_counts_by_the_formula():
    params, macs = mnv4_conv_small()
    t = zoo_report("mobilenet_v4").totals()
    assert t["trainable_params"] == params
    assert abs(t["macs"] - macs) / macs < 0.005


def test_mnv4_conv_medium_against_the_paper():
    # Qin et al. 2024: MNv4-Conv-M, 1.0 G MACs at its 256 px; timm: 9.72 M params
    t = zoo_report("mobilenet_v4", variant="conv_medium").totals()
    assert abs(t["macs"] / 1e9 - 1.0) < 0.1
    assert round(t["trainable_params"] / 1e6, 2) == 9.72


# ---- the catalogue: knobs, defaults and published figures ----------------------------------


def test_each_variant_has_its_own_resolution_unless_given():
    from edgekit.zoo.registry import get

    lite = get("efficientnet_lite")
    assert [lite.validate({"variant": v})["resolution"] for v in "01234"] == \
        [224, 240, 260, 280, 300]
    assert lite.validate({"variant": "4", "resolution": 128})["resolution"] == 128
    assert get("mobilenet_v4").validate({"variant": "conv_medium"})["resolution"] == 256


@pytest.mark.parametrize("args, message", [
    (("mobilenet_v3", "--variant", "medium"), "--variant medium: must be one of large, small"),
    (("efficientnet_lite", "--variant", "5"), "--variant 5: must be one of 0, 1, 2, 3, 4"),
    (("efficientnet_lite", "--alpha", "0.5"), "--alpha does not apply to efficientnet_lite"),
    (("mobilenet_v4", "--minimalistic"), "--minimalistic does not apply to mobilenet_v4"),
    (("resnet50", "--variant", "small"), "--variant small: must be one of v1, v1.5"),
])
def test_bad_knobs_are_one_line(cli, args, message):
    r = cli("analyze", *args)
    assert r.code == 2
    assert len(r.err_lines) == 1 and message in r.err_lines[0]


def test_sweep_names_the_models_it_can_vary(cli):
    r = cli("sweep", "squeezenet")       # EfficientNet-Lite and v4 sweep their variants
    assert r.code == 2 and len(r.err_lines) == 1
    assert "no --alpha or --variant knob" in r.err
    assert all(m in r.err for m in ("mobilenet_v3", "efficientnet_lite", "mobilenet_v4"))


def test_models_json_lists_the_published_figures(cli):
    r = cli("models", "--json")
    models = {m["name"]: m for m in json.loads(r.out)["models"]}
    v3 = {(p["knobs"]["variant"], p["alpha"], p["quant"], p["knobs"].get("minimalistic", False)):
          p["top1"] for p in models["mobilenet_v3"]["published"]}
    assert v3[("large", 1.0, "none", False)] == 75.2
    assert v3[("small", 0.75, "none", False)] == 65.4
    assert v3[("small", 1.0, "none", True)] == 61.9
    lite = {(p["knobs"]["variant"], p["quant"]): p
            for p in models["efficientnet_lite"]["published"]}
    assert [lite[(v, "none")]["top1"] for v in "01234"] == [75.1, 76.7, 77.6, 79.8, 81.5]
    assert lite[("4", "none")]["resolution"] == 300
    assert lite[("0", "none")]["source"]["id"] == "tf-tpu-efficientnet-lite"
    assert [p["top1"] for p in models["mobilenet_v4"]["published"]] == [73.8, 79.9]


# ---- the pipeline: hard-swish and squeeze-excite through both int8 converters --------------


def test_v3_exports_to_int8_in_both_formats_and_counts_alike(tmp_path, cli):
    out = tmp_path / "v3"
    knobs = {"variant": "small", "alpha": 0.5, "resolution": 64}
    r = cli("export", "mobilenet_v3", "--variant", "small", "--alpha", "0.5", "--resolution",
            "64", "--quant", "int8", "-n", "8", "-o", out, "--json")
    assert r.code == 0, r.err
    manifest = json.loads(r.out)
    keras_macs = totals("mobilenet_v3", **knobs)["macs"]
    files = {a["format"]: a for a in manifest["artifacts"]}
    assert set(files) == {"tflite", "onnx"}
    for fmt, a in files.items():
        f = a["fidelity"]
        assert a["quantization"]["scheme"] == "int8" and f["samples"] == 8
        # int8 moves an untrained v3's logits (hard-swish, squeeze-excite) but keeps them
        # close: the figures are measured, finite and reported per format
        assert 0.5 < f["cosine"] < 1.0 and math.isfinite(f["sqnr_db"])
        # the exported file, read back by its own reader, has the Keras model's MACs
        back = cli("analyze", out / a["file"], "--json")
        assert back.code == 0, back.err
        t = json.loads(back.out)["totals"]
        assert t["macs"] == keras_macs and t["uncounted_layers"] == []
        ops = {layer["op"] for layer in json.loads(back.out)["layers"]}
        if fmt == "tflite":
            assert "HARD_SWISH" in ops       # the converter kept hard-swish as one int8 op


def test_v3_takes_keras_applications_weights(keras, tmp_path):
    """--weights: a file saved from keras.applications.MobileNetV3Small loads into the zoo's
    (through pretrained.load, shapes checked in order), and --weights imagenet looks for
    the file name keras.applications itself downloads, for each of its checkpoints."""
    import numpy as np
    from keras.src.applications.mobilenet_v3 import WEIGHTS_HASHES

    from edgekit.zoo.pretrained import imagenet_file, load
    from edgekit.zoo.registry import build, get

    knobs = get("mobilenet_v3").validate({"variant": "small", "alpha": 0.75,
                                          "resolution": 64})
    app = keras.applications.MobileNetV3Small(weights=None, alpha=0.75, input_shape=(64, 64, 3))
    path = tmp_path / "small.weights.h5"
    app.save_weights(str(path))
    ours, _ = build("mobilenet_v3", knobs)
    assert "MobileNetV3Small layout" in load(ours, "mobilenet_v3", knobs, path)
    assert all(np.array_equal(a, b) for a, b in zip(ours.get_weights(), app.get_weights(),
                                                    strict=True))
    for key in WEIGHTS_HASHES:      # e.g. large_minimalistic_224_1.0_float
        variant, *rest = key.split("_")
        k = {"variant": variant, "minimalistic": "minimalistic" in rest,
             "alpha": float(key.split("_224_")[1].split("_")[0])}
        assert imagenet_file("mobilenet_v3", k) == f"weights_mobilenet_v3_{key}.h5"
        assert imagenet_file("mobilenet_v3", {**k, "no_top": True}) == \
            f"weights_mobilenet_v3_{key}_no_top_v2.h5"
