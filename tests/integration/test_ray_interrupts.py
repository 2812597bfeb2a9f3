"""Ctrl-C and SIGTERM during a local Ray sweep, with a $TMPDIR too long for Ray's sockets
(issue 31: as on macOS or in CI sandboxes, where Ray could not start at all).

The fault harness of test_interrupts runs the sweep as a user does, once to the end and
then with SIGINT and with SIGTERM at seeded moments of it. Besides that harness' checks
(exit 130/143 and one line, nothing in $TMPDIR or the working folder, the store whole, the
results all or none), no process that edgekit or Ray started is left (each carries a mark
in its environment) and no private session folder of Ray (/tmp/ekray<PID>-*) outlives the
edgekit process that made it.
"""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

import pytest

from tests.integration.test_interrupts import (
    Command,
    check_run,
    run_edgekit,
    sweep_complete,
)

pytestmark = [pytest.mark.slow, pytest.mark.integration]
SEED = 31


def marked(mark: str) -> list[str]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if f"EK_CHILD_MARK={mark}".encode() in Path(f"/proc/{pid}/environ").read_bytes(
                    ).split(b"\0"):
                found.append(f"{pid} {Path(f'/proc/{pid}/cmdline').read_bytes()[:80]!r}")
        except OSError:
            continue
    return found


def orphan_ray_folders() -> list[str]:
    """Ray session folders of edgekit whose process is gone."""
    left = []
    for p in Path("/tmp").glob("ekray*-*"):
        pid = p.name[len("ekray"):].split("-")[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            left.append(str(p))
    return left


def test_signals_during_a_local_ray_sweep_with_a_long_tmpdir(tmp_path, monkeypatch):
    pytest.importorskip("ray")
    mark = f"ray-{os.getpid()}-{time.time_ns()}"
    monkeypatch.setenv("EK_CHILD_MARK", mark)
    base = tmp_path / ("long-tmpdir-" + "x" * 48)      # $TMPDIR = base/<case>/tmp: > 100
    command = Command("sweep-ray", lambda c: [
        "sweep", "mobilenet", "--alpha", "0.25", "--resolution", "32,40", "--quant", "none",
        "--executor", "ray", "--workers", "1", "-o", str(c / "out")], [], sweep_complete)
    reference = base / "complete"
    assert len(str(reference / "tmp")) > 100
    before = set(orphan_ray_folders())
    full = run_edgekit(command.args(reference), reference)
    check_run(command, reference, full, {}, None, None)
    rng = random.Random(SEED)
    interrupted = 0
    # two moments while Ray starts (ray.init: its agents were left running when it was
    # cut short), three while it builds (a worker ended mid-export left its staging folder
    # in the cache: one CI run of several)
    moments = [(signal.SIGTERM, 0.1), (signal.SIGINT, 0.2),
               (signal.SIGINT, rng.uniform(0.3, 0.7)), (signal.SIGTERM, rng.uniform(0.3, 0.7)),
               (signal.SIGTERM, rng.uniform(0.4, 0.8))]
    for signum, fraction in moments:
        after = fraction * full.seconds
        case = base / f"{signal.Signals(signum).name}-{after:.1f}s"
        run = run_edgekit(command.args(case), case, signum, after)
        # (a Ctrl-C that cut ray.init short once ended in Ray's SIGSEGV at the
        # interpreter's exit, after edgekit's line: the command now leaves without it)
        check_run(command, case, run, {}, reference, signum)
        interrupted += run.code == 128 + signum
        deadline = time.monotonic() + 10
        while (left := marked(mark)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not left, f"left running after {signal.Signals(signum).name}: {left}"
        assert set(orphan_ray_folders()) <= before, orphan_ray_folders()
    assert interrupted >= 3, f"only {interrupted} runs were interrupted: the test proves little"
