"""A sweep's grid: the axes a zoo model has (variant, minimalistic, width multiplier α,
resolution), their defaults, the configs they expand to, and each config's id. No
TensorFlow: every config is checked against the zoo's knob ranges before any work.

- MobileNet v1/v2: α × resolution (α {0.25, 0.5, 0.75, 1}, 128..224 px by default);
- MobileNet v3: variant × minimalistic × α × resolution (Large, not minimalistic, unless
  --variant / --minimalistic true,false);
- EfficientNet-Lite, MobileNet v4 (no α): variant × resolution, every variant by default,
  each at its own resolution (Lite0..4: 224..300 px; v4 Conv-S 224, Conv-M 256) unless
  --resolution is given.

An axis the model lacks is absent from its configs (no α of 1.0 made up for a model
without one), from the grid and from the ids. A minimalistic config's id says so
('mobilenet_v3_large_minimalistic_a1_r224_none'); the others keep the ids, and so the store
keys, they had before the sweep varied it.
"""

from __future__ import annotations

from edgekit.core.errors import UsageError

DEFAULT_ALPHAS = (0.25, 0.5, 0.75, 1.0)
DEFAULT_RESOLUTIONS = (128, 160, 192, 224)
AXES = ("variant", "minimalistic", "alpha", "resolution")
SWITCHES = {"true": True, "false": False, "yes": True, "no": False, "on": True, "off": False}


def sweepable() -> list[str]:
    """The zoo models a sweep takes: a resolution, and a width multiplier or variants."""
    from edgekit.zoo import registry

    return [n for n in registry.having("resolution")
            if registry.get(n).knob("alpha") or registry.get(n).knob("variant")]


def read_switches(values, option: str = "--minimalistic") -> list[bool]:
    """true/false (yes/no, on/off; bools as they are), duplicates dropped; one line for
    anything else or for none."""
    out = []
    for v in values:
        word = v if isinstance(v, bool) else SWITCHES.get(str(v).strip().lower())
        if word is None:
            raise UsageError(f"{option} {v}: must be true or false (true,false for both)")
        out.append(word)
    if not out:
        raise UsageError(f"{option} needs true, false or both (true,false)")
    return list(dict.fromkeys(out))


def check_axes(entry, variants: list[str] | None, alphas: list[float] | None,
               resolutions: list[int] | None, minimalistic: list[bool] | None = None
               ) -> dict:
    """{axis: values} for this zoo model, each at its default where not given (None), None
    for an axis the model lacks; a resolution list of None means each variant's own. An
    axis given that the model lacks, or a model with nothing to vary, is one line."""
    has = {k: entry.knob(k) is not None for k in AXES}
    if not has["resolution"] or not (has["alpha"] or has["variant"]):
        raise UsageError(f"sweep {entry.name}: it has no --alpha or --variant knob to vary "
                         f"(models a sweep takes: {', '.join(sweepable())})")
    for knob, given in (("variant", variants), ("minimalistic", minimalistic),
                        ("alpha", alphas)):
        if given is not None and not has[knob]:
            raise UsageError(f"--{knob}: {entry.name} has no --{knob} knob (its sweep varies "
                             + " × ".join(k for k in AXES if has[k]) + " × quantization)")
    if has["alpha"] and alphas is None:
        alphas = list(DEFAULT_ALPHAS)
    if has["variant"]:
        knob = entry.knob("variant")
        if variants is None:
            variants = [knob.default] if has["alpha"] else list(knob.choices)
        variants = list(dict.fromkeys(str(v).strip().lower() for v in variants))
        if not variants or "" in variants:
            raise UsageError(f"--variant needs at least one of {', '.join(knob.choices)}")
    if has["minimalistic"]:
        minimalistic = read_switches([entry.knob("minimalistic").default]
                                     if minimalistic is None else minimalistic)
    if resolutions is None and has["alpha"]:
        resolutions = list(DEFAULT_RESOLUTIONS)     # else each variant's own (its default)
    return {"variant": variants, "minimalistic": minimalistic, "alpha": alphas,
            "resolution": resolutions}


def config_id(model: str, alpha: float | None, resolution: int, quant: str,
              variant: str | None = None, minimalistic: bool | None = None) -> str:
    """'mobilenet_a0.25_r96_int8', 'mobilenet_v3_small_a0.75_r224_none',
    'mobilenet_v3_large_minimalistic_a1_r224_int8', 'efficientnet_lite_0_r224_int8': the
    model's own axes only; minimalistic named only when on (a config that is not keeps the
    id it had before the sweep varied it)."""
    return (model + (f"_{variant}" if variant is not None else "")
            + ("_minimalistic" if minimalistic else "")
            + (f"_a{alpha:g}" if alpha is not None else "") + f"_r{resolution}_{quant}")


def config_knobs(config: dict) -> dict:
    """The zoo knobs of a config (those its model has), as resolve_target takes them."""
    return {k: config[k] for k in AXES if k in config}


def expand_configs(model: str, axes: dict, quants: list[str]) -> list[dict]:
    """Every config of the grid (``axes`` as check_axes gives them), variant outermost,
    each checked against the zoo's knob ranges (one line: '--variant 7: must be ...'). An
    axis of None is one the model lacks (its configs have no such key), but resolutions of
    None are each variant's own; a config's resolution is always the one it is built at,
    so configs that come out alike (a variant at its own resolution, and that resolution
    given) are kept once."""
    import itertools

    from edgekit.services.targets import resolve_target

    configs: dict[str, dict] = {}
    values_of = [list(dict.fromkeys(axes[k])) if axes.get(k) is not None else [None]
                 for k in AXES]
    for point in itertools.product(*values_of):
        knobs = {k: x for k, x in zip(AXES, point, strict=True) if x is not None}
        values = resolve_target(model, knobs).knobs
        c = {"model": model}
        for k in AXES:
            if k in knobs or k == "resolution":
                c[k] = values[k]
        for q in quants:
            cid = config_id(model, c.get("alpha"), c["resolution"], q, c.get("variant"),
                            c.get("minimalistic"))
            configs.setdefault(cid, {"id": cid, **c, "quant": q})
    return list(configs.values())


def grid_of(configs: list[dict], quants: list[str], runtimes: list[str]) -> dict:
    """The axes swept, only those the model has; resolutions as built (each variant's own
    where none was given)."""
    grid = {}
    for axis in AXES:
        values = list(dict.fromkeys(c[axis] for c in configs if axis in c))
        if values:
            grid[axis] = values
    return grid | {"quant": list(quants), "runtime": list(runtimes)}
