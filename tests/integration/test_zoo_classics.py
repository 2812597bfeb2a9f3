"""The rest of the zoo against papers, keras.applications and hand-computed figures."""

import pytest

from edgekit.core.errors import EdgekitError, UsageError
from edgekit.services.targets import resolve_target
from tests.integration.conftest import zoo_report


def test_lenet5_by_hand():
    r = zoo_report("lenet5")
    t = r.totals()
    assert t["params"] == 61_706  # 156 + 2,416 + 48,120 + 10,164 + 850
    # C1 5x5x1x6 at 28x28, C3 5x5x6x16 at 10x10, C5 5x5x16x120, F6 120x84, out 84x10
    assert t["macs"] == 117_600 + 240_000 + 48_000 + 10_080 + 840
    assert r.layers[0].output_shape == (32, 32, 1)
    relu = zoo_report("lenet5", activation="relu")
    assert relu.layers[1].attrs["activation"] == "relu"


def test_alexnet_single_tower_by_hand():
    t = zoo_report("alexnet").totals()
    convs = [(11, 3, 96, 55), (5, 96, 256, 27), (3, 256, 384, 13), (3, 384, 384, 13),
             (3, 384, 256, 13)]
    fcs = [(6 * 6 * 256, 4096), (4096, 4096), (4096, 1000)]
    assert t["params"] == sum(k * k * i * o + o for k, i, o, _ in convs) + sum(
        i * o + o for i, o in fcs) == 62_378_344
    assert t["macs"] == sum(k * k * i * o * s * s for k, i, o, s in convs) + sum(
        i * o for i, o in fcs)


@pytest.mark.parametrize("depth, ref", [(16, "VGG16"), (19, "VGG19")])
def test_vgg_equals_keras_applications(keras, depth, ref):
    expected = getattr(keras.applications, ref)(weights=None).count_params()
    assert zoo_report(f"vgg{depth}").totals()["params"] == expected
    assert expected == {16: 138_357_544, 19: 143_667_240}[depth]


@pytest.mark.parametrize("depth, convs", [(11, (1, 1, 2, 2, 2)), (13, (2, 2, 2, 2, 2))])
def test_vgg_a_and_b_by_hand(depth, convs):
    widths, params, macs, cin, hw = (64, 128, 256, 512, 512), 0, 0, 3, 224
    for n, w in zip(convs, widths, strict=True):
        for _ in range(n):
            params += 9 * cin * w + w
            macs += 9 * cin * w * hw * hw
            cin = w
        hw //= 2
    params += (7 * 7 * 512 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 1000 + 1000)
    macs += 7 * 7 * 512 * 4096 + 4096 * 4096 + 4096 * 1000
    t = zoo_report(f"vgg{depth}").totals()
    assert (t["params"], t["macs"]) == (params, macs)
    bn = zoo_report(f"vgg{depth}", batch_norm=True).totals()
    assert bn["params"] - t["params"] == 4 * sum(
        w * n for n, w in zip(convs, widths, strict=True))


def test_nin_by_hand():
    blocks = [(96, 11, 3), (256, 5, 96), (384, 3, 256), (1000, 3, 384)]
    params = sum(k * k * i * f + f + 2 * (f * f + f) for f, k, i in blocks)
    t = zoo_report("nin").totals()
    assert t["params"] == params
    r = zoo_report("nin")
    assert not any(rec.op == "Dense" for rec in r.layers)  # global average pooling instead


# Table 1 of Szegedy et al. 2014: params (K) and ops (M) per row; conv1 ops corrected from the
# table's 34 M to the 118 M that a 7x7x3x64 conv at 112x112 really costs
TABLE1_PARAMS_K = [2.7, 112, 159, 380, 364, 437, 463, 580, 840, 1072, 1388, 1000]
TABLE1_OPS_M = [118, 360, 128, 304, 73, 88, 100, 119, 170, 54, 71, 1]


