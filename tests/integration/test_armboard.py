"""The aarch64 board (issue 23): a Raspberry Pi 5 as qemu-user shows it (Debian's arm64
Python, the aarch64 wheels of numpy, ai-edge-litert and onnxruntime; `make armboard`),
reached over a real sshd whose login has its own home. Emulated time is slow and says
nothing about a Pi, so these tests check behaviour, fingerprints and figures that do not
depend on speed (ops, MACs, what was imported), never latency. The crash tests run a
runtime that kills its own process, on both boards."""

import json
import subprocess

import pytest

from tests.integration.conftest import ROOT

pytestmark = pytest.mark.integration
HEAVY = {"tensorflow", "keras", "tf2onnx", "onnx", "sklearn", "matplotlib", "typer", "rich"}
CORPUS = ROOT / ".venv" / "corpus"
BOARD_PYTHON = ROOT / ".venv" / "board" / "bin" / "python"
TFLITE = "face_detection_front.tflite"              # MediaPipe's, 90 ops
ONNX = "ch_ppocr_mobile_v2.0_cls_infer.onnx"        # PaddleOCR's, input x: 1x3x?x?


def _json(r):
    assert r.code == 0, r.err
    return json.loads(r.out)


def _one_line(r, code, *said):
    assert r.code == code, (r.code, r.err)
    assert len(r.err_lines) == 1 and "Traceback" not in r.err, r.err
    for s in said:
        assert s in r.err, r.err


