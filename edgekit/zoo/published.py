"""Published ImageNet accuracy of zoo configs (``published.json``, shipped with the package),
each figure with its source. No TensorFlow: the sweep reads it before anything is built."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any


@cache
def table() -> dict:
    data = resources.files("edgekit.zoo").joinpath("published.json")
    return json.loads(data.read_text())   # not a user file: the package's own data


def _with_source(row: dict, doc: dict) -> dict:
    return {**row, "source": {"id": row["source"], **doc["sources"][row["source"]]}}


def _same_alpha(row_alpha: float | None, alpha: float | None) -> bool:
    if row_alpha is None or alpha is None:
        return row_alpha is None and alpha is None
    return abs(row_alpha - alpha) < 1e-9


def _knobs_match(model: str, row: dict, knobs: dict[str, Any] | None) -> bool:
    """Every knob of the model but alpha and resolution (compared apart) must equal the row's
    (``variant``, ``minimalistic``), a knob the row does not name being at its default; a knob
    the config does not give takes its default too."""
    from edgekit.zoo.registry import REGISTRY

    entry = REGISTRY.get(model)
    if entry is None:
        return not row.get("knobs")
    defaults = {k: v for k, v in entry.defaults().items() if k not in ("alpha", "resolution")}
    given = {k: v for k, v in (knobs or {}).items() if v is not None and k in defaults}
    return {**defaults, **given} == {**defaults, **row.get("knobs", {})}


def lookup(model: str, alpha: float | None, resolution: int | None, quant: str,
           knobs: dict[str, Any] | None = None) -> dict | None:
    """The published figures of exactly this config (model, width multiplier or None,
    resolution, quantization, and the model's other knobs such as ``variant``), with their
    source; None where no table gives one."""
    doc = table()
    for row in doc["rows"]:
        if (row["model"], row["quant"], row["resolution"]) == (model, quant, resolution) \
                and _same_alpha(row["alpha"], alpha) and _knobs_match(model, row, knobs):
            return _with_source(row, doc)
    return None


def rows_for(model: str) -> list[dict]:
    """Every published row of ``model``, with its source (``edgekit models --json``)."""
    doc = table()
    return [_with_source(r, doc) for r in doc["rows"] if r["model"] == model]
