"""The published top-1 table shipped in the package (edgekit/zoo/published.json) against
verbatim excerpts of its sources (tests/data/published/): every row of each source table
appears once, with the same figures, under the config it names."""

import re
from pathlib import Path

import pytest

from edgekit.zoo.published import lookup, table

DATA = Path(__file__).resolve().parents[1] / "data" / "published"
ROW = re.compile(r"\[(\w+?)_(\d\.\d+)_(\d+)(_quant)?\]\([^)]*\)\s*\|\s*([\d.]+)\s*\|"
                 r"\s*([\d.]+)\s*\|\s*([\d.]+)\s*\|\s*([\d.]+)")
SOURCES = {"tf-models-mobilenet-v1": ("tf_models_mobilenet_v1.md", "mobilenet", 32),
           "tf-models-mobilenet-v2": ("tf_models_mobilenet_v2.md", "mobilenet_v2", 22)}


@pytest.mark.parametrize("source", SOURCES)
def test_rows_match_their_source_table(source):
    fname, model, count = SOURCES[source]
    text = (DATA / fname).read_text()
    commit = re.search(r"commit ([0-9a-f]{40})", text).group(1)
    assert commit in table()["sources"][source]["url"]
    parsed = [ROW.match(line).groups() for line in text.splitlines() if ROW.match(line)]
    assert len(parsed) == count
    ours = [r for r in table()["rows"] if r["source"] == source]
    assert len(ours) == count
    for _, alpha, res, quant, macs, params, top1, top5 in parsed:
        row = lookup(model, float(alpha), int(res), "int8" if quant else "none")
        assert row is not None and row["source"]["id"] == source
        assert (row["macs_millions"], row["params_millions"], row["top1"], row["top5"]) == \
            (float(macs), float(params), float(top1), float(top5))


def test_lookup_is_exact():
    row = lookup("mobilenet", 0.25, 128, "int8")
    assert row["top1"] == 39.9 and row["checkpoint"] == "mobilenet_v1_0.25_128_quant"
    assert lookup("mobilenet", 1.0, 224, "none")["top1"] == 70.9
    assert lookup("mobilenet_v2", 0.35, 96, "none")["top1"] == 45.5
    assert lookup("mobilenet", 0.25, 96, "none") is None        # no 96 px v1 checkpoint
    assert lookup("mobilenet_v2", 1.0, 224, "int8") is None     # no 8-bit v2 table
    assert lookup("mobilenet", 0.3, 224, "none") is None
    assert lookup("resnet18", 1.0, 224, "none") is None


# ---- MobileNet v3, EfficientNet-Lite, MobileNet v4 -----------------------------------------

LITE_ROW = re.compile(r"\|efficientnet-lite(\d) \[ckpt\]\([^)]*\) \|\s*([\d.]+)M "
                      r"\|\s*([\d.]+)([MB]) \|\s*([\d.]+)% \|[^|]*\|[^|]*\|[^|]*\|\s*([\d.]+)% \|")
V3_ROW = re.compile(r"\| \[(Large|Small) (?:dm=([\d.]+)|(minimalistic)) \((float|8-bit)\)\]\S*\s*"
                    r"\|\s*([\d.]+)\s*\|\s*([\d.]+)\s*\|\s*([\d.]+)")


def _source_commit(fname, source):
    text = (DATA / fname).read_text()
    commit = re.search(r"commit ([0-9a-f]{40})", text).group(1)
    assert commit in table()["sources"][source]["url"]
    return text


def test_efficientnet_lite_rows_match_the_tensorflow_table():
    text = _source_commit("tf_tpu_efficientnet_lite.md", "tf-tpu-efficientnet-lite")
    parsed = [LITE_ROW.match(line).groups() for line in text.splitlines() if LITE_ROW.match(line)]
    assert len(parsed) == 5
    assert len([r for r in table()["rows"] if r["source"] == "tf-tpu-efficientnet-lite"]) == 10
    for (variant, params, madds, unit, fp32, int8), res in zip(parsed, (224, 240, 260, 280, 300),
                                                                strict=True):
        knobs = {"variant": variant}
        macs = float(madds) * (1000 if unit == "B" else 1)
        for quant, top1 in (("none", float(fp32)), ("int8", float(int8))):
            row = lookup("efficientnet_lite", None, res, quant, knobs)
            assert (row["top1"], row["macs_millions"], row["params_millions"]) == \
                (top1, macs, float(params))
            assert row["source"]["id"] == "tf-tpu-efficientnet-lite"
        assert lookup("efficientnet_lite", None, 224 if res != 224 else 240, "none",
                      knobs) is None


# the model garden's Small checkpoints predate the paper's final Small (66 M MACs, 2.9 M params
# at 1.0 against keras.applications' 56.5 M, 2.55 M): only the rows whose architecture is the
# zoo's are carried (Large and its minimalistic form, and Small minimalistic, which the paper's
# table lacks); the Large float rows come from the paper itself
V3_CARRIED = {("Large", "1", None, "8-bit"), ("Large", None, "minimalistic", "float"),
              ("Large", None, "minimalistic", "8-bit"), ("Small", None, "minimalistic", "float")}