def corpus(name):
    path = CORPUS / name
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make corpus` (make test does)")
    return path


@pytest.fixture
def pi(add_device, arm_python):
    return add_device("pi", arm_python)


def test_check_names_the_board_and_the_core(cli, pi, home_board):
    """The fingerprint comes from the sysroot's Raspberry Pi 5 cpuinfo (MIDR 0x41/0xd0b)
    and devicetree model; both runtimes import on aarch64; nothing heavy is imported."""
    check = _json(cli("devices", "check", "pi", "--json"))
    fp = check["device"]["fingerprint"]
    assert fp["machine"] == "aarch64" and fp["python"].startswith("3.11")
    assert (fp["board"], fp["core"], fp["cpu"]) == (
        "Raspberry Pi 5 Model B Rev 1.0", "Cortex-A76", "4x Cortex-A76")
    rt = check["device"]["runtimes"]
    assert rt["litert"].startswith("ai-edge-litert") and rt["onnxruntime"]
    assert rt["problems"] == {} and "cpu" in rt["providers"]
    assert not HEAVY & set(check["imported"]), check["imported"]
    # no sensors under emulation: unknown, not 0
    assert fp["temperature_c"] is None and fp["governor"] is None
    # the board's cache is in the login's home, as on a Pi
    assert (home_board.home / ".cache/edgekit-board/code").is_dir()
    r = cli("devices", "check", "pi")
    assert r.code == 0 and "Raspberry Pi 5 Model B" in r.out and "4x Cortex-A76" in r.out


def test_bench_third_party_files(cli, pi):
    """A .tflite (MediaPipe) and an .onnx (PaddleOCR) made outside edgekit, timed on
    the board in its own runtimes: one row each, with the host's MAC count."""
    tfl, onnx = corpus(TFLITE), corpus(ONNX)
    rows = {}
    for path, extra in ((tfl, []), (onnx, ["--input-shape", "x:1x3x48x192"])):
        data = _json(cli("bench", path, *extra, "--device", "pi", "--runs", "2", "--warmup",
                         "1", "--threads", "1", "--json"))
        assert data["device"]["fingerprint"]["machine"] == "aarch64"
        rows |= {r["runtime"]: r for r in data["results"]}
    assert rows.keys() == {"litert", "onnxruntime"}
    assert rows["litert"]["file"] == str(tfl) and rows["onnxruntime"]["file"] == str(onnx)
    for r in rows.values():
        assert r["runs"] == 2 and r["latency_ms"]["p50"] > 0
    for runtime, path, extra in (("litert", tfl, []),
                                 ("onnxruntime", onnx, ["--input-shape", "x:1x3x48x192"])):
        local = _json(cli("analyze", path, *extra, "--json"))
        assert rows[runtime]["macs_per_item"] == local["totals"]["macs"]


def test_profile_tflite_by_isolation(cli, pi):
    """The board's LiteRT cuts out and runs every op of a third-party file: the ops and
    their MACs are those of the host's analysis of the same file."""
    path = corpus(TFLITE)
    prof = _json(cli("profile", path, "--device", "pi", "--runs", "1", "--warmup", "0",
                     "--threads", "1", "--json"))
    local = _json(cli("analyze", path, "--json"))
    assert prof["device"]["fingerprint"]["core"] == "Cortex-A76"
    assert len(prof["ops"]) + len(prof["not_isolated"]) == len(local["layers"]) - 1
    assert sum(o["macs"] for o in prof["ops"]) == local["totals"]["macs"] == 30_760_960
    assert all(o["ms"] > 0 for o in prof["ops"])


def test_calibrate_reduced(cli, pi, tmp_path):
    """'profiles calibrate' on the board, with a small layer: the peaks follow from the
    measured times, the kind is the board's, and what the board does not report
    (governor, frequency, temperature) is absent from the profile, not "unknown" or 0."""
    import tomllib

    from edgekit.core.device_profiles import load_profile
    from edgekit.services.calibrate import calibrate_device

    fc = (8, 256, 256)
    m = calibrate_device("pi", tmp_path / "pi.toml", fc=fc, runs=3, copy_mib=4)
    macs = fc[0] * fc[1] * fc[2]
    assert m["peak_gflops_fp32"] == pytest.approx(2 * macs / (m["times"]["none"]["min_ms"]
                                                              * 1e6))
    assert m["peak_gops_int8"] == pytest.approx(2 * macs / (m["times"]["int8"]["min_ms"]
                                                            * 1e6))
    assert all(t["runs"] == 3 for t in m["times"].values())
    p = load_profile(tmp_path / "pi.toml")
    assert p.kind == "sbc" and p.peak_gflops_fp32 == pytest.approx(m["peak_gflops_fp32"],
                                                                   rel=1e-3)
    assert "Raspberry Pi 5 Model B" in p.title and "4x Cortex-A76" in p.title
    text = (tmp_path / "pi.toml").read_text()
    device = tomllib.loads(text)["device"]
    assert device["core"] == "Cortex-A76" and device["machine"] == "aarch64"
    for absent in ("governor", "max_freq_mhz", "temperature_c", "throttled"):
        assert absent not in device
    assert "unknown" not in text and "nan" not in text
    assert _json(cli("devices", "--json"))["devices"][0]["profile"] == "pi"


@pytest.mark.parametrize("which", ["x86", "aarch64"])
def test_python_in_the_boards_home(cli, add_device, home_board, which, request):
    """--python '~/venv/bin/python' (how Raspberry Pi OS users name a venv): the '~/' is
    the board's home, not this machine's, and not quoted away."""
    python = request.getfixturevalue("arm_python") if which == "aarch64" else BOARD_PYTHON
    if not python.exists():
        pytest.skip("no board Python: run 'make board'")
    venv = home_board.home / f"venv-{which}" / "bin"
    venv.mkdir(parents=True, exist_ok=True)
    (venv / "python").unlink(missing_ok=True)
    (venv / "python").symlink_to(python)
    add_device("tilde", f"~/venv-{which}/bin/python")
    assert _json(cli("devices", "--json"))["devices"][0]["python"] == (
        f"~/venv-{which}/bin/python")
    fp = _json(cli("devices", "check", "tilde", "--json"))["device"]["fingerprint"]
    assert fp["machine"] == ("aarch64" if which == "aarch64" else "x86_64")
    # a venv that is not there is named as given
    add_device("nohome", "~/no venv/bin/python")
    _one_line(cli("devices", "check", "nohome"), 3,
              "has no Python at '~/no venv/bin/python'")


# ---- a runtime that crashes ------------------------------------------------------------

CRASH_AT_IMPORT = "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n"
CRASH_AT_LOAD = """import enum, os, signal
class OpResolverType(enum.Enum):
    AUTO = 0
    BUILTIN = 1
    BUILTIN_WITHOUT_DEFAULT_DELEGATES = 2
class Interpreter:
    def __init__(self, *args, **kwargs):
        os.kill(os.getpid(), signal.SIGABRT)
"""


def _python_with(folder, python, packages: dict[str, str]):
    """A board Python that finds ``packages`` ({'pkg/__init__.py': source}) first."""
    for name, source in packages.items():
        (folder / "pkgs" / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / "pkgs" / name).write_text(source)
    wrapper = folder / "python"
    if python.parent.parent.name == "armboard":   # the qemu wrapper puts its site first
        wrapper.write_text(python.read_text().replace(
            'PYTHONPATH="', f'PYTHONPATH="{folder}/pkgs:', 1))
    else:
        wrapper.write_text(f'#!/bin/sh\nPYTHONPATH="{folder}/pkgs${{PYTHONPATH:+:'
                           f'$PYTHONPATH}}" exec {python} "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


def test_a_runtime_that_crashes_at_import(cli, add_device, arm_python, tmp_path):
    """onnxruntime kills its process with SIGSEGV at import: the board is still usable,
    'devices check' says which runtime is broken and how, a .tflite bench works, and an
    .onnx one is refused in one line naming the module and the signal (exit 1)."""
    python = _python_with(tmp_path, arm_python, {"onnxruntime/__init__.py": CRASH_AT_IMPORT})
    add_device("cracked", python)
    check = _json(cli("devices", "check", "cracked", "--json"))["device"]["runtimes"]
    assert check["onnxruntime"] is None and check["litert"]
    assert check["problems"] == {"onnxruntime": "crashes at import (SIGSEGV, signal 11)"}
    r = cli("devices", "check", "cracked")
    assert r.code == 0 and "unusable: it crashes at import (SIGSEGV" in r.out
    data = _json(cli("bench", corpus(TFLITE), "--device", "cracked", "--runs", "1",
                     "--warmup", "0", "--threads", "1", "--json"))
    assert [r["runtime"] for r in data["results"]] == ["litert"]
    _one_line(cli("bench", corpus(ONNX), "--device", "cracked", "--runs", "1"), 1,
              "cracked's onnxruntime crashes at import (SIGSEGV, signal 11)")


@pytest.mark.parametrize("which", ["x86", "aarch64"])
def test_a_crash_is_not_a_lost_connection(cli, add_device, tmp_path, which, request):
    """LiteRT imports but its interpreter kills the agent (SIGABRT) while loading a model:
    OpenSSH alone would say 255, the code of a dropped link; edgekit says the agent
    crashed, with the signal and the module where, and exits 1."""
    python = request.getfixturevalue("arm_python") if which == "aarch64" else BOARD_PYTHON
    if not python.exists():
        pytest.skip("no board Python: run 'make board'")
    python = _python_with(tmp_path, python, {"ai_edge_litert/__init__.py": "",
                                             "ai_edge_litert/interpreter.py": CRASH_AT_LOAD})
    add_device("crashy", python)
    _one_line(cli("bench", corpus(TFLITE), "--device", "crashy", "--runs", "1"), 1,
              "the agent on crashy crashed: SIGABRT (signal 6) in module "
              "ai_edge_litert.interpreter (in __init__())")


def test_an_interpreter_that_dies_is_not_a_lost_connection(cli, add_device, tmp_path):
    """The board's Python itself dies of a signal before it says anything (ssh: 255,
    with the connection still up): one line that says so, exit 1, not 'cannot reach'."""
    python = tmp_path / "python"
    python.write_text("#!/bin/sh\nkill -SEGV $$\n")
    python.chmod(0o755)
    add_device("dying", python)
    _one_line(cli("devices", "check", "dying"), 1,
              f"dying's Python ({python}) crashed before it answered")


def test_the_agent_runs_where_the_board_was_built(arm_python):
    """The board's own Python: aarch64, and edgekit is not installed there."""
    done = subprocess.run([str(arm_python), "-c", "import platform; print(platform."
                           "machine()); import edgekit"], capture_output=True, text=True,
                          cwd="/")
    assert done.stdout.split() == ["aarch64"]
    assert "No module named 'edgekit'" in done.stderr
