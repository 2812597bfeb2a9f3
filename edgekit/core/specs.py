"""Model specs: the knobs each zoo model takes, their defaults, and their validation.

Validation happens here, before anything is built, so that a bad value fails in
milliseconds with one line that names the value and what is allowed.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edgekit.core.errors import UsageError
from edgekit.core.numbers import describe, read_number


@dataclass(frozen=True)
class Knob:
    """One model knob. ``flag`` is its CLI spelling without dashes (``depth-multiplier``)."""

    name: str
    kind: type  # float, int, str or bool
    default: Any
    help: str
    minimum: float | None = None        # inclusive unless min_exclusive
    maximum: float | None = None        # inclusive
    min_exclusive: bool = False
    choices: tuple[str, ...] | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def allowed(self) -> str:
        if self.choices:
            return "one of " + ", ".join(self.choices)
        if self.kind not in (int, float):
            return "a value"
        return describe(self.minimum, self.maximum, integer=self.kind is int,
                        lo_open=self.min_exclusive)

    def validate(self, value: Any) -> Any:
        if self.kind is bool:
            return bool(value)
        if self.choices is not None:
            value = str(value)
            if value not in self.choices:
                raise UsageError(f"{self.flag} {value}: must be {self.allowed()}")
            return value
        if self.kind not in (int, float):
            return self.kind(value)
        number = read_number(value, self.flag, self.minimum, self.maximum,
                             integer=self.kind is int, lo_open=self.min_exclusive)
        return float(number) if self.kind is float else number


@dataclass(frozen=True)
class ModelEntry:
    """A zoo model: how to build it (``builder`` is 'module:function', imported lazily)."""

    name: str
    family: str
    paper: str
    builder: str
    knobs: tuple[Knob, ...]
    summary: str = ""
    fixed: dict[str, Any] = field(default_factory=dict)   # passed to the builder as-is
    # derived knobs: resolve(values, names the user gave) -> values for the builder
    resolve: Callable[[dict[str, Any], set[str]], dict[str, Any]] | None = None

    def knob(self, name: str) -> Knob | None:
        return next((k for k in self.knobs if k.name == name), None)

    def defaults(self) -> dict[str, Any]:
        return {k.name: k.default for k in self.knobs}

    def validate(self, given: dict[str, Any]) -> dict[str, Any]:
        """Check user knobs (None = not given) and return the full knob set for the builder."""
        values = self.defaults()
        given_names: set[str] = set()
        for name, value in given.items():
            if value is None or (value is False and self.knob(name) is None):
                continue
            knob = self.knob(name)
            if knob is None:
                flag = "--" + name.replace("_", "-")
                accepted = ", ".join(k.flag for k in self.knobs) or "none"
                raise UsageError(f"{flag} does not apply to {self.name} (its knobs: {accepted})")
            values[name] = knob.validate(value)
            given_names.add(name)
        if self.resolve is not None:
            values = self.resolve(dict(values), given_names)
        return values


def suggest(name: str, names: list[str]) -> str:
    """' (did you mean: a, b?)' for the closest names, or ''."""
    close = difflib.get_close_matches(name.lower(), names, n=3, cutoff=0.5)
    return f" (did you mean: {', '.join(close)}?)" if close else ""
