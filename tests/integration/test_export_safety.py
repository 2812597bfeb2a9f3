"""An export is safe to interrupt, to kill and to run twice at once: Ctrl-C exits 130 and
leaves nothing, a killed export's staging folder is removed by the next one, and two
exports into one folder run one after the other with a manifest that lists exactly the
files present."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

EDGEKIT = [sys.executable, "-c", "from edgekit.cli.main import main; main()"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, keras):
    d = tmp_path_factory.mktemp("tiny")
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(8, 3, activation="relu", name="c1")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(x)).save(d / "tiny.keras")
    return d / "tiny.keras"


def start(tiny, out, *extra):
    return spawn(str(tiny), "--calibration", "random", "-n", "8", "-o", str(out), *extra)


def start_long(out):
    """An export that takes long enough (seconds per file) to be caught in the middle."""
    return spawn("mobilenet", "--alpha", "0.25", "--resolution", "96", "--quant",
                 "none,fp16,dynamic,int8", "-n", "32", "-o", str(out))


def _default_sigint():
    """A shell gives its commands the default SIGINT handling; pytest-xdist's workers
    ignore SIGINT, and a child would inherit that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def spawn(*args):
    return subprocess.Popen([*EDGEKIT, "export", *args], preexec_fn=_default_sigint,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "EDGEKIT_DEBUG": "0"})


def wait_for_staging(out: Path, proc, timeout=120.0) -> Path:
    """The staging folder, once the export has written a file into it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for staging in out.glob(".edgekit-staging-*"):
            if any(staging.iterdir()):
                return staging
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    raise AssertionError("no staging folder appeared")


def visible(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if not p.name.startswith(".")}


def test_ctrl_c_exits_130_and_leaves_nothing(tiny, tmp_path):
    out = tmp_path / "out"
    proc = start_long(out)
    wait_for_staging(out, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "edgekit: interrupted" in err
    assert not out.exists() or not any(out.iterdir())


def test_a_killed_exports_staging_is_removed_by_the_next(tiny, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    proc = start_long(out)
    staging = wait_for_staging(out, proc)
    proc.kill()
    proc.wait()
    assert staging.exists()                          # SIGKILL: nothing could clean up
    again = start(tiny, out)
    _, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert not list(out.glob(".edgekit-staging-*"))
    manifest = json.loads((out / "manifest.json").read_text())
    assert {a["file"] for a in manifest["artifacts"]} | {"manifest.json"} == visible(out)


def test_abandoned_staging_is_cleared_only_once_its_export_is_gone(tmp_path):
    """What a sweep does after its local Ray workers were ended mid-export: the staging
    folder of a live export (it holds the folder's lock) stays; a killed one's goes."""
    from edgekit.export.pipeline import clear_abandoned_staging

    out, other = tmp_path / "out", tmp_path / "other"
    other.mkdir()
    (other / "model.tflite").write_bytes(b"kept")
    proc = start_long(out)
    try:
        staging = wait_for_staging(out, proc)
        assert clear_abandoned_staging([out, other]) == []
        assert staging.exists() and proc.poll() is None
    finally:
        proc.kill()
        proc.communicate()
    assert clear_abandoned_staging([out, other, tmp_path / "gone"]) == [staging]
    assert not staging.exists() and (other / "model.tflite").read_bytes() == b"kept"


def test_an_export_waits_for_the_folder_lock(tiny, tmp_path):
    import fcntl

    out = tmp_path / "out"
    out.mkdir()
    fd = os.open(out, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)          # another export holds the folder
    try:
        proc = start(tiny, out)
        waited = ""
        deadline = time.monotonic() + 120
        while "waiting for it" not in waited and time.monotonic() < deadline:
            line = proc.stderr.readline()
            assert line or proc.poll() is None, waited
            waited += line
        assert "another edgekit export is writing into" in waited
        time.sleep(0.5)
        assert proc.poll() is None and not visible(out)    # blocked, nothing written
    finally:
        os.close(fd)                         # released: the export goes on
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert visible(out) == {"tiny_fp32.tflite", "tiny_fp32.onnx", "manifest.json"}


def test_two_exports_into_one_folder(tiny, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    first = start(tiny, out, "--quant", "none,fp16")
    second = start(tiny, out, "--quant", "dynamic", "--format", "onnx")
    _, err1 = first.communicate(timeout=300)
    _, err2 = second.communicate(timeout=300)
    assert first.returncode == 0 and second.returncode == 0, (err1, err2)
    manifest = json.loads((out / "manifest.json").read_text())
    files = {a["file"] for a in manifest["artifacts"]}
    assert files | {"manifest.json"} == visible(out)
    assert files == {"tiny_fp32.tflite", "tiny_fp16.tflite", "tiny_fp32.onnx",
                     "tiny_fp16.onnx", "tiny_dynamic.onnx"}


def test_another_models_files_are_replaced_not_listed(tiny, tmp_path, keras):
    out = tmp_path / "out"
    assert start(tiny, out).wait(timeout=300) == 0
    other = tmp_path / "other.keras"
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(2, 1)(inputs))
    keras.Model(inputs, keras.layers.Dense(4)(x)).save(other)
    proc = start(other, out, "--format", "onnx")
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    manifest = json.loads((out / "manifest.json").read_text())
    assert {a["file"] for a in manifest["artifacts"]} == {"other_fp32.onnx"}
    assert visible(out) == {"other_fp32.onnx", "manifest.json"}
