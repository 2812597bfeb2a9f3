"""core.interrupts, and a fault harness for the places that must never be cut in two: a
signal (a real SIGTERM, delivered to this process) lands before or after each system call
of a temporary folder's life, an atomic write, and the silencing of a descriptor; whatever
the moment, the folder is gone, the target holds its old or its new content (never a part,
never a temporary file beside it), and the descriptor is restored."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from edgekit.core import files as F
from edgekit.core import interrupts as I


@pytest.fixture
def handlers():
    """edgekit's handlers, as the CLI installs them (skipped where the runner owns them)."""
    restore = I.install()
    if signal.getsignal(signal.SIGTERM) is not I._handler:
        restore()
        pytest.skip("this test runner handles SIGTERM itself")
    try:
        yield
    finally:
        restore()


def test_a_signal_raises_interrupted_with_its_exit_code(handlers):
    with pytest.raises(I.Interrupted) as e:
        signal.raise_signal(signal.SIGTERM)
        for _ in range(10**6):
            pass
    assert e.value.exit_code == 143 and isinstance(e.value, KeyboardInterrupt)
    assert I.seen() == signal.SIGTERM


def test_a_swallowed_signal_is_raised_at_the_next_checkpoint(handlers):
    try:
        signal.raise_signal(signal.SIGTERM)
        for _ in range(10**6):
            pass
    except BaseException:   # noqa: BLE001 (a library's catch-all)
        pass
    with pytest.raises(I.Interrupted):
        I.checkpoint()
    with pytest.raises(I.Interrupted):   # and at every one after it
        I.checkpoint()


def test_deferred_holds_a_signal_to_the_end_of_the_block(handlers):
    done = []
    with pytest.raises(I.Interrupted):
        with I.deferred():
            signal.raise_signal(signal.SIGTERM)
            for _ in range(10**5):
                pass
            done.append("the whole block")
    assert done == ["the whole block"]


def test_a_signal_in_a_finalizer_is_kept_for_the_checkpoint(handlers):
    finished = []

    class Handle:
        def __del__(self):
            signal.raise_signal(signal.SIGTERM)
            for _ in range(10**5):
                pass
            finished.append(True)

    Handle()
    assert finished == [True]          # the finalizer was not cut short
    with pytest.raises(I.Interrupted):
        I.checkpoint()


# ---- the fault harness: a signal at every step ---------------------------------------------

class Signals:
    """Patches the system calls of the code under test so that the k-th of them is
    preceded or followed ('before'/'after') by a real SIGTERM; counts the calls."""

    def __init__(self, monkeypatch, k: int, when: str):
        import shutil
        import tempfile

        self.k, self.when, self.calls = k, when, 0
        for module, name in [(os, "fsync"), (os, "chmod"), (os, "replace"), (os, "unlink"),
                             (os, "fdopen"), (os, "dup"), (os, "dup2"), (os, "open"),
                             (os, "close"), (tempfile, "mkstemp"), (tempfile, "mkdtemp"),
                             (shutil, "rmtree")]:
            monkeypatch.setattr(module, name, self.wrap(getattr(module, name)))

    def wrap(self, real):
        def call(*args, **kwargs):
            self.calls += 1
            hit = self.calls == self.k
            if hit and self.when == "before":
                signal.raise_signal(signal.SIGTERM)
                _tick()         # the handler runs here, before the call
            result = real(*args, **kwargs)
            if hit and self.when == "after":
                signal.raise_signal(signal.SIGTERM)
                _tick()
            return result

        return call


def _tick():
    """A Python call: the interpreter runs pending signal handlers on entering it."""


def _moments(run, monkeypatch, setup=lambda: None, limit=40):
    """Run ``run`` (after ``setup``) once per moment (each call, before and after) until a
    run makes fewer calls than the moment's index; yields whether it was interrupted."""
    for k in range(1, limit):
        for when in ("before", "after"):
            setup()
            with monkeypatch.context() as m:
                s = Signals(m, k, when)
                restore = I.install()
                try:
                    run()
                    interrupted = False
                except I.Interrupted:
                    interrupted = True
                finally:
                    restore()
                calls = s.calls
            yield k, when, interrupted
            if calls < k:
                return


