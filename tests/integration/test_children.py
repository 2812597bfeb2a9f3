"""Every process edgekit starts is gone when it ends, interrupted or not (issue 31).

Generated from what edgekit really starts: each command runs once with every process start
recorded (the argv of each ``subprocess.Popen``); then it runs once per start, with SIGINT
or SIGTERM raised in edgekit at the very moment that start returns from the fork (inside
``Popen``, before the caller holds the process: the moment a signal used to leave ssh
running unseen). After each run:

- exit 130 (SIGINT) or 143 (SIGTERM), one line, no traceback;
- no process that edgekit started (or that they started: ssh's ProxyCommand, Ray's
  workers) is left: each inherits a mark in its environment, and none with the mark
  outlives the run;
- no ssh control folder and nothing in $TMPDIR or the working folder is left.

The commands: 'devices check' of a silent board (ssh -G, the ssh master), of a loopback
board with sshd (its commands and the master's exit too, where 'make board' installed
one), and a sweep against a Ray address that takes connections and says nothing (Ray's
probe driver).
"""

from __future__ import annotations

import ast
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
from loopback_board import BOARD_PYTHON, LoopbackBoard, sshd_available  # noqa: E402

# edgekit, with every process start recorded, and a signal raised at the Nth
BOOT = r"""
import os, signal, subprocess, sys
log, at, signum = os.environ["EK_STARTS"], int(os.environ["EK_AT"]), int(os.environ["EK_SIG"])
real = subprocess.Popen._execute_child
count = 0
def execute_child(self, args, *rest, **kw):
    global count
    real(self, args, *rest, **kw)
    count += 1
    with open(log, "a") as f:
        f.write(repr([str(a) for a in args]) + "\n")
    if count == at:
        signal.raise_signal(signum)
subprocess.Popen._execute_child = execute_child
from edgekit.cli.main import main
main()
"""


def marked(mark: str) -> list[str]:
    """Processes that carry ``mark`` in their environment: (pid, command)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes()
            if f"EK_CHILD_MARK={mark}".encode() in env.split(b"\0"):
                found.append(f"{pid} {Path(f'/proc/{pid}/cmdline').read_bytes()[:120]!r}")
        except OSError:
            continue
    return found


def default_signals() -> None:
    """What a shell gives a command (pytest-xdist's workers ignore SIGINT, and an ignored
    signal stays ignored across exec)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def run(args: list[str], case: Path, config: Path, at: int = 0,
        signum: int = signal.SIGINT) -> tuple[int, str, list[list[str]], str]:
    """(exit status, stderr, the argv of each start, the mark) of one run in ``case``."""
    for sub in ("work", "tmp"):
        (case / sub).mkdir(parents=True)
    mark = uuid.uuid4().hex
    env = {**os.environ, "TMPDIR": str(case / "tmp"), "EDGEKIT_QUIET": "1",
           "EDGEKIT_CACHE": str(case / "cache"), "XDG_CONFIG_HOME": str(config),
           "EK_STARTS": str(case / "starts"), "EK_AT": str(at), "EK_SIG": str(int(signum)),
           "EK_CHILD_MARK": mark, "MPLCONFIGDIR": str(case / "mpl")}
    proc = subprocess.run([sys.executable, "-c", BOOT, *args], cwd=case / "work", env=env,
                          capture_output=True, text=True, timeout=240,
                          start_new_session=True, preexec_fn=default_signals)
    starts = [ast.literal_eval(line) for line in (case / "starts").read_text().splitlines()
              ] if (case / "starts").exists() else []
    return proc.returncode, proc.stderr, starts, mark


def shape(starts: list[list[str]]) -> list[list[str]]:
    """The starts without their random parts (a control folder's name)."""
    return [[a.split("=")[0] if a.startswith("ControlPath=") else a for a in argv]
            for argv in starts]


