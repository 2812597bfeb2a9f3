"""Peak measurements that need nothing but numpy, so that they also run on a board:
fp32 GEMM throughput through numpy's BLAS, and memory copy bandwidth."""

from __future__ import annotations

import time

import numpy as np


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
