"""The machine a benchmark runs on: its fingerprint (what it is) and its state (how hot and
how fast it is right now). Linux reads /proc and /sys; what a machine does not offer is
None, never guessed. Standard library only, so that it runs on a board."""

from __future__ import annotations

import glob
import os
import platform
import shutil
import socket
import subprocess
import sys

_CPUFREQ = "/sys/devices/system/cpu/cpu{}/cpufreq/{}"


DEVICETREE_MODEL = ("/sys/firmware/devicetree/base/model", "/proc/device-tree/model")


def cpu_description() -> dict:
    """{'cpu', 'core', 'board'}: the cores by name (decoded from the MIDR fields of
    /proc/cpuinfo on Arm; 'model name' on x86), and the board's devicetree model
    (Raspberry Pi 5 Model B Rev 1.0), None where the machine does not say."""
    from edgekit.core.cpuinfo import describe

    model = next((m for p in DEVICETREE_MODEL if (m := _read(p))), None)
    found = describe(_read("/proc/cpuinfo") or "", model)
    if not found["cpu"]:
        found["cpu"] = platform.processor() or platform.machine()
    return found


def _read(path: str) -> str | None:
    try:
        with open(path, errors="replace") as f:   # not a user file: /proc, /sys
            return f.read().strip().rstrip("\0")
    except OSError:
        return None


_CACHE = "/sys/devices/system/cpu/cpu{}/cache/index{}/{}"


def l2_bytes(core: int = 0) -> int | None:
    """The size of the L2 cache of ``core`` from sysfs, in bytes; None where the kernel
    does not say (a latency table then keeps the lines that need no cache size)."""
    for i in range(8):
        level, kind, size = (_read(_CACHE.format(core, i, f))
                             for f in ("level", "type", "size"))
        if level is None:
            return None
        unit = {"K": 1024, "M": 1024 ** 2}.get((size or " ")[-1])
        if level == "2" and kind in ("Data", "Unified") and unit and size[:-1].isdigit():
            return int(size[:-1]) * unit
    return None


def _usable_cores() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:
        return list(range(os.cpu_count() or 1))


def threads_beyond_cores(threads: int | None, usable: int | None = None) -> str | None:
    """A warning when ``threads`` is more than the cores this process may use (``usable``:
    a board's, from its fingerprint; default this machine's), else None."""
    usable = usable or len(_usable_cores())
    if not threads or threads <= usable:
        return None
    return (f"--threads {threads} on {usable} usable core{'s' if usable > 1 else ''}: the "
            "threads take turns on the cores, so what is measured is less than the "
            f"machine's peak (use --threads {usable} or fewer)")


def _os_name() -> str:
    for line in (_read("/etc/os-release") or "").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return platform.system()


def _mhz(cpu: int, what: str) -> float | None:
    value = _read(_CPUFREQ.format(cpu, what))
    return int(value) / 1000 if value and value.isdigit() else None


def temperature_c() -> float | None:
    """The hottest thermal zone that reads (the CPU on most boards), in °C."""
    temps = []
    for zone in glob.glob("/sys/class/thermal/thermal_zone*/temp"):
        value = _read(zone)
        if value and value.lstrip("-").isdigit():
            temps.append(int(value) / 1000)
    return max(temps) if temps else None


def throttled() -> str | None:
    """Raspberry Pi firmware's throttling flags ('vcgencmd get_throttled': '0x0' when the
    board never throttled since boot; bit 0 under-voltage, 1 capped, 2 throttled, 3 soft
    temperature limit; bits 16-19 the same 'has occurred'), None elsewhere."""
    if not shutil.which("vcgencmd"):
        return None
    from edgekit.core import children

    try:
        done = children.run(["vcgencmd", "get_throttled"], timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    text = done.stdout.decode(errors="replace").strip()
    return text.split("=", 1)[1] if done.returncode == 0 and "=" in text else None


def state(cores: list[int] | None = None) -> dict:
    """How the machine is now: temperature, the current frequency of the cores in use
    (MHz), their governor, and the throttling flags where the board has them."""
    cores = cores if cores is not None else _usable_cores()
    freqs = [_mhz(c, "scaling_cur_freq") for c in cores]
    return {"temperature_c": temperature_c(),
            "freq_mhz": None if all(f is None for f in freqs) else freqs,
            "throttled": throttled()}


def fingerprint() -> dict:
    """What the machine is: host, CPU, memory, OS, Python, runtimes, frequency policy."""
    from edgekit.core.versions import RUNTIME_PACKAGES, package_versions

    cores = _usable_cores()
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        ram = None
    governors = sorted({g for c in cores if (g := _read(_CPUFREQ.format(
        c, "scaling_governor")))})
    max_freqs = [_mhz(c, "cpuinfo_max_freq") for c in cores]
    return {"hostname": socket.gethostname(), **cpu_description(),
            "cores": os.cpu_count(), "usable_cores": len(cores),
            "machine": platform.machine(), "system": platform.system(),
            "os": _os_name(), "kernel": platform.release(), "ram_bytes": ram,
            "python": sys.version.split()[0],
            "versions": {k: v for k, v in package_versions(RUNTIME_PACKAGES).items() if v},
            "l2_bytes": l2_bytes(cores[0]) if cores else None,
            "governor": ",".join(governors) or None,
            "max_freq_mhz": None if all(f is None for f in max_freqs) else max(
                f for f in max_freqs if f is not None),
            **state(cores)}

