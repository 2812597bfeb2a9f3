"""The zoo against its oracles: keras.applications, the papers, torchvision's counts."""

import pytest

from tests.integration.conftest import zoo_report

# MobileNet paper (Howard et al. 2017): Table 6 (alpha at 224) and Table 7 (resolution, alpha=1)
PAPER_MOBILENET_MMACS = {(1.0, 224): 569, (0.75, 224): 325, (0.5, 224): 149, (0.25, 224): 41,
                         (1.0, 192): 418, (1.0, 160): 290, (1.0, 128): 186}


@pytest.mark.parametrize("alpha", [0.25, 0.5, 0.75, 1.0])
@pytest.mark.parametrize("resolution", [128, 160, 192, 224])
def test_mobilenet_equals_keras_applications(keras, alpha, resolution):
    ref = keras.applications.MobileNet(weights=None, alpha=alpha,
                                       input_shape=(resolution, resolution, 3))
    ours = zoo_report("mobilenet", alpha=alpha, resolution=resolution)
    totals = ours.totals()
    assert totals["params"] == ref.count_params()
    trainable = sum(int(w.numpy().size) for w in ref.trainable_weights)
    assert totals["trainable_params"] == trainable
    # same architecture: the same per-layer output shapes for every weighted layer
    ref_shapes = [tuple(layer.output.shape[1:]) for layer in ref.layers if layer.weights]
    our_shapes = [r.output_shape for r in ours.layers if r.params]
    assert our_shapes == ref_shapes


@pytest.mark.parametrize("key, paper", PAPER_MOBILENET_MMACS.items())
def test_mobilenet_macs_match_the_paper(key, paper):
    alpha, resolution = key
    macs = zoo_report("mobilenet", alpha=alpha, resolution=resolution).totals()["macs"]
    assert abs(macs / 1e6 - paper) / paper < 0.01


def test_mobilenet_macs_by_the_formula():
    # alpha=1, 224: conv1 + 13 depthwise-separable blocks + the 1x1 classifier, by hand
    blocks = [(32, 64, 112), (64, 128, 56), (128, 128, 56), (128, 256, 28), (256, 256, 28),
              (256, 512, 14)] + [(512, 512, 14)] * 5 + [(512, 1024, 7), (1024, 1024, 7)]
    expected = 3 * 3 * 3 * 32 * 112 * 112
    expected += sum(9 * cin * hw * hw + cin * cout * hw * hw for cin, cout, hw in blocks)
    expected += 1024 * 1000
    assert zoo_report("mobilenet").totals()["macs"] == expected


def test_mobilenet_depth_multiplier_is_not_rho():
    base = zoo_report("mobilenet", alpha=0.25, resolution=96)
    dm2 = zoo_report("mobilenet", alpha=0.25, resolution=96, depth_multiplier=2)
    rho = zoo_report("mobilenet", alpha=0.25, rho=96 / 224)
    assert rho.totals()["macs"] == base.totals()["macs"]
    dw = [r for r in dm2.layers if r.op == "DepthwiseConv2D"]
    assert all(r.output_shape[-1] == 2 * r.input_shapes[0][-1] for r in dw)


# torchvision's published parameter counts equal our *trainable* counts (BN statistics are
# buffers there, non-trainable params in Keras); He et al. Table 1 gives the FLOPs (MACs).
RESNETS = {18: (11_689_512, 1.8), 34: (21_797_672, 3.6), 50: (25_557_032, 3.8),
           101: (44_549_160, 7.6), 152: (60_192_808, 11.3)}


@pytest.mark.parametrize("depth", RESNETS)
def test_resnet_follows_he_et_al(depth):
    params, gmacs = RESNETS[depth]
    report = zoo_report(f"resnet{depth}")
    t = report.totals()
    assert t["trainable_params"] == params
    assert abs(t["macs"] / 1e9 - gmacs) / gmacs < 0.03
    convs = [r for r in report.layers if r.op == "Conv2D"]
    assert all(r.params == r.params_trainable for r in convs)  # no bias, BN follows
    assert all(not r.attrs.get("activation") for r in convs)
    bn_channels = sum(r.output_shape[-1] for r in report.layers if r.op == "BatchNormalization")
    assert t["non_trainable_params"] == 2 * bn_channels


def test_resnet34_for_ten_classes():
    t = zoo_report("resnet34", classes=10).totals()
    assert (t["params"], t["trainable_params"]) == (21_306_826, 21_289_802)


def test_resnet50_stride_placement():
    v1 = zoo_report("resnet50").totals()
    v15 = zoo_report("resnet50", variant="v1.5").totals()
    assert v1["params"] == v15["params"]
    assert abs(v15["macs"] / 1e9 - 4.09) < 0.01  # torchvision's 4.09 GMACs


def test_squeezenet_versions_and_bypass():
    v10 = zoo_report("squeezenet").totals()
    v11 = zoo_report("squeezenet", version="1.1").totals()
    assert v10["params"] == 1_248_424
    assert v11["params"] == 1_235_496
    assert 2.2 < v10["macs"] / v11["macs"] < 2.6  # "2.4x less computation"
    assert zoo_report("squeezenet", bypass="simple").totals()["params"] == 1_248_424
    # complex bypass: 1x1 convs with bias around fire2/4/6/8: 96->128, 128->256, ...
    extra = sum(cin * cout + cout for cin, cout in ((96, 128), (128, 256), (256, 384),
                                                      (384, 512)))
    assert zoo_report("squeezenet", bypass="complex").totals()["params"] == 1_248_424 + extra


def test_squeezenet_pools_in_ceil_mode():
    report = zoo_report("squeezenet")
    by_name = {r.name: r for r in report.layers}
    assert by_name["conv10"].output_shape == (13, 13, 1000)  # Caffe's 13x13 at 224


def test_xception_equals_keras_applications(keras):
    ref = keras.applications.Xception(weights=None)
    t = zoo_report("xception").totals()
    assert t["params"] == ref.count_params() == 22_910_480
    assert abs(t["macs"] / 1e9 - 8.4) / 8.4 < 0.02  # the paper's 8.4e9 multiply-adds


@pytest.mark.parametrize("name, knobs", [("mobilenet", {"alpha": 0.25, "resolution": 32}),
                                         ("squeezenet", {"resolution": 64}),
                                         ("xception", {"resolution": 71}),
                                         ("resnet18", {"resolution": 32, "classes": 10}),
                                         ("resnet50", {"no_top": True, "resolution": 64})])
def test_every_family_builds_at_its_smallest_size(name, knobs):
    t = zoo_report(name, **knobs).totals()
    assert t["params"] > 0 and t["macs"] > 0 and t["peak_activation_bytes"] > 0
