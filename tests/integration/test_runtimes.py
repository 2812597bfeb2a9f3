"""The runtime layer travels: edgekit/core and edgekit/runtimes alone, copied to a folder
with nothing else of edgekit, run a .tflite and an .onnx file with only numpy and the
runtimes imported (what the device issue ships to a board)."""

import shutil
import subprocess
import sys

import numpy as np

from tests.conftest import THIRD_PARTY_MODELS

FORBIDDEN = ("tensorflow", "keras", "tf2onnx", "onnx", "edgekit.services", "edgekit.cli",
             "edgekit.report", "edgekit.export", "edgekit.bench", "edgekit.readers",
             "edgekit.zoo", "edgekit._tf")

PROBE = """
import sys
sys.path.insert(0, {root!r})
import numpy as np
import edgekit
from edgekit.runtimes.base import open_runner, run_batched
from edgekit.runtimes.timing import measure
from edgekit.runtimes.env import fingerprint
assert edgekit.__file__.startswith({root!r}), edgekit.__file__
tfl = open_runner({tflite!r}, threads=1)
dog = np.load({dog!r})
tfl.invoke([dog])
out = tfl.interpreter.get_tensor(tfl.interpreter.get_output_details()[0]["index"])
print("TOP1", int(np.argmax(out)))
ort = open_runner({onnx!r})
y = run_batched(ort, np.arange(12, dtype=np.float32).reshape(3, 4), batch=2)
print("ONNX", y.ravel().tolist())
t = measure(ort.invoke, ort.prepare(np.ones((1, 4), np.float32)), warmup=1, runs=3)
print("RUNS", len(t.samples_ms), "CORES", fingerprint()["cores"])
print("LOADED", ",".join(m for m in {forbidden!r} if m in sys.modules))
"""


def tiny_onnx(path):
    """y = 2x + 1 with a dynamic batch, made with onnx.helper."""
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4])
    two = helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])
    one = helper.make_tensor("one", TensorProto.FLOAT, [], [1.0])
    graph = helper.make_graph([helper.make_node("Mul", ["x", "two"], ["m"]),
                               helper.make_node("Add", ["m", "one"], ["y"])],
                              "affine", [x], [y], [two, one])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)


def test_runtimes_run_from_a_copy_without_the_rest_of_edgekit(tmp_path):
    root = tmp_path / "board"
    import edgekit

    src = type(tmp_path)(edgekit.__file__).parent
    (root / "edgekit").mkdir(parents=True)
    shutil.copy(src / "__init__.py", root / "edgekit")
    for pkg in ("core", "runtimes"):
        shutil.copytree(src / pkg, root / "edgekit" / pkg,
                        ignore=shutil.ignore_patterns("__pycache__"))
    tiny_onnx(tmp_path / "affine.onnx")
    code = PROBE.format(root=str(root), tflite=str(THIRD_PARTY_MODELS /
                        "mobilenet_v2_quantized_1x3x224x224.tflite"),
                        dog=str(THIRD_PARTY_MODELS / "dog_int8_1x3x224x224.npy"),
                        onnx=str(tmp_path / "affine.onnx"), forbidden=FORBIDDEN)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    lines = {k: v for k, _, v in (line.partition(" ") for line in res.stdout.splitlines())}
    assert lines["TOP1"] == "258"                       # the Samoyed
    assert [float(v) for v in lines["ONNX"].strip("[]").split(", ")] == \
        (2 * np.arange(12) + 1).tolist()
    assert lines["RUNS"].startswith("3 CORES")
    assert lines["LOADED"].strip() == ""
