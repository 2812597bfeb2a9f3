"""Published ImageNet accuracy of zoo configs (``published.json``, shipped with the package),
each figure with its source. No TensorFlow: the sweep reads it before anything is built."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources


@cache
def table() -> dict:
    return json.loads(resources.files("edgekit.zoo").joinpath("published.json").read_text())


def lookup(model: str, alpha: float | None, resolution: int | None, quant: str) -> dict | None:
    """The published figures of exactly this config (model, width multiplier, resolution,
    quantization), with their source; None where no table gives one."""
    doc = table()
    for row in doc["rows"]:
        if (row["model"], row["quant"], row["resolution"]) == (model, quant, resolution) \
                and alpha is not None and abs(row["alpha"] - alpha) < 1e-9:
            return {**row, "source": {"id": row["source"], **doc["sources"][row["source"]]}}
    return None
