"""Model knob options, declared once from the zoo registry and added to every command that
takes a model (analyze, build, export, bench)."""

import functools
import inspect
from typing import Annotated, Optional

import typer

from edgekit.zoo import registry

PANEL = "Model knobs (zoo models; each model takes some, see 'edgekit models')"


def _option(knob):
    allowed = knob.allowed()
    default = "" if knob.default is None else f"; default {knob.default:g}" if isinstance(
        knob.default, float) else f"; default {knob.default}"
    if knob.kind is bool:
        return Annotated[bool, typer.Option(knob.flag, help=knob.help, rich_help_panel=PANEL)]
    # per-model defaults differ for resolution; the help says so
    if knob.name == "resolution":
        default = "; default: the model's (see edgekit models)"
    if knob.name in registry.DEFAULT_KNOBS:  # what a bare command uses
        default += (f"; {registry.DEFAULT_KNOBS[knob.name]:g} when no model is named "
                    f"({registry.DEFAULT_MODEL} --alpha 0.25 --resolution 96)")
    return Annotated[Optional[knob.kind], typer.Option(
        knob.flag, help=f"{knob.help} ({allowed}{default})", rich_help_panel=PANEL,
        show_default=False)]


def with_knobs(func):
    """Add every registry knob as an option; the command receives them as ``knobs=dict``."""
    knobs = registry.all_knobs()
    sig = inspect.signature(func)
    params = [p for p in sig.parameters.values() if p.name != "knobs"]
    extra = [inspect.Parameter(k.name, inspect.Parameter.KEYWORD_ONLY,
                               default=False if k.kind is bool else None,
                               annotation=_option(k)) for k in knobs]

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        values = {k.name: kwargs.pop(k.name) for k in knobs}
        return func(*args, knobs=values, **kwargs)

    wrapper.__signature__ = sig.replace(parameters=params + extra)
    wrapper.__annotations__ = {p.name: p.annotation for p in params + extra}
    return wrapper
