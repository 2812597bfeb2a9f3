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