def test_a_temporary_folder_is_gone_whenever_the_signal_lands(handlers, tmp_path,
                                                             monkeypatch):
    made = []

    def run():
        with F.temp_folder(dir=tmp_path) as folder:
            made.append(folder)
            (folder / "trace.json").write_bytes(b"x" * 1000)

    seen = list(_moments(run, monkeypatch))
    assert any(i for _, _, i in seen) and len(seen) > 4
    assert not any(tmp_path.iterdir()), list(tmp_path.iterdir())


@pytest.mark.parametrize("existing", [False, True])
def test_an_atomic_write_is_old_or_new_whenever_the_signal_lands(handlers, tmp_path,
                                                                monkeypatch, existing):
    target = tmp_path / "out.json"
    old, new = b'{"old": 1}', b'{"new": 2}' * 1000

    def setup():
        if existing:
            target.write_bytes(old)
        elif target.exists():
            target.unlink()

    def run():
        F.write_output(target, lambda f: f.write(new))

    interrupted_at = 0
    for k, when, interrupted in _moments(run, monkeypatch, setup):
        interrupted_at += interrupted
        left = sorted(p.name for p in tmp_path.iterdir())
        assert left in ([], ["out.json"]), (k, when, left)   # never a temporary file
        if target.exists():
            assert target.read_bytes() in ((old, new) if existing else (new,)), (k, when)
        else:
            assert interrupted and not existing, (k, when)
        if not interrupted:
            assert target.read_bytes() == new
    assert interrupted_at >= 4, interrupted_at    # the harness reached the steps


def test_a_silenced_descriptor_is_restored_whenever_the_signal_lands(handlers, tmp_path,
                                                                    monkeypatch):
    from edgekit.core.quiet import quiet_stderr

    before = os.fstat(2)

    def run():
        with quiet_stderr():
            pass

    seen = list(_moments(run, monkeypatch))
    assert any(i for _, _, i in seen)
    after = os.fstat(2)
    assert (after.st_dev, after.st_ino) == (before.st_dev, before.st_ino)


@pytest.mark.parametrize("signum, code, name", [
    (signal.SIGINT, 130, "Ctrl-C (SIGINT)"), (signal.SIGTERM, 143, "SIGTERM"),
    (signal.SIGHUP, 129, "SIGHUP, the terminal closed")])
def test_the_cli_names_the_signal_and_exits_128_plus_it(cli, monkeypatch, signum, code, name):
    from edgekit.report import catalog

    if signal.getsignal(signum) is not I.DEFAULTS[signum]:
        pytest.skip("this test runner handles the signal itself")

    def stopped(*a, **k):
        assert signal.getsignal(signum) is I._handler, "edgekit did not handle the signal"
        signal.raise_signal(signum)
        for _ in range(10**6):
            pass

    monkeypatch.setattr(catalog, "render_models", stopped)
    r = cli("models")
    assert r.code == code
    assert r.err_lines == [f"edgekit: interrupted ({name}); nothing half-written was left "
                           "behind"]
    assert Path(".").resolve().exists()


def test_an_ignored_sighup_stays_ignored():
    """`nohup edgekit ...`: a closed terminal must not stop a command whose SIGHUP the user
    chose to ignore."""
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        restore = I.install()
        try:
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            signal.raise_signal(signal.SIGHUP)
            I.checkpoint()                   # nothing raised, nothing remembered
            assert I.seen() is None
        finally:
            restore()
    finally:
        signal.signal(signal.SIGHUP, previous)


def test_a_finished_command_leaves_nothing_that_stops_the_next_one(handlers):
    # in one process (the tests' workers, a notebook) one command's interrupt must not be
    # raised by the next one's first checkpoint, nor a held-back one linger
    restore = I.install()
    with pytest.raises(I.Interrupted):
        signal.raise_signal(signal.SIGTERM)
    I.quiet_after()
    restore()
    I.checkpoint()                       # nothing raised: the command is over
    assert I.seen() is None
