"""A sweep's grid without TensorFlow (issue 30): the axes each model has (MobileNet v3's
minimalistic setting among them), the configs they expand to (counted as the product of the
axes, resolutions from the official tables), the ids and store keys (a store written before
variants keeps its MobileNet v1 keys, one written before minimalistic was swept its v3
rows), the published figure of each config (from the papers' tables, written out here), bad
values refused in one line before any work, and the command's frozen plan."""

import hashlib
import json

import pytest

from edgekit.core.errors import UsageError
from edgekit.services.sweep import SweepSpec
from edgekit.services.sweep_configs import config_id, grid_of

# the official EfficientNet-Lite input sizes (TensorFlow TPU repository, efficientnet/lite)
# and those of the MobileNet v4 conv models' ImageNet results (Conv-S 224, Conv-M 256)
LITE_PX = {"0": 224, "1": 240, "2": 260, "3": 280, "4": 300}
MNV4_PX = {"conv_small": 224, "conv_medium": 256}


def _configs(tmp_path, **kw):
    return list(SweepSpec(out_dir=tmp_path / "out", **kw).validate().configs)


def test_mobilenet_v1_keeps_its_grid_and_ids(tmp_path):
    configs = _configs(tmp_path, alphas=[0.25, 0.5], resolutions=[96, 128])
    assert len(configs) == 2 * 2 * 2                       # α × px × {none, int8}
    assert configs[0] == {"id": "mobilenet_a0.25_r96_none", "model": "mobilenet",
                          "alpha": 0.25, "resolution": 96, "quant": "none"}
    assert all("variant" not in c for c in configs)
    default = _configs(tmp_path)                             # α {.25,.5,.75,1} × 128..224
    assert len(default) == 4 * 4 * 2
    assert {c["resolution"] for c in default} == {128, 160, 192, 224}


def test_lite_sweeps_variants_each_at_its_own_resolution(tmp_path):
    configs = _configs(tmp_path, model="efficientnet_lite", quants=["none", "int8"])
    assert len(configs) == 5 * 2                            # every variant by default
    assert {c["variant"]: c["resolution"] for c in configs} == LITE_PX
    assert all("alpha" not in c for c in configs)           # no made-up α
    assert configs[0]["id"] == "efficientnet_lite_0_r224_none"
    some = _configs(tmp_path, model="efficientnet_lite", variants=["0", "2"],
                    resolutions=[128], quants=["int8"])
    assert [(c["variant"], c["resolution"]) for c in some] == [("0", 128), ("2", 128)]
    v4 = _configs(tmp_path, model="mobilenet_v4", quants=["none"])
    assert {c["variant"]: c["resolution"] for c in v4} == MNV4_PX
    grid = grid_of(configs, ["none", "int8"], [])
    assert grid == {"variant": list(LITE_PX), "resolution": list(LITE_PX.values()),
                    "quant": ["none", "int8"], "runtime": []}


def test_v3_sweeps_variant_alpha_and_resolution(tmp_path):
    default = _configs(tmp_path, model="mobilenet_v3", alphas=[1.0], resolutions=[224])
    assert [c["variant"] for c in default] == ["large", "large"]   # Large unless --variant
    configs = _configs(tmp_path, model="mobilenet_v3", variants=["small", "large"],
                       alphas=[0.35, 0.75], resolutions=[96, 224], quants=["none"])
    assert len(configs) == 2 * 2 * 2
    assert configs[0]["id"] == "mobilenet_v3_small_a0.35_r96_none"
    assert len({c["id"] for c in configs}) == len(configs)


def test_alike_configs_are_kept_once(tmp_path):
    """Lite0 at its own 224 px and at --resolution 224 are one model."""
    configs = _configs(tmp_path, model="efficientnet_lite", variants=["0"],
                       resolutions=[224, 224], quants=["none"])
    assert [c["id"] for c in configs] == ["efficientnet_lite_0_r224_none"]


