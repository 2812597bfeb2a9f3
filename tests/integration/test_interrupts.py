"""The fault harness of issue 21: SIGINT, SIGTERM and SIGHUP at seeded random moments of export,
sweep (local executor), profile and analyze, each run as a user runs it (a process of its
own, in a session of its own, with the default signal handling a shell gives).

Each command runs once to the end first: how long it takes after edgekit has installed its
signal handlers (read from /proc/PID/status) sizes the moments, and what it writes is the
reference for a complete output. Then three runs (seeded: the same moments every time) get
SIGINT, SIGTERM and SIGHUP (a closed terminal) after a random fraction of that time. After
every run:

- an interrupted run exits 130 (SIGINT), 143 (SIGTERM) or 129 (SIGHUP) with one line, no
  traceback;
- $TMPDIR (a fresh folder) and the working folder hold nothing new, no process of its
  session is left;
- each output is absent or complete (an export folder: exactly its manifest's files with
  their hashes; a sweep: a store of whole lines, its JSON/CSV/plot whole; a CSV or plot:
  what the complete run wrote), never half-written (no staging folder, no temporary file);
- its inputs are byte for byte what they were.

A signal that lands after the command's last step boundary is not an interruption: the
run must then have finished cleanly (exit 0, outputs complete); most runs must really be
interrupted, or the harness proves nothing (asserted).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

EDGEKIT = [sys.executable, "-c", "from edgekit.cli.main import main; main()"]
SEED = 21
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)   # one interrupted run each
EARLIEST, LATEST = 0.0, 0.7      # of the complete run's time (its start-up included)
WAIT = 300                  # seconds a run may take at most (a loaded 2-core machine)
LINE = "edgekit: interrupted ({}); nothing half-written was left behind"
NAMES = {signal.SIGINT: "Ctrl-C (SIGINT)", signal.SIGTERM: "SIGTERM",
         signal.SIGHUP: "SIGHUP, the terminal closed"}


# ---- running edgekit and signalling it ----------------------------------------------------

def _session_ends(pgid: int, grace: float = 5.0) -> None:
    """No process of the run's session outlives it: a worker still on its way out when
    edgekit returns gets ``grace`` seconds (the kernel reaps it), a lingering one fails."""
    deadline = time.monotonic() + grace
    while True:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        assert time.monotonic() < deadline, "a process of the run's session was left"
        time.sleep(0.05)


@dataclass
class Run:
    code: int
    err: str
    seconds: float              # from the handlers' installation to the exit
    signalled: bool = False     # the signal was sent while the process was running
    handled: bool = False       # edgekit installed its SIGTERM handler


def _default_signals():
    """What a shell gives a command (pytest-xdist's workers ignore SIGINT)."""
    for signum in SIGNALS:
        signal.signal(signum, signal.SIG_DFL)


def handles_sigterm(pid: int) -> bool:
    """Has the process installed its SIGTERM handler (edgekit's, at start-up)?"""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    for line in status.splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)))
    return False


def run_edgekit(args: list[str], case: Path, signum: int | None = None,
                after: float = 0.0) -> Run:
    """Run edgekit in ``case`` (fresh working folder, $TMPDIR, cache and config); with
    ``signum``, send it ``after`` seconds past the installation of edgekit's handlers."""
    for sub in ("work", "tmp"):
        (case / sub).mkdir(parents=True)
    env = {**os.environ, "TMPDIR": str(case / "tmp"), "EDGEKIT_QUIET": "1",
           "EDGEKIT_CACHE": str(case / "cache"), "XDG_CONFIG_HOME": str(case / "config"),
           "EDGEKIT_DEBUG": "0", "COLUMNS": "100", "MPLCONFIGDIR": str(case / "mpl")}
    with open(case / "stdout", "wb") as out, open(case / "stderr", "wb") as err:
        proc = subprocess.Popen([*EDGEKIT, *args], cwd=case / "work", env=env, stdout=out,
                                stderr=err, preexec_fn=_default_signals,
                                start_new_session=True)
        try:
            deadline = time.monotonic() + WAIT
            while not handles_sigterm(proc.pid) and proc.poll() is None:
                assert time.monotonic() < deadline, "edgekit never installed its handlers"
                time.sleep(0.005)
            ready = time.monotonic()
            handled = proc.poll() is None
            signalled = False
            if signum is not None:
                try:
                    proc.wait(timeout=after)
                except subprocess.TimeoutExpired:
                    proc.send_signal(signum)
                    signalled = True
            code = proc.wait(timeout=WAIT)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    seconds = time.monotonic() - ready
    _session_ends(proc.pid)
    return Run(code, (case / "stderr").read_text(errors="replace"), seconds, signalled,
               handled)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def leftovers(folder: Path) -> list[str]:
    """Temporary files and staging folders of edgekit's writer (hidden ones included)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                  if p.name.startswith((".ek-", ".edgekit-staging-", "edgekit-")))


# ---- the commands --------------------------------------------------------------------------

@dataclass
class Command:
    name: str
    args: Callable[[Path], list[str]]      # case folder -> arguments
    inputs: list[Path]
    complete: Callable[[Path, Path | None], None]   # (case, reference case): asserts


def export_complete(case: Path, reference: Path | None) -> None:
    """An export folder is absent, empty, or exactly its manifest's files, whole."""
    out = case / "out"
    if not out.exists() or not any(out.iterdir()):
        return
    manifest = json.loads((out / "manifest.json").read_text())
    files = {a["file"]: a["sha256"] for a in manifest["artifacts"]}
    assert {p.name for p in out.iterdir()} == set(files) | {"manifest.json"}
    for name, digest in files.items():
        assert sha(out / name) == digest, name
    if reference is not None:
        assert set(files) == {p.name for p in (reference / "out").iterdir()} - {
            "manifest.json"}


