import re

import pytest

from edgekit.core.errors import UsageError
from edgekit.services.targets import resolve_target
from edgekit.zoo import registry


def test_mobilenet_defaults_and_rho():
    t = resolve_target("mobilenet", {"alpha": 0.5, "rho": 160 / 224})
    assert t.knobs["resolution"] == 160 and t.knobs["alpha"] == 0.5
    assert "rho" not in t.knobs
    assert t.describe() == "mobilenet --alpha 0.5 --resolution 160"


def test_default_target_is_the_small_mobilenet():
    t = resolve_target(None, {})
    assert (t.name, t.knobs["alpha"], t.knobs["resolution"]) == ("mobilenet", 0.25, 96)
    # knobs the user gives still win
    assert resolve_target(None, {"alpha": 0.5}).knobs["alpha"] == 0.5
    assert resolve_target(None, {"rho": 0.5}).knobs["resolution"] == 112


@pytest.mark.parametrize("name, knobs, message", [
    ("mobilenet", {"alpha": 0}, "--alpha 0: must be a number > 0 and <= 4"),
    ("mobilenet", {"alpha": -1.0}, "--alpha -1: must be a number > 0"),
    ("mobilenet", {"alpha": 5.0}, "<= 4"),
    ("mobilenet", {"resolution": 31}, "--resolution 31: must be an integer >= 32"),
    ("mobilenet", {"rho": 0.1}, "gives a 22 px input"),
    ("mobilenet", {"rho": 0.5, "resolution": 128}, "either --resolution or --rho"),
    ("squeezenet", {"version": "1.2"}, "--version 1.2: must be one of 1.0, 1.1"),
    ("squeezenet", {"bypass": "fancy"}, "one of none, simple, complex"),
    ("xception", {"resolution": 64}, "--resolution 64: must be an integer >= 71"),
    ("resnet18", {"alpha": 0.5}, "--alpha does not apply to resnet18 (its knobs: --classes"),
    ("resnet50", {"variant": "v2"}, "one of v1, v1.5"),
    ("mobilenet", {"classes": 0}, "--classes 0: must be an integer >= 1"),
])
def test_bad_knobs_fail_before_building(name, knobs, message):
    with pytest.raises(UsageError) as e:
        resolve_target(name, knobs)
    assert message in str(e.value)
    assert "\n" not in str(e.value)
    assert e.value.exit_code == 2


def test_unknown_model_suggests_close_names():
    with pytest.raises(UsageError, match=r"unknown model 'mobilnet' \(did you mean: mobilenet"):
        resolve_target("mobilnet", {})
    with pytest.raises(UsageError, match="resnet50"):
        resolve_target("resnet05", {})


def test_knobs_are_refused_for_files(tmp_path):
    with pytest.raises(UsageError, match="--alpha: model knobs apply to zoo models"):
        resolve_target(str(tmp_path / "m.keras"), {"alpha": 0.5})
    with pytest.raises(UsageError, match="model file not found"):
        resolve_target(str(tmp_path / "m.keras"), {})
    (tmp_path / "m.txt").write_text("x")
    with pytest.raises(UsageError, match="unsupported model file"):
        resolve_target(str(tmp_path / "m.txt"), {})


def test_registry_knobs_have_help_and_defaults_that_validate():
    for entry in registry.REGISTRY.values():
        assert entry.paper and entry.builder.count(":") == 1
        for knob in entry.knobs:
            assert knob.help
            if knob.default is not None:
                assert knob.validate(knob.default) == knob.default


# ---- --input-shape -------------------------------------------------------------------

def test_input_shape_parsing_keeps_repeated_values():
    from edgekit.core.shapes import parse_shape, parse_shapes

    assert parse_shape("1x224x224x3").dims == (1, 224, 224, 3)      # was 224,3 once
    assert parse_shape("1,3,224,224").dims == (1, 3, 224, 224)
    s = parse_shape("serving_default_input:0:1x3x8x8")
    assert (s.name, s.dims) == ("serving_default_input:0", (1, 3, 8, 8))
    assert [str(x) for x in parse_shapes(["image:1x3x4x4", "mask:1x1x4x4"])] == \
        ["image:1x3x4x4", "mask:1x1x4x4"]


@pytest.mark.parametrize("texts, message", [
    (["1x0x2"], "every dimension an integer from 1"),
    (["axb"], "expected [NAME:]DxDxD"),
    (["1x2", "3x4"], "name each input"),
    (["a:1x2", "a:1x2"], "given twice for input 'a'"),
    ([f"1x{2**40}"], "from 1 to 2147483647"),
])
def test_bad_input_shapes(texts, message):
    from edgekit.core.shapes import parse_shapes

    with pytest.raises(UsageError, match=re.escape(message)):
        parse_shapes(texts)


def test_binding_fills_dynamic_dimensions_only():
    from edgekit.core.shapes import bind, parse_shape, require_bound, unbound

    declared = {"image": (None, 3, None, None), "mask": (1, 1, -1, -1)}
    b = bind(declared, [parse_shape("image:2x3x8x8")])
    assert b == {"image": (2, 3, 8, 8), "mask": (1, 1, None, None)}
    assert unbound(b) == {"mask": [2, 3]}
    with pytest.raises(UsageError, match=r"input 'mask' has dynamic dimensions \(1x1x\?x\?\).*"
                                         r"--input-shape mask:1x1x224x224"):
        require_bound(b, declared, "bench")
    with pytest.raises(UsageError, match="fixed size 1 at position 0, 2 given"):
        bind(declared, [parse_shape("mask:2x1x8x8")])
    with pytest.raises(UsageError, match="has 2 inputs .* name the one you mean"):
        bind(declared, [parse_shape("1x3x8x8")])
    with pytest.raises(UsageError, match="has 4 dimensions .* 3 given"):
        bind(declared, [parse_shape("image:1x3x8")])
