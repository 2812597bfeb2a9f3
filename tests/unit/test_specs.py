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
