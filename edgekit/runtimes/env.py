"""The environment a benchmark ran in: CPU, cores, runtime versions."""

from __future__ import annotations

import os
import platform
import sys


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> dict:
    from edgekit.core.versions import RUNTIME_PACKAGES, package_versions

    versions = package_versions(RUNTIME_PACKAGES)
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "usable_cores": usable,
            "machine": platform.machine(), "system": platform.system(),
            "python": sys.version.split()[0], "versions": versions}
