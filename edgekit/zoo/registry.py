"""The zoo's catalogue: names, families, knobs, defaults and papers. Pure Python, so that
``edgekit models`` and knob validation never import TensorFlow. Builders are named as
'module:function' strings and imported only when a model is built."""

from __future__ import annotations

import importlib
from typing import Any

from edgekit.core.errors import EdgekitError, UsageError
from edgekit.core.specs import Knob, ModelEntry, suggest


def classes_knob() -> Knob:
    return Knob("classes", int, 1000, "number of output classes", minimum=1)


def resolution_knob(default: int, minimum: int = 32) -> Knob:
    return Knob("resolution", int, default, "input height and width in pixels",
                minimum=minimum, maximum=4096)


NO_TOP = Knob("no_top", bool, False, "drop the classifier head (feature extractor)")


def _mobilenet_resolve(values: dict[str, Any], given: set[str]) -> dict[str, Any]:
    rho = values.pop("rho")
    if rho is not None:
        if "resolution" in given:
            raise UsageError("give either --resolution or --rho, not both")
        resolution = round(224 * rho)
        if resolution < 32:
            raise UsageError(f"--rho {rho:g} gives a {resolution} px input; the minimum is 32 px")
        values["resolution"] = resolution
    return values


_ENTRIES: list[ModelEntry] = [
    ModelEntry(
        "mobilenet", "MobileNet v1",
        "Howard et al. 2017, MobileNets (arXiv:1704.04861)",
        "edgekit.zoo.mobilenet:mobilenet_v1",
        (
            Knob("alpha", float, 1.0, "width multiplier (channels x alpha)",
                 minimum=0.0, min_exclusive=True, maximum=4.0),
            resolution_knob(224),
            Knob("rho", float, None, "resolution multiplier: input = round(224 x rho)",
                 minimum=0.0, min_exclusive=True, maximum=4.0),
            Knob("depth_multiplier", int, 1, "depthwise channel multiplier (not rho)",
                 minimum=1, maximum=16),
            classes_knob(),
            Knob("dropout", float, 1e-3, "dropout rate before the classifier",
                 minimum=0.0, maximum=0.99),
            NO_TOP,
        ),
        summary="depthwise-separable convolutions; width alpha, resolution rho",
        resolve=_mobilenet_resolve,
    ),
    ModelEntry(
        "squeezenet", "SqueezeNet",
        "Iandola et al. 2016, SqueezeNet (arXiv:1602.07360)",
        "edgekit.zoo.squeezenet:squeezenet",
        (
            Knob("version", str, "1.0", "1.0 (paper) or 1.1 (2.4x fewer MACs)",
                 choices=("1.0", "1.1")),
            Knob("bypass", str, "none", "the paper's shortcut variants",
                 choices=("none", "simple", "complex")),
            classes_knob(),
            resolution_knob(224, minimum=64),
            NO_TOP,
        ),
        summary="fire modules (squeeze 1x1, expand 1x1 + 3x3)",
    ),
    ModelEntry(
        "xception", "Xception",
        "Chollet 2017, Xception (arXiv:1610.02357)",
        "edgekit.zoo.xception:xception",
        (classes_knob(), resolution_knob(299, minimum=71), NO_TOP),
        summary="entry/middle/exit flows of separable convolutions with residuals",
    ),
]

for _depth in (18, 34, 50, 101, 152):
    _knobs: tuple[Knob, ...] = (classes_knob(), resolution_knob(224))
    if _depth >= 50:
        _knobs += (Knob("variant", str, "v1", "stride on the first 1x1 (v1) or the 3x3 (v1.5)",
                        choices=("v1", "v1.5")),)
    _ENTRIES.append(ModelEntry(
        f"resnet{_depth}", "ResNet",
        "He et al. 2015, Deep Residual Learning (arXiv:1512.03385)",
        "edgekit.zoo.resnet:resnet",
        _knobs + (NO_TOP,),
        summary=("basic" if _depth < 50 else "bottleneck") + " residual blocks",
        fixed={"depth": _depth},
    ))

REGISTRY: dict[str, ModelEntry] = {e.name: e for e in _ENTRIES}
DEFAULT_MODEL = "mobilenet"
# The default model of `edgekit export` / `bench` with no arguments: small enough for a
# microcontroller-class demo, real enough to mean something.
DEFAULT_KNOBS: dict[str, Any] = {"alpha": 0.25, "resolution": 96}


def names() -> list[str]:
    return list(REGISTRY)


def get(name: str) -> ModelEntry:
    entry = REGISTRY.get(name.lower())
    if entry is None:
        raise UsageError(f"unknown model {name!r}{suggest(name, names())}; "
                         "run 'edgekit models' for the list")
    return entry


def all_knobs() -> list[Knob]:
    """Every knob of every model, once (the CLI offers their union)."""
    seen: dict[str, Knob] = {}
    for e in REGISTRY.values():
        for k in e.knobs:
            seen.setdefault(k.name, k)
    return list(seen.values())


def build(name: str, knobs: dict[str, Any]):
    """Validate ``knobs`` for ``name`` and build the Keras model (imports TensorFlow)."""
    entry = get(name)
    values = entry.validate(knobs)
    module, func = entry.builder.split(":")
    builder = getattr(importlib.import_module(module), func)
    try:
        return builder(**entry.fixed, **values), values
    except ValueError as e:  # Keras shape errors for sizes a knob check cannot foresee
        raise EdgekitError(f"cannot build {name} with {values}: {e}".splitlines()[0]) from e