def sweep_complete(case: Path, reference: Path | None) -> None:
    """A sweep's store holds whole lines only; its results are absent or whole."""
    out = case / "out"
    if not out.exists():
        return
    store = out / "sweep.jsonl"
    if store.exists():
        text = store.read_text()
        assert text == "" or text.endswith("\n"), "a cut line in the store"
        for line in text.splitlines():
            json.loads(line)
    results = {p.name for p in out.iterdir()} - {"sweep.jsonl"}
    if not results:
        return
    assert results == {"sweep.json", "sweep.csv", "pareto.png"}, results   # all or none
    if "sweep.json" in results:
        doc = json.loads((out / "sweep.json").read_text())
        ref = json.loads((reference / "out" / "sweep.json").read_text()) if reference \
            else None
        assert ref is None or len(doc["rows"]) == len(ref["rows"])
    if "sweep.csv" in results and reference is not None:
        assert len((out / "sweep.csv").read_text().splitlines()) == len(
            (reference / "out" / "sweep.csv").read_text().splitlines())
    if "pareto.png" in results:
        assert (out / "pareto.png").read_bytes().endswith(b"IEND\xaeB`\x82")


def same_or_absent(name: str):
    def check(case: Path, reference: Path | None) -> None:
        path = case / "out" / name
        if not path.exists():
            return
        if name.endswith(".png"):
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            assert path.read_bytes().endswith(b"IEND\xaeB`\x82"), "a cut plot"
        elif reference is not None:
            assert path.read_bytes() == (reference / "out" / name).read_bytes()

    return check


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """A small .keras model and its float ONNX form (edgekit in this process)."""
    from edgekit.cli.main import main

    d = tmp_path_factory.mktemp("interrupt-models")
    for args in (["build", "mobilenet", "--alpha", "0.25", "--resolution", "32", "-o",
                  d / "m.keras"],
                 ["export", d / "m.keras", "--format", "onnx", "--quant", "none",
                  "--calibration", "random", "-n", "8", "-o", d / "exported"]):
        try:
            main([str(a) for a in args])
        except SystemExit as e:
            assert e.code in (0, None), args
    return {"keras": d / "m.keras", "onnx": d / "exported" / "m_fp32.onnx"}


def commands(models: dict[str, Path]) -> dict[str, Command]:
    keras, onnx = models["keras"], models["onnx"]
    return {
        "export": Command(
            "export", lambda c: ["export", str(keras), "--quant", "none,int8",
                                 "--calibration", "random", "-n", "8", "-o",
                                 str(c / "out")],
            [keras], export_complete),
        "sweep": Command(
            "sweep", lambda c: ["sweep", "mobilenet", "--alpha", "0.25", "--resolution",
                                "32,40", "--quant", "none", "--executor", "local", "-o",
                                str(c / "out")],
            [], sweep_complete),
        "profile": Command(
            "profile", lambda c: ["profile", str(onnx), "--runs", "1000", "--plot",
                                  str(c / "out" / "top.png")],
            [onnx], same_or_absent("top.png")),
        "analyze": Command(
            "analyze", lambda c: ["analyze", str(keras), "--csv", str(c / "out" / "a.csv")],
            [keras], same_or_absent("a.csv")),
    }


