"""`edgekit profiles calibrate`: measure this machine's peak fp32 GFLOP/s (a GEMM through
numpy's BLAS) and memory bandwidth (a large array copy), and write a host profile."""

from __future__ import annotations

import os
from pathlib import Path

from edgekit.runtimes.env import cpu_model
from edgekit.runtimes.peaks import copy_gbs, gemm_gflops


def total_ram() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 8 * 2**30


def measure_host(path: Path) -> dict:
    from datetime import UTC, datetime

    from edgekit.core.files import write_text

    gflops = gemm_gflops()
    gbs = copy_gbs()
    ram = total_ram()
    disk = 0
    try:
        st = os.statvfs(Path.home())
        disk = st.f_bavail * st.f_frsize
    except OSError:
        disk = 64 * 10**9
    when = datetime.now(UTC).isoformat(timespec="seconds")
    text = f'''# Measured by 'edgekit profiles calibrate' on {when}.
name = "host"
title = "{cpu_model()} ({os.cpu_count()} cores, this machine)"
kind = "host"

[compute]
# best of 7 fp32 1024x1024 matrix products through numpy's BLAS, all cores
peak_gflops_fp32 = {gflops:.1f}

[memory]
# best of 7 copies of a 256 MiB float32 array (bytes read + written per second)
bandwidth_gbs = {gbs:.2f}
ram_bytes = {ram}        # physical memory (sysconf)
storage_bytes = {disk}   # free space in the home folder
'''
    write_text(path, text)
    return {"peak_gflops_fp32": gflops, "bandwidth_gbs": gbs, "path": str(path)}
