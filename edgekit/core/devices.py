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

import re
from dataclasses import dataclass, replace
from pathlib import Path

from edgekit.core import schema as S
from edgekit.core.errors import UsageError

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
OPTION = re.compile(r"^([A-Za-z][A-Za-z0-9]*)\s*=\s*(\S.*)$")
# options edgekit sets itself to multiplex one connection per run
MANAGED_OPTIONS = {"controlpath", "controlmaster", "controlpersist", "batchmode"}
TRANSPORTS = ("ssh",)
URL_FORM = "ssh://[user@]host[:port]"
# what ssh reads as a host or a user name and nothing else: never an option ('-' first),
# never a shell word (OpenSSH 9.6 refuses those itself), no space or control character
HOST = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")
USER = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.-]*\$?")
PORT = re.compile(r"[0-9]{1,5}")
# ssh_options whose value ssh reads as a number, checked as ssh reads them (ssh -G is the
# full check where ssh is installed: remote.transport.check_ssh_config): whole numbers
# with their least value, times as N[smhdw]... ('none' for no limit), both at most INT_MAX
_INTEGER_OPTIONS = {"port": 1, "connectionattempts": 1, "serveralivecountmax": 0,
                    "numberofpasswordprompts": 0}
_TIME_OPTIONS = {"connecttimeout", "serveraliveinterval"}
_TIME_PART = re.compile(r"([0-9]+)([sSmMhHdDwW]?)")
_TIME_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
INT_MAX = 2**31 - 1


def ssh_seconds(value: str) -> int | None:
    """A time as ssh reads it (10, 10s, 1h30m; 'none': 0), or None where ssh refuses it."""
    if value.lower() == "none":
        return 0
    total, at = 0, 0
    while at < len(value):
        m = _TIME_PART.match(value, at)
        if m is None:
            return None
        n = _digits(m.group(1).lstrip("0") or "0", "time", 0, INT_MAX)
        if n is None:
            return None
        total += n * _TIME_UNIT[m.group(2).lower()]
        if total > INT_MAX:
            return None
        at = m.end()
    return total if value else None


def _option_problem(key: str, value: str) -> str | None:
    """Why ssh would refuse ``value`` for a numeric option ``key`` (lower case), or None."""
    if key in _TIME_OPTIONS:
        return None if ssh_seconds(value) is not None else (
            "a time in seconds (a whole number, as in 10, or 1h30m)")
    if key not in _INTEGER_OPTIONS:
        return None
    least = _INTEGER_OPTIONS[key]
    most = 65535 if key == "port" else INT_MAX
    if _digits(value.lstrip("0") or "0", key, least, most) is None:
        return f"a whole number from {least} to {most}"
    return None


@dataclass(frozen=True)
class Address:
    """Where a device URL points: what ssh gets as -l, the destination, and -p."""

    user: str | None
    host: str
    port: int | None

    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return (f"ssh://{self.user + '@' if self.user else ''}{host}"
                f"{':' + str(self.port) if self.port else ''}")


def shown(text: str) -> str:
    """User text for a one-line message: quoted, control characters escaped."""
    return repr(text)


def _digits(text: str, what: str, lo: int, hi: int) -> int | None:
    """ASCII decimal digits as a number from lo to hi (the number reader's rules), or
    None."""
    from edgekit.core.numbers import NumberError, read_number

    if not re.fullmatch(r"[0-9]{1,10}", text):
        return None
    try:
        return read_number(text, what, lo, hi, integer=True)
    except NumberError:
        return None


def parse_url(url: str) -> Address:
    """The one parser of a device URL, ssh://[user@]host[:port] (a trailing '/' allowed):
    its parts, or one line (a UsageError) saying what is wrong. It refuses what ssh would
    read as something else: a host or user that begins with '-' (an option), spaces and
    control characters, a fragment or query, a path, a password, a port that is not 1 to
    65535 in ASCII digits, an IPv6 address without brackets."""
    def bad(why: str) -> UsageError:
        return UsageError(f"device URL {shown(url)}: {why}")

    if not isinstance(url, str) or not url:
        raise UsageError(f"device URL {shown(url)}: expected {URL_FORM}")
    if any(c.isspace() or not c.isprintable() for c in url):
        raise bad("it contains a space or a control character; expected " + URL_FORM)
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise bad("no scheme; edgekit reaches devices over " + URL_FORM)
    if scheme.lower() not in TRANSPORTS:
        raise bad(f"'{scheme}://'; edgekit reaches devices over {URL_FORM} (other "
                  "transports, adb among them, are not supported yet)")
    if "#" in rest or "?" in rest:
        raise bad(f"a fragment or query ('#', '?') is not part of {URL_FORM}")
    netloc, _, path = rest.partition("/")
    if path:
        raise bad(f"expected {URL_FORM} (a host name from ~/.ssh/config works too), with "
                  "no path")
    userinfo, at, hostport = netloc.rpartition("@")
    if at and ":" in userinfo:
        raise bad("a password does not go in the URL (use a key: --ssh-option "
                  "IdentityFile=~/.ssh/KEY)")
    if at and not USER.fullmatch(userinfo):
        raise bad(f"user {shown(userinfo)}: expected letters, digits, '.', '_', '-' "
                  "(not first)")
    host, port_text = _host_and_port(hostport, bad)
    port = None
    if port_text is not None:
        port = _digits(port_text, "port", 1, 65535)
        if port is None:
            raise bad(f"port {shown(port_text)} is not 1 to 65535")
    return Address(userinfo if at else None, host, port)