@pytest.mark.parametrize("spec,message", [
    (dict(model="efficientnet_lite", variants=["7"]), "--variant 7: must be"),
    (dict(model="efficientnet_lite", alphas=[0.5]), "--alpha: efficientnet_lite has no"),
    (dict(model="mobilenet", variants=["small"]), "--variant: mobilenet has no"),
    (dict(model="mobilenet_v4", variants=["conv_large"]), "--variant conv_large"),
    (dict(model="mobilenet_v3", variants=["small"], alphas=[9.0]), "--alpha 9"),
    (dict(model="efficientnet_lite", resolutions=[8]), "--resolution 8"),
    (dict(model="squeezenet"), "no --alpha or --variant"),
])
def test_bad_values_are_one_line_before_any_work(tmp_path, spec, message):
    out = tmp_path / "out"
    with pytest.raises(UsageError, match=message) as e:
        SweepSpec(out_dir=out, **spec).validate()
    assert "\n" not in str(e.value) and not out.exists()


@pytest.mark.parametrize("args,message", [
    (["efficientnet_lite", "--variant", "0,9"], "--variant 9"),
    (["efficientnet_lite", "--variant", ","], "--variant needs"),
    (["mobilenet_v4", "--alpha", "0.5"], "--alpha: mobilenet_v4 has no"),
])
def test_the_command_exits_2_before_any_work(cli, tmp_path, args, message):
    r = cli("sweep", *args, "-o", tmp_path / "out")
    assert r.code == 2 and message in r.err
    assert not (tmp_path / "out").exists()


def test_store_keys_name_the_variant_and_keep_old_v1_keys():
    from edgekit.core.numbers import dumps
    from edgekit.export.cache import versions_digest
    from edgekit.services.sweep_store import stage_key

    settings = {"profile": None, "runtimes": ["litert"], "validation": None}
    old_id = "mobilenet_a0.25_r96_int8"        # the id and key formula before variants
    text = dumps({"config": old_id, **settings, "tools": versions_digest()}, sort_keys=True)
    old_key = f"{old_id}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"
    c = {"id": config_id("mobilenet", 0.25, 96, "int8"), "model": "mobilenet"}
    assert stage_key(c, settings) == old_key
    ids = [config_id("efficientnet_lite", None, 224, "int8", v) for v in ("0", "1")]
    ids += [config_id("mobilenet_v3", 1.0, 224, "int8", v) for v in ("small", "large")]
    keys = {stage_key({"id": i}, settings) for i in ids}
    assert len(keys) == 4 and all(k.startswith(i) for k, i in zip(sorted(keys), sorted(ids),
                                                                    strict=True))


def test_an_old_store_is_read(tmp_path):
    """A line written before variants (no 'variant' key) loads; a Lite row without α too."""
    from edgekit.services.sweep_store import Store
    from tests.unit.test_user_files import build_row

    old = build_row(0)
    lite = {k: v for k, v in build_row(1).items() if k != "alpha"} | {
        "id": "efficientnet_lite_1_r240_int8", "model": "efficientnet_lite", "variant": "1",
        "resolution": 240}
    (tmp_path / "sweep.jsonl").write_text("".join(
        json.dumps({"stage": "build", "key": k, "result": r}) + "\n"
        for k, r in (("old", old), ("lite", lite))))
    s = Store(tmp_path)
    assert s.skipped == 0 and s.get("build", "old") == old and s.get("build", "lite") == lite


# TensorFlow's EfficientNet-Lite table (fp32 / int8 top-1), Howard et al. 2019 Table 3 and
# Qin et al. 2024 Tab. 6 (MNv4 Conv-S 73.8 at 224 px, Conv-M 79.9 at 256 px)
@pytest.mark.parametrize("config,top1", [
    ({"model": "efficientnet_lite", "variant": "0", "resolution": 224, "quant": "none"}, 75.1),
    ({"model": "efficientnet_lite", "variant": "4", "resolution": 300, "quant": "int8"}, 80.2),
    ({"model": "efficientnet_lite", "variant": "0", "resolution": 128, "quant": "none"}, None),
    ({"model": "mobilenet_v3", "variant": "small", "alpha": 1.0, "resolution": 224,
      "quant": "none"}, 67.4),
    ({"model": "mobilenet_v3", "variant": "large", "alpha": 0.75, "resolution": 224,
      "quant": "none"}, 73.3),
    ({"model": "mobilenet_v3", "variant": "small", "alpha": 0.35, "resolution": 96,
      "quant": "none"}, None),
    ({"model": "mobilenet_v4", "variant": "conv_medium", "resolution": 224,
      "quant": "none"}, None),
    ({"model": "mobilenet_v4", "variant": "conv_medium", "resolution": 256,
      "quant": "none"}, 79.9),
    ({"model": "mobilenet_v4", "variant": "conv_small", "resolution": 224,
      "quant": "none"}, 73.8),
    ({"model": "mobilenet_v4", "variant": "conv_small", "resolution": 224,
      "quant": "int8"}, None),
    ({"model": "mobilenet", "alpha": 0.5, "resolution": 128, "quant": "none"}, 56.3),
])
def test_published_top1_per_config(config, top1):
    from edgekit.services.sweep_build import _published

    pub = _published(config)
    assert (pub and pub["top1"]) == top1 or (pub is None and top1 is None)


