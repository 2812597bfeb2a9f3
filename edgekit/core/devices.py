"""The user's devices: boards that edgekit reaches over SSH, stored in
``~/.config/edgekit/devices.toml`` (``$XDG_CONFIG_HOME/edgekit``)::

    [devices."pi5"]
    url = "ssh://pi@raspberrypi.local"
    python = "python3"                       # the board's interpreter
    ssh_options = ["IdentityFile=~/.ssh/pi"] # passed to ssh as -o KEY=VALUE
    profile = "pi5"                          # written by 'profiles calibrate --device pi5'

A device can also be given as a URL where a name is expected (``--device ssh://pi@host``).
Standard library only.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from edgekit.core import schema as S
from edgekit.core.errors import UsageError

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
OPTION = re.compile(r"^([A-Za-z][A-Za-z0-9]*)=(\S.*)$")
# options edgekit sets itself to multiplex one connection per run
MANAGED_OPTIONS = {"controlpath", "controlmaster", "controlpersist", "batchmode"}
TRANSPORTS = ("ssh",)


@dataclass(frozen=True)
class Device:
    name: str
    url: str
    python: str = "python3"
    ssh_options: tuple[str, ...] = field(default_factory=tuple)
    profile: str | None = None

    @property
    def transport(self) -> str:
        return urlsplit(self.url).scheme

    @property
    def address(self) -> tuple[str | None, str, int | None]:
        """(user, host, port) of the URL."""
        parts = urlsplit(self.url)
        return parts.username, parts.hostname or "", parts.port

    def to_dict(self) -> dict:
        return {"name": self.name, "url": self.url, "transport": self.transport,
                "python": self.python, "ssh_options": list(self.ssh_options),
                "profile": self.profile}


def check_url(url: str) -> str:
    """An ssh://[user@]host[:port] URL, or one line saying what is wrong with it."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise UsageError(f"device URL {url!r}: {e}") from None
    if parts.scheme not in TRANSPORTS:
        said = f"'{parts.scheme}://'" if parts.scheme else "no scheme"
        raise UsageError(f"device URL {url!r}: {said}; edgekit reaches devices over "
                         "ssh://[user@]host[:port] (other transports, adb among them, are "
                         "not supported yet)")
    if not parts.hostname or parts.path not in ("", "/") or parts.query or parts.password:
        raise UsageError(f"device URL {url!r}: expected ssh://[user@]host[:port] (a host "
                         "name from ~/.ssh/config works too), with no path or password")
    if port is not None and not 0 < port < 65536:
        raise UsageError(f"device URL {url!r}: port {port} is not 1 to 65535")
    return url.rstrip("/")


def check_option(text: str) -> str:
    m = OPTION.match(text.strip())
    if not m or "\n" in text:
        raise UsageError(f"--ssh-option {text!r}: expected KEY=VALUE, as in "
                         "IdentityFile=~/.ssh/pi (passed to ssh as -o KEY=VALUE)")
    if m.group(1).lower() in MANAGED_OPTIONS:
        raise UsageError(f"--ssh-option {m.group(1)}: edgekit sets it itself (one "
                         "multiplexed, non-interactive connection per run)")
    return text.strip()


def make_device(name: str, url: str, python: str = "python3", ssh_options=(),
                profile: str | None = None) -> Device:
    if not NAME.match(name) or "://" in name:
        raise UsageError(f"device name {name!r}: use letters, digits, '.', '_' and '-' "
                         "(up to 64), starting with a letter or digit")
    if not python.strip() or "\n" in python:
        raise UsageError("--python: give the board's interpreter, e.g. python3 or "
                         "/opt/venv/bin/python3")
    return Device(name, check_url(url), python.strip(),
                  tuple(check_option(o) for o in ssh_options), profile)


def registry_path() -> Path:
    from edgekit.core.files import config_dir

    return config_dir() / "devices.toml"


# The schema of devices.toml (README: "Profiling on a device"); make_device then checks
# what a schema cannot (the URL, the ssh options).
DEVICES_SCHEMA = S.Table({"devices": S.Optional(S.MapOf(S.Table({
    "url": S.Str(what="an ssh://[user@]host[:port] URL"),
    "python": S.Optional(S.Str()),
    "ssh_options": S.Optional(S.ListOf(S.Str(what="KEY=VALUE"))),
    "profile": S.Optional(S.Str()),
}), key=S.Str(pattern=NAME.pattern.strip("^$"), what="letters, digits, '.', '_', '-'")))})


def load_devices(path: Path | None = None) -> dict[str, Device]:
    path = path or registry_path()
    if not path.exists():
        return {}
    data = S.load_toml(path, DEVICES_SCHEMA)
    found = {}
    for name, d in (data.get("devices") or {}).items():
        try:
            found[name] = make_device(name, d["url"], d.get("python", "python3"),
                                      d.get("ssh_options", []), d.get("profile"))
        except UsageError as e:
            raise UsageError(f"{path}: key '{S.key_path('devices', name)}': {e}") from None
    return found


def _toml(devices: dict[str, Device]) -> str:
    def s(v: str) -> str:  # a JSON string is a valid TOML basic string
        return json.dumps(v, ensure_ascii=False)

    lines = ["# edgekit's devices: 'edgekit devices add NAME ssh://user@host' writes here."]
    for d in devices.values():
        lines += ["", f"[devices.{s(d.name)}]", f"url = {s(d.url)}", f"python = {s(d.python)}",
                  f"ssh_options = [{', '.join(s(o) for o in d.ssh_options)}]"]
        if d.profile:
            lines.append(f"profile = {s(d.profile)}")
    return "\n".join(lines) + "\n"


def save_devices(devices: dict[str, Device], path: Path | None = None) -> Path:
    from edgekit.core.files import write_text

    path = path or registry_path()
    write_text(path, _toml(devices))
    return path


def add_device(device: Device, force: bool = False) -> Path:
    devices = load_devices()
    if device.name in devices and not force:
        raise UsageError(f"device {device.name!r} exists ({devices[device.name].url}); "
                         "use --force to replace it")
    devices[device.name] = device
    return save_devices(devices)


def remove_device(name: str) -> Path:
    devices = load_devices()
    get_device(name, devices)
    del devices[name]
    return save_devices(devices)


def set_profile(name: str, profile: str) -> None:
    """Remember the profile that calibration wrote for a stored device."""
    devices = load_devices()
    if name in devices:
        devices[name] = replace(devices[name], profile=profile)
        save_devices(devices)


def get_device(text: str, devices: dict[str, Device] | None = None) -> Device:
    """A stored device by name, or an ad-hoc one from an ssh:// URL."""
    if "://" in text:
        url = check_url(text)
        return Device(Device("adhoc", url).address[1], url)
    devices = load_devices() if devices is None else devices
    if text not in devices:
        from edgekit.core.specs import suggest

        known = f"; known: {', '.join(devices)}" if devices else ""
        raise UsageError(f"unknown device {text!r}{suggest(text, list(devices))}{known}; "
                         "add it with 'edgekit devices add NAME ssh://user@host', or give "
                         "--device ssh://user@host")
    return devices[text]
