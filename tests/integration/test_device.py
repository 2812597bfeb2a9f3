"""A real device: OpenSSH's sshd on 127.0.0.1 with a throwaway key, and a board Python that
holds only numpy and the runtimes (onnxruntime-openvino: a second execution provider that
runs for real). `make test` installs both (EDGEKIT_REQUIRE_BOARD=1 turns a missing part
into a failure instead of a skip)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
from loopback_board import BOARD_PYTHON, LoopbackBoard, free_port, sshd_available  # noqa: E402

pytestmark = pytest.mark.integration
HEAVY = {"tensorflow", "keras", "tf2onnx", "onnx", "sklearn", "matplotlib", "typer", "rich"}


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    missing = [what for what, ok in (("sshd (openssh-server)", sshd_available()),
                                     (f"board Python {BOARD_PYTHON}", BOARD_PYTHON.exists()))
               if not ok]
    if missing:
        if os.environ.get("EDGEKIT_REQUIRE_BOARD") == "1":
            pytest.fail(f"missing {', '.join(missing)}: run 'make board'")
        pytest.skip(f"missing {', '.join(missing)}: run 'make board'")
    with LoopbackBoard(tmp_path_factory.mktemp("board")) as b:
        yield b


@pytest.fixture
def device(board, cli):
    """The loopback board added as 'lb' (each test has its own config folder)."""
    opts = [a for o in board.ssh_options for a in ("--ssh-option", o)]
    r = cli("devices", "add", "lb", board.url, "--python", board.python, *opts)
    assert r.code == 0, r.err
    return "lb"


def _json(r):
    assert r.code == 0, r.err
    return json.loads(r.out)


def test_add_list_check_and_nothing_heavy_on_the_board(cli, board, device):
    listed = _json(cli("devices", "--json"))["devices"]
    assert [(d["name"], d["url"], d["python"]) for d in listed] == [
        ("lb", board.url, str(board.python))]
    check = _json(cli("devices", "check", "lb", "--json"))
    dev = check["device"]
    fp = dev["fingerprint"]
    import platform
    import socket

    assert (fp["hostname"], fp["machine"], fp["cores"]) == (
        socket.gethostname(), platform.machine(), os.cpu_count())
    for key in ("cpu", "os", "kernel", "ram_bytes", "python", "governor", "temperature_c",
                "freq_mhz", "throttled", "max_freq_mhz"):
        assert key in fp
    assert fp["versions"]["onnxruntime-openvino"] and "tensorflow" not in fp["versions"]
    assert dev["runtimes"]["providers"] == ["openvino", "cpu"]
    assert not HEAVY & set(check["imported"]), check["imported"]
    # edgekit is not installed in the board's environment: only the copied layer runs
    done = subprocess.run([str(board.python), "-c", "import edgekit"], capture_output=True,
                          text=True, cwd="/")
    assert "No module named 'edgekit'" in done.stderr
    r = cli("devices", "check", "lb")
    assert r.code == 0 and "reachable" in r.out and "openvino, cpu" in r.out
    assert cli("devices", "remove", "lb").code == 0
    assert _json(cli("devices", "--json"))["devices"] == []


@pytest.mark.slow
def test_bench_zoo_model_and_files_on_the_board(cli, device):
    """A zoo model exported here and timed there on both runtimes; then its files, with
    OpenVINO for the .onnx: same rows and schema as a local bench, plus the device."""
    data = _json(cli("bench", "mobilenet", "--alpha", "0.25", "--resolution", "96", "--int8",
                     "--device", "lb", "--runs", "20", "--threads", "1", "--json"))
    assert data["device"]["name"] == "lb" and data["environment"] == data["device"][
        "fingerprint"]
    rows = data["results"]
    assert sorted(r["runtime"] for r in rows) == ["litert", "onnxruntime"]
    local = _json(cli("analyze", "mobilenet", "--alpha", "0.25", "--resolution", "96",
                      "--json"))
    for r in rows:
        lo, hi = r["p50_ci95_ms"]
        assert r["runs"] == 20 and lo <= r["latency_ms"]["p50"] <= hi
        assert r["macs_per_item"] == local["totals"]["macs"]
        assert r["state"]["before"].keys() == {"temperature_c", "freq_mhz", "throttled"}
    files = [r["file"] for r in rows]
    assert sorted(Path(f).suffix for f in files) == [".onnx", ".tflite"]
    assert all(Path(f).stem.endswith("_int8") for f in files)
    data = _json(cli("bench", *files, "--device", "lb", "--provider", "openvino,cpu",
                     "--runs", "10", "--threads", "1", "--cores", "0", "--json"))
    got = {(r["runtime"], r["provider"]) for r in data["results"]}
    assert got == {("litert", "xnnpack"), ("onnxruntime", "openvino"),
                   ("onnxruntime", "cpu")}


def test_profile_on_the_board(cli, device, tmp_path):
    onnx = _export_small(cli, tmp_path)
    prof = _json(cli("profile", onnx, "--device", "lb", "--provider", "openvino",
                     "--runs", "10", "--json"))
    assert prof["provider"] == "openvino" and prof["device"]["name"] == "lb"
    assert prof["file"] == str(onnx) and prof["total_ms"] > 0
    prof = _json(cli("profile", onnx, "--device", "lb", "--runs", "10", "--json"))
    assert prof["provider"] == "cpu" and {"Conv", "Softmax"} <= {o["op"] for o in
                                                                   prof["by_op"]}


def test_given_inputs_travel_to_the_board(cli, device, tmp_path):
    """--inputs on a --device: the arrays are sent with the model and the board runs on
    exactly them. Silero VAD (a third-party file) keeps its 16 and 8 kHz models in the two
    branches of an If on the sample-rate input: the board's profile shows the branch that
    the given rate selects, so the values, not only their sizes, reached it."""
    import numpy as np

    path = ROOT / ".venv" / "corpus" / "silero_vad.onnx"
    if not path.is_file():
        pytest.fail(f"{path} is missing: run `make corpus` (make test does)")
    for rate, samples, branch in ((16000, 512, "then_branch"), (8000, 256, "else_branch")):
        feeds = tmp_path / f"{rate}.npz"
        np.savez(feeds, input=np.zeros((1, samples), np.float32),
                 state=np.zeros((2, 1, 128), np.float32), sr=np.array(rate, np.int64))
        prof = _json(cli("profile", path, "--device", "lb", "--inputs", feeds, "--runs", "2",
                         "--json"))
        nodes = {o["node"] for o in prof["nodes"]}
        assert any(branch in n for n in nodes) and prof["device"]["name"] == "lb"
        assert prof["input_shapes"]["input"] == f"1x{samples}"
        bench = _json(cli("bench", path, "--device", "lb", "--inputs", feeds, "--runs", "2",
                          "--warmup", "0", "--threads", "1", "--json"))
        (row,) = bench["results"]
        assert row["input_shapes"]["input"] == f"1x{samples}" and row["runs"] == 2
        local = _json(cli("analyze", path, "--inputs", feeds, "--json"))
        assert row["macs_per_item"] == local["totals"]["macs"]


@pytest.mark.slow
def test_calibrate_then_estimate_beside_the_measurement(cli, device):
    m = _json(cli("profiles", "calibrate", "--device", "lb", "--json"))
    assert m["peak_gflops_fp32"] > 0 and m["peak_gops_int8"] > 0 and m["bandwidth_gbs"] > 0
    shown = _json(cli("profiles", "show", "lb", "--json"))
    assert shown["peak_gflops_fp32"] == pytest.approx(m["peak_gflops_fp32"], rel=1e-3)
    assert _json(cli("devices", "--json"))["devices"][0]["profile"] == "lb"
    est = _json(cli("analyze", "mobilenet", "--alpha", "0.25", "--resolution", "96",
                    "--profile", "lb", "--json"))["profile"]
    assert est["profile"] == "lb"
    data = _json(cli("bench", "--device", "lb", "--runtime", "litert", "--runs", "10",
                     "--threads", "1", "--json"))
    r = data["results"][0]
    assert r["estimate_profile"] == "lb"
    assert r["measured_over_estimate"] == pytest.approx(r["latency_ms"]["p50"]
                                                        / r["estimate_ms"])


def _export_small(cli, tmp_path) -> Path:
    r = cli("export", "mobilenet", "--alpha", "0.25", "--resolution", "96", "--format",
            "onnx", "-o", tmp_path / "x")
    assert r.code == 0, r.err
    return next((tmp_path / "x").glob("*.onnx"))


def _one_line(r, code, *said):
    assert r.code == code, (r.code, r.err)
    assert len(r.err_lines) == 1 and "Traceback" not in r.err, r.err
    for s in said:
        assert s in r.err, r.err


def test_errors_are_one_line(cli, board, device, tmp_path):
    _one_line(cli("bench", "--device", f"ssh://127.0.0.1:{free_port()}", "--runs", "1"), 3,
              "cannot reach", "Connection refused")
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)],
                   check=True)
    opts = [f"IdentityFile={other}" if o.startswith("IdentityFile") else o
            for o in board.ssh_options]
    cli("devices", "add", "stranger", board.url, *[a for o in opts for a in ("-o", o)])
    _one_line(cli("devices", "check", "stranger"), 3, "refused the login", "publickey")
    cli("devices", "add", "nopy", board.url, "--python", "/nonexistent/python3",
        *[a for o in board.ssh_options for a in ("-o", o)])
    _one_line(cli("devices", "check", "nopy"), 3, "has no Python at '/nonexistent/python3'")
    _one_line(cli("bench", "--device", "lb", "--runtime", "keras"), 2,
              "Keras does not run on a device")
    bad = tmp_path / "broken.tflite"
    bad.write_bytes(b"TFL3" + b"\0" * 64)
    _one_line(cli("bench", bad, "--device", "lb", "--runs", "1"), 1, "cannot load",
              f"{bad} (on lb)")
    _one_line(cli("bench", "--device", "lb", "--provider", "cuda", "--runtime",
                  "onnxruntime", "--runs", "1"), 1, "no 'cuda' execution provider",
              "openvino, cpu")


@pytest.fixture(scope="module")
def numpy_only_python(tmp_path_factory):
    """A board environment with numpy and no runtime."""
    venv = tmp_path_factory.mktemp("numpy-only")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin/python"), "-m", "pip", "install", "-q", "numpy"],
                   check=True, capture_output=True)
    return venv / "bin/python"


def test_missing_runtime_says_what_to_install(cli, board, numpy_only_python, tmp_path):
    opts = [a for o in board.ssh_options for a in ("-o", o)]
    assert cli("devices", "add", "bare", board.url, "--python", numpy_only_python,
               *opts).code == 0
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"not really")
    _one_line(cli("bench", onnx, "--device", "bare"), 2, "bare has no onnxruntime",
              "pip install onnxruntime")
    _one_line(cli("bench", "--device", "bare", "--runs", "1"), 2, "no LiteRT runtime",
              "pip install ai-edge-litert")


def test_connection_lost_mid_run_keeps_finished_rows(board, device, tmp_path):
    """The cable is pulled (sshd's side of the connection killed) while the second
    setting runs: the first row is kept and the document says it is partial."""
    from edgekit.bench.run import BenchOptions
    from edgekit.services.bench import bench
    from edgekit.services.targets import resolve_target

    onnx = _export_small_api(tmp_path)

    def notify(message):
        if "lb: [2/2]" in message:
            board.drop_sessions()

    opts = BenchOptions(runtimes=["onnxruntime"], threads=[1, 2], runs=20000)
    data = bench([resolve_target(str(onnx), {})], opts, notify, device="lb")
    assert data["partial"] is True and len(data["results"]) == 1
    assert "lost the connection to lb" in data["error"]
    assert "kept the 1 measurement(s)" in data["error"]


def _export_small_api(tmp_path) -> Path:
    from edgekit.services.export import cached_export
    from edgekit.services.targets import resolve_target

    t = resolve_target("mobilenet", {"alpha": 0.25, "resolution": 96})
    return cached_export(t, "none", runtimes=("onnxruntime",))["onnxruntime"]


def test_openvino_in_a_local_environment(tmp_path):
    """The runtime layer alone (copied, as to a board) in an environment that has
    onnxruntime-openvino, run here without SSH: bench and profile on OpenVINO."""
    import shutil

    if not BOARD_PYTHON.exists():
        pytest.skip("no board Python: run 'make board'")
    for pkg in ("core", "runtimes"):
        shutil.copytree(ROOT / "edgekit" / pkg, tmp_path / "edgekit" / pkg)
    shutil.copy(ROOT / "edgekit/__init__.py", tmp_path / "edgekit/__init__.py")
    onnx = _export_small_api(tmp_path)
    setting = {"label": "m", "file": str(onnx), "threads": 1,
               "options": {"threads": 1, "provider": "openvino", "xnnpack": True,
                           "allow_fallback": False}}
    from edgekit.runtimes.measure import Method

    for request in ({"op": "bench", "settings": [setting], "batches": [1],
                     "method": Method(runs=5).to_dict()},
                    {"op": "profile", "file": str(onnx), "label": "m", "runs": 5,
                     "warmup": 1, "threads": None, "provider": "openvino",
                     "input_shapes": [], "batch": None}):
        done = subprocess.run([str(BOARD_PYTHON), "-m", "edgekit.runtimes.agent"],
                              input=json.dumps(request), capture_output=True, text=True,
                              cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(tmp_path)})
        events = [json.loads(line) for line in done.stdout.splitlines()]
        assert done.returncode == 0, done.stderr
        row = next(e for e in events if e["event"] in ("row", "result"))
        provider = row["timed"]["provider"] if "timed" in row else row["profile"]["provider"]
        assert provider == "openvino"
        assert not HEAVY & set(events[-1]["modules"])


def test_tflite_profile_by_isolation_on_the_board(cli, device, tmp_path):
    """The board cuts the ops out and times them with its own LiteRT (no TensorFlow
    there); the host joins the analysis."""
    from tests.conftest import THIRD_PARTY_MODELS

    path = THIRD_PARTY_MODELS / "mobilenet_v2_quantized_1x3x224x224.tflite"
    prof = _json(cli("profile", path, "--device", "lb", "--runs", "3", "--warmup", "1",
                     "--threads", "1", "--json"))
    assert prof["device"]["name"] == "lb" and prof["file"] == str(path)
    assert len(prof["ops"]) == 84 and all(o["ms"] > 0 for o in prof["ops"])
    assert prof["whole_ms"] > 0 and sum(o["macs"] for o in prof["ops"]) == 300_774_272