def _host_and_port(hostport: str, bad) -> tuple[str, str | None]:
    """(host, the port's text or None) of 'host[:port]' or '[IPv6][:port]'."""
    if hostport.startswith("["):
        host, close, tail = hostport[1:].partition("]")
        if not close or (tail and not tail.startswith(":")):
            raise bad("an IPv6 address goes in brackets: ssh://[::1]:22")
        try:
            import ipaddress

            ipaddress.IPv6Address(host)
        except ValueError:
            raise bad(f"[{host}] is not an IPv6 address") from None
        return host, (tail[1:] if tail else None)
    host, colon, port_text = hostport.partition(":")
    if colon and ":" in port_text:
        raise bad("an IPv6 address goes in brackets: ssh://[::1]:22")
    if not host:
        raise bad(f"no host; expected {URL_FORM} (a host name from ~/.ssh/config works "
                  "too)")
    if not HOST.fullmatch(host):
        raise bad(f"host {shown(host)}: expected a host name or address (letters, digits, "
                  "'.', '_', '-', not '-' first)")
    return host, (port_text if colon else None)


def check_url(url: str) -> str:
    """An ssh://[user@]host[:port] URL, written the one way (no trailing '/'), or one line
    saying what is wrong with it."""
    return parse_url(url).url()


def check_option(text: str) -> str:
    """One ssh option, KEY=VALUE, as ssh would read it: a known shape, not one edgekit
    sets itself, a whole number where ssh wants one; one line otherwise."""
    m = OPTION.match(text.strip()) if isinstance(text, str) else None
    if not m or any(not c.isprintable() for c in text):
        raise UsageError(f"--ssh-option {shown(text)}: expected KEY=VALUE, as in "
                         "IdentityFile=~/.ssh/pi (passed to ssh as -o KEY=VALUE)")
    key, value = m.group(1).lower(), m.group(2).strip()
    if key in MANAGED_OPTIONS:
        raise UsageError(f"--ssh-option {m.group(1)}: edgekit sets it itself (one "
                         "multiplexed, non-interactive connection per run)")
    problem = _option_problem(key, value)
    if problem is not None:
        raise UsageError(f"--ssh-option {shown(text.strip())}: ssh reads {m.group(1)} as "
                         f"{problem}")
    return f"{m.group(1)}={value}"


def option_values(options, key: str) -> list[str]:
    """The values of ``key`` among ssh options (KEY=VALUE, the key in any case)."""
    return [o.split("=", 1)[1].strip() for o in options
            if o.split("=", 1)[0].strip().lower() == key.lower()]


def check_agreement(address: Address, options) -> None:
    """A URL's port and user and the ssh options' Port= and User= say the same thing (ssh
    would take the first and ignore the other without a word)."""
    for key, given in (("Port", address.port), ("User", address.user)):
        values = set(option_values(options, key)) | ({str(given)} if given else set())
        if key == "Port":       # read as numbers, as ssh does (022 is 22)
            values = {v.lstrip("0") for v in values}     # each checked: ASCII digits
        if len(values) > 1:
            raise UsageError(f"the device URL and --ssh-option {key}= disagree ("
                             f"{', '.join(sorted(values))}): give the {key.lower()} once")


@dataclass(frozen=True)
class Device:
    name: str
    url: str
    python: str = "python3"
    ssh_options: tuple[str, ...] = ()
    profile: str | None = None

    @property
    def transport(self) -> str:
        return self.url.partition("://")[0].lower()

    @property
    def address(self) -> tuple[str | None, str, int | None]:
        """(user, host, port) of the URL."""
        a = parse_url(self.url)
        return a.user, a.host, a.port

    def to_dict(self) -> dict:
        return {"name": self.name, "url": self.url, "transport": self.transport,
                "python": self.python, "ssh_options": list(self.ssh_options),
                "profile": self.profile}


def make_device(name: str, url: str, python: str = "python3", ssh_options=(),
                profile: str | None = None) -> Device:
    if not NAME.match(name) or "://" in name:
        raise UsageError(f"device name {name!r}: use letters, digits, '.', '_' and '-' "
                         "(up to 64), starting with a letter or digit")
    if not isinstance(python, str) or not python.strip() or any(
            not c.isprintable() for c in python):
        raise UsageError("--python: give the board's interpreter, e.g. python3 or "
                         "/opt/venv/bin/python3")
    address = parse_url(url)
    options = tuple(check_option(o) for o in ssh_options)
    check_agreement(address, options)
    return Device(name, address.url(), python.strip(), options, profile)


def registry_path() -> Path:
    from edgekit.core.places import config_dir

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
    from edgekit.core.numbers import dumps

    def s(v: str) -> str:  # a JSON string is a valid TOML basic string
        return dumps(v, ensure_ascii=False)

    lines = ["# edgekit's devices: 'edgekit devices add NAME ssh://user@host' writes here."]
    for d in devices.values():
        lines += ["", f"[devices.{s(d.name)}]", f"url = {s(d.url)}", f"python = {s(d.python)}",
                  f"ssh_options = [{', '.join(s(o) for o in d.ssh_options)}]"]
        if d.profile:
            lines.append(f"profile = {s(d.profile)}")
    return "\n".join(lines) + "\n"


def save_devices(devices: dict[str, Device], path: Path | None = None) -> Path:
    from edgekit.core.files import write_text
    from edgekit.core.inputs import forget_input

    path = path or registry_path()
    forget_input(path)      # read to be updated: edgekit's own file, rewritten whole
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
        address = parse_url(text)
        return Device(address.host, address.url())
    devices = load_devices() if devices is None else devices
    if text not in devices:
        from edgekit.core.specs import suggest

        known = f"; known: {', '.join(devices)}" if devices else ""
        raise UsageError(f"unknown device {text!r}{suggest(text, list(devices))}{known}; "
                         "add it with 'edgekit devices add NAME ssh://user@host', or give "
                         "--device ssh://user@host")
    return devices[text]
