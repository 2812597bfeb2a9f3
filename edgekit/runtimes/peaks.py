"""Peak measurements, the same on a board and on the host: the compute peaks from timing
a large fully-connected layer (fp32 and int8 files, exported on the host) in the runtime
that runs the models (LiteRT/XNNPACK, else onnxruntime), so that a model's "% of peak"
compares like with like; the memory bandwidth from a large numpy copy. (A GEMM through
numpy's BLAS is no such peak: BLAS can run a slower kernel than the CPU has, e.g. under
OPENBLAS_CORETYPE=Haswell on this project's machine 32-67 GFLOP/s against LiteRT's
236-374, and MobileNet then ran at 169 % of it.)"""

from __future__ import annotations

import time

import numpy as np

COPY_MIB = 128     # the array copied for the bandwidth: beyond any cache, within a board's RAM


def copy_gbs(mbytes: int = COPY_MIB, repeats: int = 7) -> float:
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


def runtime_peaks(models: list[dict], threads: int, runs: int, copy_mib: int = COPY_MIB,
                  notify=lambda m: None) -> dict:
    """Time each calibration model ({'label', 'file'}) with ``threads`` threads, best of
    ``runs``, and measure the copy bandwidth: {'bandwidth_gbs', 'times': {label:
    {'min_ms', 'p50_ms', 'runs'}}}. The agent runs it on a board, calibrate on the host."""
    from edgekit.runtimes.base import open_runner
    from edgekit.runtimes.measure import Method, time_plan

    notify("Measuring copy bandwidth")
    bandwidth = copy_gbs(mbytes=copy_mib)
    plan = [(m["label"], threads, lambda m=m: open_runner(m["file"], threads=threads))
            for m in models]
    times = {}
    for index, timed in time_plan(plan, [1], Method(runs=runs, warmup="auto"), notify):
        times[models[index]["label"]] = {"min_ms": timed["latency_ms"]["min"],
                                         "p50_ms": timed["latency_ms"]["p50"],
                                         "runs": timed["runs"]}
    return {"bandwidth_gbs": bandwidth, "times": times}