def test_mobilenet_v3_rows_match_the_model_garden_table():
    text = _source_commit("tf_models_mobilenet_v3.md", "tf-models-mobilenet-v3")
    parsed = [V3_ROW.match(line).groups() for line in text.splitlines() if V3_ROW.match(line)]
    assert len(parsed) == 9
    carried = [p for p in parsed if p[:4] in V3_CARRIED]
    assert len(carried) == len(V3_CARRIED)
    assert len([r for r in table()["rows"] if r["source"] == "tf-models-mobilenet-v3"]) == 4
    for size, dm, minimal, kind, macs, params, top1 in carried:
        knobs = {"variant": size.lower(), "minimalistic": minimal is not None}
        row = lookup("mobilenet_v3", float(dm or 1), 224, "int8" if kind == "8-bit" else "none",
                     knobs)
        assert row["source"]["id"] == "tf-models-mobilenet-v3"
        assert (row["macs_millions"], row["params_millions"], row["top1"]) == \
            (float(macs), float(params), float(top1))


def test_mobilenet_v3_paper_rows():
    # Howard et al. 2019, Table 3: top-1, MAdds (M), params (M) at 224 px
    paper = {("large", 1.0): (75.2, 219, 5.4), ("large", 0.75): (73.3, 155, 4.0),
             ("small", 1.0): (67.4, 56, 2.5), ("small", 0.75): (65.4, 44, 2.0)}
    for (variant, alpha), figures in paper.items():
        row = lookup("mobilenet_v3", alpha, 224, "none", {"variant": variant})
        assert row["source"]["id"] == "howard-2019-table3"
        assert (row["top1"], row["macs_millions"], row["params_millions"]) == figures
    assert lookup("mobilenet_v3", 1.0, 224, "none")["top1"] == 75.2       # default: large
    assert lookup("mobilenet_v3", 0.75, 224, "none", {"minimalistic": True}) is None
    assert lookup("mobilenet_v3", 1.0, 192, "none") is None
    assert lookup("mobilenet_v3", 1.0, 224, "none", {"classes": 10}) is None


MNV4_ROW = re.compile(r"\| MNv4-Conv-([SM]) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|")
MNV4_INPUT = re.compile(r"^MNv4-Conv-([SM]): .*\(Pixel 6 EdgeTPU, (\d+)px inputs\)\.$")


def test_mobilenet_v4_rows_match_the_paper_table():
    """Qin et al. 2024, Tab. 6 (ImageNet-1k only): top-1, params (M) and MACs (G) of the two
    conv models the zoo builds, each at its input size in the paper's Appendix 0.A."""
    text = (DATA / "qin_2024_mobilenetv4.md").read_text()
    assert table()["sources"]["qin-2024-mobilenetv4"]["url"] in text
    lines = text.splitlines()
    rows = {m.group(1): m.groups()[1:] for m in map(MNV4_ROW.match, lines) if m}
    px = {m.group(1): int(m.group(2)) for m in map(MNV4_INPUT.match, lines) if m}
    assert set(rows) == set(px) == {"S", "M"}
    assert len([r for r in table()["rows"] if r["source"] == "qin-2024-mobilenetv4"]) == 2
    for size, variant in (("S", "conv_small"), ("M", "conv_medium")):
        top1, params, gmacs = map(float, rows[size])
        row = lookup("mobilenet_v4", None, px[size], "none", {"variant": variant})
        assert row["source"]["id"] == "qin-2024-mobilenetv4"
        assert (row["top1"], row["params_millions"], row["macs_millions"]) == \
            (top1, params, gmacs * 1000)
        assert "UNVERIFIED" not in row["source"]["title"]
    # the intro's sentence gives Conv-S's figures once more, in words
    assert "MNv4-Conv-S achieves 73.8% top-1 ImageNet-1K accuracy with 3.8M parameters, " \
        "0.2G MACs" in text
    assert lookup("mobilenet_v4", None, 224, "none")["checkpoint"] == "MNv4-Conv-S"  # default
    assert lookup("mobilenet_v4", None, 224, "none", {"variant": "conv_medium"}) is None
    assert lookup("mobilenet_v4", 1.0, 224, "none") is None              # no width knob


def test_every_row_names_a_source_and_a_zoo_config():
    from edgekit.zoo.registry import REGISTRY

    doc = table()
    for row in doc["rows"]:
        assert row["source"] in doc["sources"]
        entry = REGISTRY[row["model"]]
        assert (row["alpha"] is None) == (entry.knob("alpha") is None)
        entry.validate({**row.get("knobs", {}), "resolution": row["resolution"],
                        **({"alpha": row["alpha"]} if row["alpha"] is not None else {})})
        assert {"top1", "top5", "macs_millions", "params_millions", "checkpoint"} <= set(row)
