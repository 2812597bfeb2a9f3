"""`edgekit profiles calibrate`: measure this machine's peak fp32 GFLOP/s (a GEMM through
numpy's BLAS) and memory bandwidth (a large array copy), and write a host profile."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from edgekit.runtimes.env import cpu_model


def gemm_gflops(n: int = 1024, repeats: int = 7) -> float:
    """Best-of-N fp32 matrix multiply: 2*n^3 FLOPs per product."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    c = np.empty((n, n), dtype=np.float32)
    np.matmul(a, b, out=c)  # warm-up
    best = min(_timed(lambda: np.matmul(a, b, out=c)) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def copy_gbs(mbytes: int = 256, repeats: int = 7) -> float:
    """Best-of-N copy of a large float32 array: bytes read + bytes written per second."""
    src = np.ones(mbytes * 2**20 // 4, dtype=np.float32)
    dst = np.empty_like(src)
    np.copyto(dst, src)
    best = min(_timed(lambda: np.copyto(dst, src)) for _ in range(repeats))
    return 2 * src.nbytes / best / 1e9


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def total_ram() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 8 * 2**30


def measure_host(path: Path) -> dict:
    from datetime import UTC, datetime

    from edgekit.core.files import atomic_write

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
    atomic_write(path, lambda f: f.write(text), mode="w")
    return {"peak_gflops_fp32": gflops, "bandwidth_gbs": gbs, "path": str(path)}
