"""One way to read a user file: a small declarative schema, checked on load.

Every file kind that edgekit reads and a person may edit (devices.toml, device profiles,
latency tables, report inputs, the sweep store, manifests) declares what it holds with
the specs below; :func:`check` walks a parsed document against it and stops at the first
problem with one line (a usage error, exit 2) that names the file, the key as a dotted
path and what was expected::

    profiles/pi5.toml: key 'compute.peak_gflops_fp32': expected a number > 0 (GFLOP/s), got nan
    sweep-out/sweep.json: key 'rows[3].macs': missing (expected an integer >= 0)

Numbers go through :func:`edgekit.core.numbers.read_number` (finite, in range, unit named).
Keys a spec does not name are allowed (newer files, comments of a tool); the keys it names
are checked. Standard library only.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from edgekit.core import reading
from edgekit.core.errors import UsageError
from edgekit.core.numbers import NumberError, describe, dumps, read_number


class SchemaError(UsageError):
    """A file that does not hold what its kind must: names the file, the key, the wanted."""


MISSING = object()
_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def got(value) -> str:
    """What was found, short and on one line."""
    if value is MISSING:
        return "nothing"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return f"{value:g}" if isinstance(value, float) else str(value)
    if isinstance(value, str):
        text = dumps(value, ensure_ascii=True)
        return text if len(text) <= 42 else text[:40] + "…\""
    if isinstance(value, dict):
        return f"a table of {len(value)} key(s)" if value else "an empty table"
    if isinstance(value, list | tuple):
        return f"a list of {len(value)}" if value else "an empty list"
    return type(value).__name__


def key_path(parent: str, key) -> str:
    k = str(key)
    k = k if _PLAIN_KEY.match(k) else dumps(k, ensure_ascii=True)
    return f"{parent}.{k}" if parent else k


class Spec:
    expected = "a value"

    def check(self, value, where: str, fail) -> Any:
        return value


@dataclass
class Num(Spec):
    """A number (not a string, not a bool) in a range, with its unit."""

    lo: float | None = None
    hi: float | None = None
    unit: str = ""
    integer: bool = False
    lo_open: bool = False
    hi_open: bool = False

    @property
    def expected(self) -> str:
        return describe(self.lo, self.hi, self.unit, self.integer, self.lo_open, self.hi_open)

    def check(self, value, where, fail):
        if isinstance(value, bool) or not isinstance(value, int | float):
            fail(where, self.expected, value)
        try:
            return read_number(value, where, self.lo, self.hi, self.unit, self.integer,
                               self.lo_open, self.hi_open)
        except NumberError:
            fail(where, self.expected, value)


@dataclass
class Str(Spec):
    """A string: not empty (unless ``empty``), one of ``choices``, matching ``pattern``."""

    choices: tuple[str, ...] | None = None
    empty: bool = False
    pattern: str | None = None
    what: str = ""

    @property
    def expected(self) -> str:
        if self.choices:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        return self.what or ("a string" if self.empty else "a non-empty string")

    def check(self, value, where, fail):
        if not isinstance(value, str) or (not self.empty and not value.strip()) or (
                self.choices and value not in self.choices) or (
                self.pattern and not re.fullmatch(self.pattern, value)):
            fail(where, self.expected, value)
        return value


class Bool(Spec):
    expected = "true or false"

    def check(self, value, where, fail):
        if not isinstance(value, bool):
            fail(where, self.expected, value)
        return value


class Anything(Spec):
    expected = "a value"


@dataclass
class Nullable(Spec):
    """``inner`` or null (JSON null; TOML has none, so a TOML key is Optional instead)."""

    inner: Spec

    @property
    def expected(self) -> str:
        return f"{self.inner.expected} or null"

    def check(self, value, where, fail):
        return None if value is None else self.inner.check(value, where, fail)


@dataclass
class Optional(Spec):
    """A key that may be left out (checked as ``inner`` when present)."""

    inner: Spec

    @property
    def expected(self) -> str:
        return self.inner.expected

    def check(self, value, where, fail):
        return self.inner.check(value, where, fail)


@dataclass
class OneOf(Spec):
    """The first of ``options`` that accepts the value."""

    options: tuple

    @property
    def expected(self) -> str:
        return " or ".join(o.expected for o in self.options)

    def check(self, value, where, fail):
        for o in self.options:
            try:
                return o.check(value, where, _raise)
            except SchemaError:
                continue
        fail(where, self.expected, value)


@dataclass
class ListOf(Spec):
    item: Spec
    min_len: int = 0

    @property
    def expected(self) -> str:
        return f"a list of {self.item.expected}" + (
            f" (at least {self.min_len})" if self.min_len else "")

    def check(self, value, where, fail):
        if not isinstance(value, list | tuple) or len(value) < self.min_len:
            fail(where, self.expected, value)
        return [self.item.check(v, f"{where}[{i}]", fail) for i, v in enumerate(value)]


@dataclass
class Table(Spec):
    """A table/object with named keys: required unless wrapped in Optional; keys not named
    here are kept as they are."""

    fields: dict = field(default_factory=dict)
    expected: str = "a table"

    def check(self, value, where, fail):
        if not isinstance(value, dict):
            fail(where, self.expected, value)
        out = dict(value)
        for name, spec in self.fields.items():
            path = key_path(where, name)
            if name not in value:
                if isinstance(spec, Optional):
                    continue
                fail(path, spec.expected, MISSING)
            out[name] = spec.check(value[name], path, fail)
        return out


@dataclass
class MapOf(Spec):
    """A table whose keys are names (``key`` checks them) and whose values are ``value``."""

    value: Spec
    key: Str = field(default_factory=Str)
    expected: str = "a table"

    def check(self, value, where, fail):
        if not isinstance(value, dict):
            fail(where, self.expected, value)
        out = {}
        for k, v in value.items():
            path = key_path(where, k)
            self.key.check(k, path, lambda w, e, g: fail(w, f"a name ({e})", g))
            out[k] = self.value.check(v, path, fail)
        return out


def _raise(where: str, expected: str, value) -> None:
    raise SchemaError(f"key '{where}': expected {expected}, got {got(value)}")


def check(doc, spec: Spec, file) -> Any:
    """``doc`` (parsed from ``file``) checked against ``spec``; the checked document (numbers
    as read), or a SchemaError: '<file>: key '<dotted.path>': expected <...>, got <...>'."""

    def fail(where: str, expected: str, value) -> None:
        if value is MISSING:
            raise SchemaError(f"{file}: key '{where}': missing (expected {expected})")
        if not where:
            raise SchemaError(f"{file}: expected {expected}, got {got(value)}")
        raise SchemaError(f"{file}: key '{where}': expected {expected}, got {got(value)}")

    return spec.check(doc, "", fail)


def read_text(path, what: str, kind: str, limit: int | None = None) -> str:
    """A user's file's text through the one reader of user files (core/reading.py:
    registered as an input, a regular file within ``limit`` bytes), or one line saying why
    it cannot be read (``kind``: 'JSON', 'TOML', what the file should be)."""
    try:
        return reading.read_input_text(path, what, reading.DOCUMENT_LIMIT if limit is None
                                       else limit, kind)
    except reading.InputFileError as e:
        raise SchemaError(str(e)) from None


def load_json(path, spec: Spec, what: str = "", limit: int | None = None) -> Any:
    """A JSON file read (registered, regular, within ``limit``: core/reading.py) and
    checked: one line for a file that cannot be read, is not JSON (NaN and Infinity are not
    JSON either), or does not hold what ``spec`` says."""
    label = f"{what} {path}".strip()
    return check(parse_json(read_text(path, what, "JSON", limit), label), spec, label)


def parse_json(text: str, label: str) -> Any:
    """JSON text, with NaN/Infinity refused (Python's json takes them by default)."""
    def constant(name):
        raise ValueError(f"{name} is not a JSON number")

    try:
        return json.loads(text, parse_constant=constant)
    except RecursionError:
        raise SchemaError(f"{label}: nested too deeply to be one of edgekit's files") from None
    except ValueError as e:
        raise SchemaError(f"{label}: not JSON ({str(e).splitlines()[0][:120]})") from None


def load_toml(path, spec: Spec, what: str = "", limit: int | None = None) -> Any:
    """A TOML file read (registered, regular, within ``limit``, 1 MiB unless given:
    core/reading.py) and checked (TOML's nan and inf are refused by the numbers); ``what``
    names the kind of file in the error ('profile')."""
    import tomllib

    label = f"{what} {path}".strip()
    text = read_text(path, what, "TOML", reading.SETTINGS_LIMIT if limit is None else limit)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SchemaError(f"{label}: invalid TOML: {str(e).splitlines()[0]}") from None
    except RecursionError:
        raise SchemaError(f"{label}: invalid TOML: nested too deeply") from None
    return check(data, spec, label)