def no_leftovers(case: Path, starts: list[list[str]], mark: str, where: str) -> None:
    deadline = time.monotonic() + 5        # a process on its way out gets 5 s
    while (left := marked(mark)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, f"left running: {left}; {where}"
    controls = {a.split("=", 1)[1] for argv in starts for a in argv
                if a.startswith("ControlPath=")} - {""}
    for control in controls:
        assert not os.path.exists(os.path.dirname(control)), f"{control} left; {where}"
    assert not list((case / "tmp").iterdir()), f"left in $TMPDIR: {where}"
    assert not list((case / "work").iterdir()), f"left in the working folder: {where}"


def signal_at_every_start(args: list[str], tmp_path: Path, config: Path,
                          expect_first: int, passes: int = 2) -> list[str]:
    """Run ``args`` to learn its starts (twice: the second as every later run goes, with
    what the first left in the board's cache), then once per start with a signal there."""
    for first in ("first", "second")[:passes]:
        code, err, starts, mark = run(args, tmp_path / first, config)
        assert code == expect_first, err
        no_leftovers(tmp_path / first, starts, mark, "the run without a signal")
    assert starts, "edgekit started no process: the test would prove nothing"
    for n, argv in enumerate(starts, 1):
        signum = signal.SIGINT if n % 2 else signal.SIGTERM
        case = tmp_path / f"at{n}-{signal.Signals(signum).name}"
        code, err, seen, mark = run(args, case, config, n, signum)
        if shape(seen[:n]) != shape(starts[:n]):
            # an earlier case's signal left the board's state other than the learning run
            # found it (its remote side, cut off with ssh, may or may not have finished
            # installing edgekit's code there): a run without a signal restores it, and
            # the case is run again from the state the starts were learned in
            no_leftovers(case, seen, mark, f"signal at start {n}, first try")
            assert run(args, tmp_path / f"reset{n}", config)[0] == expect_first
            case = tmp_path / f"at{n}-{signal.Signals(signum).name}-again"
            code, err, seen, mark = run(args, case, config, n, signum)
        where = f"signal at start {n} ({' '.join(argv)[-100:]}): exit {code}, {err[-600:]}"
        assert shape(seen[:n]) == shape(starts[:n]), where   # the same starts up to this one
        assert code == 128 + signum, where
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, where
        no_leftovers(case, seen, mark, where)
    return [" ".join(a[:3]) for a in starts]


@pytest.fixture
def silent_port():
    """A listening socket that never accepts: ssh (and Ray's probe) wait for an answer."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield s.getsockname()[1]


def test_devices_check_of_a_silent_board(tmp_path, silent_port):
    starts = signal_at_every_start(["devices", "check", f"ssh://127.0.0.1:{silent_port}"],
                                   tmp_path, tmp_path / "config", expect_first=3, passes=1)
    assert len(starts) == 2        # ssh -G (the options as ssh reads them), the master


def test_bench_on_a_silent_board(tmp_path, silent_port):
    starts = signal_at_every_start(["bench", "mobilenet", "--alpha", "0.25", "--resolution",
                                    "32", "--device", f"ssh://127.0.0.1:{silent_port}"],
                                   tmp_path, tmp_path / "config", expect_first=3, passes=1)
    assert len(starts) == 2        # ssh -G, the master: connected before any export


def test_a_sweep_probing_a_silent_ray_address(tmp_path, silent_port):
    pytest.importorskip("ray")
    args = ["sweep", "mobilenet", "--alpha", "0.25", "--resolution", "32", "--quant", "none",
            "--executor", "ray", "--ray-address", f"127.0.0.1:{silent_port}", "-o", "out"]
    # without a signal: the probe gives up after its bound (30 s), one line, exit 1
    code, err, starts, mark = run(args, tmp_path / "probe", tmp_path / "config",
                                  1, signal.SIGTERM)
    assert code == 143 and len(starts) == 1, err
    no_leftovers(tmp_path / "probe", starts, mark, err)


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    if not (sshd_available() and BOARD_PYTHON.exists()):
        pytest.skip("no loopback board: run 'make board'")
    with LoopbackBoard(tmp_path_factory.mktemp("board")) as b:
        yield b


def test_devices_check_of_a_board(tmp_path, board):
    config = tmp_path / "config"
    code, err, _, _ = run(["devices", "add", "lb", board.url, "--python", str(board.python),
                           *[w for o in board.ssh_options for w in ("--ssh-option", o)]],
                          tmp_path / "add", config)
    assert code == 0, err
    starts = signal_at_every_start(["devices", "check", "lb"], tmp_path, config,
                                   expect_first=0)
    assert len(starts) >= 4, starts     # ssh -G, the master, its commands, -O exit