# ---- MobileNet v3's minimalistic setting, swept --------------------------------------------

def test_v3_sweeps_minimalistic_on_request(tmp_path):
    """Off unless asked (the ids, and so the store keys, of a sweep before it was an axis);
    --minimalistic true,false doubles the grid, each minimalistic id says so."""
    default = _configs(tmp_path, model="mobilenet_v3", alphas=[1.0], resolutions=[224],
                       quants=["none"])
    assert default == [{"id": "mobilenet_v3_large_a1_r224_none", "model": "mobilenet_v3",
                        "variant": "large", "minimalistic": False, "alpha": 1.0,
                        "resolution": 224, "quant": "none"}]
    both = _configs(tmp_path, model="mobilenet_v3", variants=["small", "large"],
                    minimalistic=["true", "false"], alphas=[0.75, 1.0], resolutions=[224],
                    quants=["none", "int8"])
    assert len(both) == 2 * 2 * 2 * 2                      # variant × min. × α × quant
    assert len({c["id"] for c in both}) == len(both)
    assert [c["id"] for c in both[:2]] == ["mobilenet_v3_small_minimalistic_a0.75_r224_none",
                                           "mobilenet_v3_small_minimalistic_a0.75_r224_int8"]
    assert {c["id"] for c in both if not c["minimalistic"]} == {
        config_id("mobilenet_v3", a, 224, q, v) for v in ("small", "large")
        for a in (0.75, 1.0) for q in ("none", "int8")}
    assert grid_of(both, ["none", "int8"], [])["minimalistic"] == [True, False]
    only = _configs(tmp_path, model="mobilenet_v3", minimalistic=[True, True], alphas=[1.0],
                    resolutions=[224], quants=["none"])
    assert [c["id"] for c in only] == ["mobilenet_v3_large_minimalistic_a1_r224_none"]


@pytest.mark.parametrize("args,message", [
    (["mobilenet_v3", "--minimalistic", "sometimes"], "--minimalistic sometimes: must be"),
    (["mobilenet_v3", "--minimalistic", ","], "--minimalistic needs"),
    (["efficientnet_lite", "--minimalistic", "true"], "--minimalistic: efficientnet_lite has"),
])
def test_a_bad_minimalistic_exits_2_before_any_work(cli, tmp_path, args, message):
    r = cli("sweep", *args, "-o", tmp_path / "out")
    assert r.code == 2 and message in r.err and "\n" not in r.err.strip()
    assert not (tmp_path / "out").exists()


# the model garden's v3 table: Large minimalistic 72.3 float, 71.3 8-bit; Small minimalistic
# 61.9 float (no 8-bit row); Howard et al. 2019 Table 3: Large 1.0 75.2 (not minimalistic)
@pytest.mark.parametrize("variant,minimal,alpha,quant,top1", [
    ("large", True, 1.0, "none", 72.3), ("large", True, 1.0, "int8", 71.3),
    ("small", True, 1.0, "none", 61.9), ("small", True, 1.0, "int8", None),
    ("large", False, 1.0, "none", 75.2), ("small", False, 1.0, "none", 67.4),
    ("large", True, 0.75, "none", None),
])
def test_published_top1_per_minimalistic_config(tmp_path, variant, minimal, alpha, quant,
                                                 top1):
    from edgekit.services.sweep_build import _published

    [config] = _configs(tmp_path, model="mobilenet_v3", variants=[variant],
                        minimalistic=[minimal], alphas=[alpha], resolutions=[224],
                        quants=[quant])
    pub = _published(config)
    assert (pub and pub["top1"]) == top1 or (pub is None and top1 is None)


