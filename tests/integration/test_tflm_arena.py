"""edgekit's liveness planner against TFLite Micro's real arena planner.

TFLM's RecordingMicroAllocator prints the arena 'head', the part its memory planner lays
out for activations (non-persistent tensors); the 'tail' holds persistent structures. For
models with fixed shapes (TFLM aborts on a dynamic batch) the head must equal edgekit's
peak of live activations in the stored dtype.
"""

import ctypes
import os
import re
import tempfile

import numpy as np
import pytest

from edgekit.services.analyze import analyze
from edgekit.services.targets import resolve_target
from tests.conftest import THIRD_PARTY_MODELS

tflm = pytest.importorskip("tflite_micro.python.tflite_micro.runtime",
                           reason="tflite-micro is in the dev extra")


def tflm_arena_head(path) -> int:
    interp = tflm.Interpreter.from_file(str(path), arena_size=16 * 2**20)
    spec = interp.get_input_details(0)
    interp.set_input(np.zeros(spec["shape"], dtype=spec["dtype"]), 0)
    interp.invoke()
    with tempfile.TemporaryFile(mode="w+") as f:  # the C++ side prints to fd 1 or 2
        saved = [os.dup(1), os.dup(2)]
        os.dup2(f.fileno(), 1)
        os.dup2(f.fileno(), 2)
        try:
            interp.print_allocations()
            ctypes.CDLL(None).fflush(None)  # C stdio buffers a redirected stream
        finally:
            for fd, old in zip((1, 2), saved, strict=True):
                os.dup2(old, fd)
                os.close(old)
        f.seek(0)
        text = f.read()
    return int(re.search(r"Arena allocation head (\d+) bytes", text).group(1))


@pytest.mark.parametrize("name", ["person_detect.tflite",
                                  "mobilenet_v2_quantized_1x3x224x224.tflite"])
def test_planner_peak_equals_tflm_arena(name):
    path = THIRD_PARTY_MODELS / name
    report = analyze(resolve_target(str(path), {}))
    assert report.totals()["peak_activation_bytes"] == tflm_arena_head(path)