def check_run(command: Command, case: Path, run: Run, hashes: dict,
              reference: Path | None, signum: int | None) -> None:
    where = f"{command.name} ({case.name}): exit {run.code}, stderr: {run.err[-2000:]}"
    assert "Traceback" not in run.err and "Exception ignored" not in run.err, where
    said = [line for line in run.err.splitlines() if line.startswith("edgekit:")]
    if run.signalled and run.code != 0:
        assert run.code == 128 + signum, where
        assert said == [LINE.format(NAMES[signum])], where
    else:               # not signalled, or after the last step: it finished cleanly
        assert run.code == 0 and not said, where
    left = sorted(p.name for p in (case / "tmp").iterdir())
    assert not left, f"left in $TMPDIR: {left}; {where}"
    assert not list((case / "work").iterdir()), f"left in the working folder: {where}"
    assert not leftovers(case), f"half-written: {leftovers(case)}; {where}"
    for path, digest in hashes.items():
        assert sha(path) == digest, f"input {path} changed: {where}"
    command.complete(case, reference)
    if run.code == 0:   # a run that finished wrote everything
        assert (case / "out").exists() and any((case / "out").iterdir()), where


@pytest.mark.parametrize("name", ["export", "sweep", "profile", "analyze"])
def test_interrupts_at_random_moments(models, tmp_path, name):
    command = commands(models)[name]
    hashes = {p: sha(p) for p in command.inputs}
    reference = tmp_path / "complete"
    full = run_edgekit(command.args(reference), reference)
    check_run(command, reference, full, hashes, None, None)
    assert full.handled, "edgekit never installed a SIGTERM handler: SIGTERM would kill it"
    rng = random.Random(f"{SEED}-{name}")
    interrupted = 0
    for n, signum in enumerate(SIGNALS):
        after = rng.uniform(EARLIEST, LATEST) * full.seconds
        for attempt in range(3):    # a machine less loaded than for the complete run may
            case = tmp_path / f"run{n}.{attempt}-{signal.Signals(signum).name}-{after:.2f}s"
            run = run_edgekit(command.args(case), case, signum, after)
            check_run(command, case, run, hashes, reference, signum)
            if run.signalled:       # finish first: then the moment comes earlier
                break
            after /= 3
        interrupted += run.code == 128 + signum
    assert interrupted >= len(SIGNALS) - 1, \
        f"only {interrupted} of {len(SIGNALS)} runs were interrupted"


# ---- an interrupt that the converter swallows ----------------------------------------------

def _swallowed_by_a_broad_except():
    try:
        signal.raise_signal(signal.SIGTERM)
        time.sleep(5)
    except BaseException:   # noqa: BLE001 (what a library's catch-all does)
        pass


def _swallowed_in_a_finalizer():
    class Handle:
        def __del__(self):
            signal.raise_signal(signal.SIGTERM)
            time.sleep(0.2)

    Handle()     # collected at once: the signal lands in __del__, where it cannot propagate


def _wrapped_in_a_library_error():
    try:
        signal.raise_signal(signal.SIGTERM)
        time.sleep(5)
    except KeyboardInterrupt as e:
        raise RuntimeError("conversion aborted") from e


@pytest.mark.parametrize("swallow", [_swallowed_by_a_broad_except, _swallowed_in_a_finalizer,
                                     _wrapped_in_a_library_error], ids=lambda f: f.__name__)
def test_an_interrupt_during_the_onnx_conversion_is_never_lost(cli, keras, tmp_path,
                                                               monkeypatch, swallow):
    """The ways a library loses a signal raised while it runs (tf2onnx's conversion: a
    catch-all, a finalizer, its own error): the export still stops (143), writes nothing,
    says one line."""
    import tf2onnx

    from edgekit.core import interrupts

    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, name="c1")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(x)))
    model.save(tmp_path / "tiny.keras")
    real = tf2onnx.convert.from_keras

    def converting(*args, **kwargs):
        if signal.getsignal(signal.SIGTERM) is not interrupts._handler:
            pytest.fail("edgekit did not install its SIGTERM handler")
        swallow()
        return real(*args, **kwargs)

    monkeypatch.setattr(tf2onnx.convert, "from_keras", converting)
    out = tmp_path / "out"
    r = cli("export", tmp_path / "tiny.keras", "--format", "onnx", "--quant", "none",
            "--calibration", "random", "-n", "4", "-o", out)
    assert r.code == 143, r.err
    said = [line for line in r.err_lines if line.startswith("edgekit:")]
    assert said == [LINE.format("SIGTERM")] and "Traceback" not in r.err, r.err
    assert not out.exists() or not any(out.iterdir()), list(out.iterdir())