def test_a_v3_row_stored_before_minimalistic_is_reused_as_not_minimalistic(tmp_path,
                                                                          monkeypatch):
    """A store written when the sweep did not vary minimalistic: its row (no such key, same
    id and key) is reused and shown as not minimalistic; only the minimalistic config is
    built."""
    from edgekit.services import sweep as S
    from edgekit.services.sweep_store import stage_key
    from tests.unit.test_user_files import build_row

    out = tmp_path / "out"
    out.mkdir()
    old_id = "mobilenet_v3_large_a1_r224_none"
    row = build_row(0) | {"id": old_id, "model": "mobilenet_v3", "variant": "large",
                          "alpha": 1.0, "resolution": 224, "quant": "none"}
    row["files"] = {"litert": {**row["files"]["litert"], "node": "elsewhere"}}
    settings = {"profile": None, "runtimes": ["litert"], "validation": None}
    (out / "sweep.jsonl").write_text(json.dumps(
        {"stage": "build", "key": stage_key({"id": old_id}, settings), "result": row}) + "\n")
    built = []

    def build(config, settings, validation=None):
        built.append(config["id"])
        return {**row, **config, "published": None}

    monkeypatch.setattr(S, "build_config", build)
    doc = S.sweep(SweepSpec(model="mobilenet_v3", minimalistic=["false", "true"],
                            alphas=[1.0], resolutions=[224], quants=["none"], out_dir=out))
    assert built == ["mobilenet_v3_large_minimalistic_a1_r224_none"]
    assert [(r["id"], r["minimalistic"]) for r in doc["rows"]] == [
        (old_id, False), ("mobilenet_v3_large_minimalistic_a1_r224_none", True)]
    assert doc["grid"]["minimalistic"] == [False, True]
    assert doc["work"]["reused"] == 1 and not doc["failed"]


def test_the_plan_is_frozen_and_checking_it_makes_a_new_one(tmp_path):
    import dataclasses

    spec = SweepSpec(model="mobilenet_v3", minimalistic="true,false".split(","),
                     alphas=[1.0], resolutions=[224], quants="int8,none",
                     max_latency_ms="30", profile="stm32h7", out_dir=tmp_path / "out")
    assert spec.minimalistic == (True, False) and spec.quants == ("int8", "none")
    plan = spec.validate()
    assert plan is not spec and not spec.checked and plan.checked
    assert spec.variants is None and spec.max_latency_ms == "30"      # untouched
    assert plan.variants == ("large",) and plan.max_latency_ms == 30.0
    assert len(plan.configs) == 4 and plan.validate() is plan
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.alphas = (0.5,)
    elsewhere = dataclasses.replace(plan, out_dir=tmp_path / "other")
    assert not elsewhere.checked                # a changed plan is checked again
    assert [c["id"] for c in elsewhere.validate().configs] == [c["id"] for c in plan.configs]


def test_the_command_hands_the_checked_plan_down(cli, tmp_path, monkeypatch):
    """The CLI reads its options once into the plan and checks it; the service gets that
    plan, frozen, configs and all."""
    from edgekit.core.errors import EdgekitError
    from edgekit.services import sweep as S

    seen = []

    def stop(plan, notify=None):
        seen.append(plan)
        raise EdgekitError("stopped before any work")

    monkeypatch.setattr(S, "sweep", stop)
    r = cli("sweep", "mobilenet_v3", "--minimalistic", "true,false", "--alpha", "1.0",
            "--resolution", "224", "--quant", "none", "--profile", "stm32h7",
            "--max-latency", "30", "--max-ram", "512KiB", "-o", tmp_path / "out")
    assert r.code == 1 and "stopped before any work" in r.err, r.err
    (plan,) = seen
    assert plan.checked and plan.minimalistic == (True, False) and plan.variants == ("large",)
    assert (plan.max_latency_ms, plan.max_ram_bytes, plan.profile) == (30.0, 524288, "stm32h7")
    assert [c["id"] for c in plan.configs] == ["mobilenet_v3_large_minimalistic_a1_r224_none",
                                               "mobilenet_v3_large_a1_r224_none"]