def test_googlenet_against_table_1():
    t = zoo_report("googlenet").totals()
    table_params = sum(TABLE1_PARAMS_K) * 1e3   # 6.8 M, biases not counted
    assert abs(t["params"] / table_params - 1) < 0.05
    assert abs(t["macs"] / (sum(TABLE1_OPS_M) * 1e6) - 1) < 0.05
    r = zoo_report("googlenet")
    concat = {rec.name: rec.output_shape for rec in r.layers if rec.op == "Concatenate"}
    assert concat["inception_3a_concat"] == (28, 28, 256)
    assert concat["inception_4e_concat"] == (14, 14, 832)
    assert concat["inception_5b_concat"] == (7, 7, 1024)


def test_googlenet_auxiliary_heads():
    base = zoo_report("googlenet").totals()["params"]
    aux = zoo_report("googlenet", aux_classifiers=True)
    head = lambda cin: (cin * 128 + 128) + (4 * 4 * 128 * 1024 + 1024) + (1024 * 1000 + 1000)  # noqa: E731
    assert aux.totals()["params"] == base + head(512) + head(528)
    assert len(aux.outputs) == 3
    with pytest.raises(EdgekitError, match="cannot build googlenet"):
        zoo_report("googlenet", aux_classifiers=True, resolution=32)


def test_inception_v3_equals_keras_applications(keras):
    ref = keras.applications.InceptionV3(weights=None)
    t = zoo_report("inception_v3").totals()
    assert t["params"] == ref.count_params() == 23_851_784


@pytest.mark.parametrize("depth", [121, 169, 201])
def test_densenet_equals_keras_applications(keras, depth):
    ref = getattr(keras.applications, f"DenseNet{depth}")(weights=None).count_params()
    assert zoo_report(f"densenet{depth}").totals()["params"] == ref
    # the paper's k: a smaller growth rate gives a smaller model
    assert zoo_report(f"densenet{depth}", growth_rate=12,
                      resolution=64).totals()["params"] < ref


def test_resnext50_32x4d():
    r = zoo_report("resnext50")
    t = r.totals()
    assert t["trainable_params"] == 25_028_904            # torchvision's resnext50_32x4d
    assert abs(t["params"] / 25.0e6 - 1) < 0.01           # "25.0 M" (Xie et al. Table 1)
    assert abs(t["macs"] / 4.2e9 - 1) < 0.02              # "4.2 x 10^9 FLOPs"
    grouped = [rec for rec in r.layers if rec.attrs.get("groups", 1) == 32]
    assert len(grouped) == 16 and grouped[0].output_shape == (56, 56, 128)
    narrow = zoo_report("resnext50", cardinality=8, width=4, resolution=64).totals()
    assert narrow["params"] < t["params"]


@pytest.mark.parametrize("alpha", [0.35, 0.5, 0.75, 1.0, 1.3, 1.4])
def test_mobilenet_v2_equals_keras_applications(keras, alpha):
    ref = keras.applications.MobileNetV2(weights=None, alpha=alpha).count_params()
    t = zoo_report("mobilenet_v2", alpha=alpha).totals()
    assert t["params"] == ref
    if alpha == 1.0:
        assert abs(t["macs"] / 300e6 - 1) < 0.01          # Sandler et al.: 300 M


@pytest.mark.parametrize("name, knobs, message", [
    ("densenet121", {"growth_rate": 0}, "--growth-rate 0: must be an integer >= 1"),
    ("resnext50", {"cardinality": 0}, "--cardinality 0"),
    ("lenet5", {"activation": "gelu"}, "--activation gelu: must be one of tanh, relu"),
    ("vgg16", {"alpha": 0.5}, "--alpha does not apply to vgg16"),
    ("inception_v3", {"resolution": 74}, "must be an integer >= 75"),
    ("googlenet", {"bypass": "simple"}, "--bypass does not apply to googlenet"),
])
def test_bad_knobs(name, knobs, message):
    with pytest.raises(UsageError, match=message):
        resolve_target(name, knobs)


@pytest.mark.slow
def test_readme_model_table_is_generated():
    """The README's table is the output of tools/zoo_table.py, not typed by hand."""
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location("zoo_table", root / "tools" / "zoo_table.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    readme = (root / "README.md").read_text()
    block = readme.split(tool.BEGIN)[1].split(tool.END)[0].strip()
    assert block == tool.table()
