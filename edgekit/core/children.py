"""Child processes, started one way by every command (DESIGN.md, "Foundations":
interrupts): every process a command starts is gone when it ends, interrupted or not.

- :func:`start` makes a process in a session of its own (a Ctrl-C at the terminal reaches
  edgekit only, which then stops its children itself, grandchildren included: an ssh
  ProxyCommand, a Ray worker) and records it while it runs. It holds SIGINT and SIGTERM
  back while the process is being made (:func:`edgekit.core.interrupts.deferred`): a
  signal that lands between the fork and the moment the caller holds the process would
  otherwise leave it running unseen. Call it inside ``interrupts.deferred()`` and keep the
  result in the same block when the process outlives the call (a connection's master).
- :func:`running` is a process for the length of a ``with`` block; :func:`run` runs one to
  its end (with a timeout), like ``subprocess.run`` with captured output.
- :func:`stop` ends one (SIGTERM to its group, then SIGKILL); every process still recorded
  when the interpreter exits is stopped too (``atexit``), whatever path the command took.

Standard library only.
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

from edgekit.core import interrupts

_live: dict[int, subprocess.Popen] = {}
_registered = False


def start(argv: list[str], **kw) -> subprocess.Popen:
    """``subprocess.Popen(argv, **kw)`` in a session of its own, recorded until stopped."""
    global _registered
    with interrupts.deferred():
        proc = subprocess.Popen(argv, start_new_session=True, **kw)
        _live[proc.pid] = proc
        if not _registered:
            atexit.register(stop_all)
            _registered = True
    return proc


def stop(proc: subprocess.Popen | None, grace: float = 2.0) -> None:
    """End ``proc`` and what it started (its process group): SIGTERM, ``grace`` seconds,
    then SIGKILL; wait for it. Safe to call twice, and during an interrupt (a second
    signal does not cut it short)."""
    if proc is None:
        return
    with interrupts.deferred():
        try:
            if proc.returncode is None:     # not reaped: its pid (the group's id) is ours
                _signal_group(proc, signal.SIGTERM)
                deadline = time.monotonic() + grace
                while not _exited(proc) and time.monotonic() < deadline:
                    time.sleep(0.01)
                # still unreaped (alive, or a zombie that holds the id): the group's
                # stragglers too
                _signal_group(proc, signal.SIGKILL)
                proc.wait()
        finally:
            _live.pop(proc.pid, None)
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                if pipe is not None:
                    try:
                        pipe.close()
                    except OSError:
                        pass


def _exited(proc: subprocess.Popen) -> bool:
    """Has ``proc`` exited? Without reaping it (its pid stays reserved)."""
    try:
        return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) \
            is not None
    except ChildProcessError:       # reaped elsewhere
        return True


def _signal_group(proc: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(proc.pid, signum)     # its session's group: the pid is the group id
    except (ProcessLookupError, PermissionError):
        pass


def forget(proc: subprocess.Popen) -> None:
    """A process that ended by itself and was waited for."""
    _live.pop(proc.pid, None)


def stop_all() -> None:
    """Stop every process still recorded (at exit, and where a command ends)."""
    for proc in list(_live.values()):
        stop(proc, grace=0.5)


def live() -> list[int]:
    """The pids still recorded (for tests and --debug)."""
    return sorted(_live)


def direct_children() -> set[int]:
    """The pids of this process's children (Linux: /proc; elsewhere empty), those that a
    library started included (Ray's node processes)."""
    found = set()
    me = str(os.getpid())
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return found
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:   # not a user file: /proc
                fields = f.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[1].decode() == me:        # not user text: /proc
            found.add(int(pid))             # not user text: /proc
    return found


@contextmanager
def library_processes(grace: float = 10.0) -> Iterator[None]:
    """A block in which a library starts processes of its own (Ray's node: gcs_server,
    raylet, workers, agents) and is asked to stop them at its end: the children it started
    and left (and their descendants orphaned meanwhile, re-parented here) are waited for
    ``grace`` seconds after the block, then killed with their groups, so that nothing of
    it outlives the command or writes into a folder being removed."""
    before = direct_children()
    reaper = _subreaper(True)   # what the library's processes start is re-parented here
    try:
        yield
    finally:
        with interrupts.deferred():
            deadline = time.monotonic() + grace
            for _ in range(1000):       # until none is left: each kill may orphan more
                left = {p for p in direct_children() - before - set(_live)
                        if _alive_child(p)}
                if not left:
                    break
                if time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                for pid in left:
                    for kill in (os.killpg, os.kill):
                        try:
                            kill(pid, signal.SIGKILL)
                        except (ProcessLookupError, PermissionError):
                            pass
                for pid in left:
                    _alive_child(pid, block=True)
            if reaper:
                _subreaper(False)


def _subreaper(on: bool) -> bool:
    """Make this process the one that inherits its descendants whose parent ends
    (Linux's PR_SET_CHILD_SUBREAPER): Ray's agents outlive its raylet when ray.init is
    cut short, and would otherwise go to init, out of reach. Whether it took."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, int(on), 0, 0, 0) == 0        # 36: PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def _alive_child(pid: int, block: bool = False) -> bool:
    """Reap ``pid`` if it ended (a child of this process); whether it still runs."""
    try:
        done, _ = os.waitpid(pid, 0 if block else os.WNOHANG)
    except ChildProcessError:
        return os.path.exists(f"/proc/{pid}")     # not ours to reap: still there?
    return done == 0


@contextmanager
def running(argv: list[str], grace: float = 2.0, **kw) -> Iterator[subprocess.Popen]:
    """A process for the length of the block: stopped when it ends, however it ends."""
    proc = None
    try:
        with interrupts.deferred():
            proc = start(argv, **kw)
        yield proc
    finally:
        stop(proc, grace)


def run(argv: list[str], timeout: float, input: bytes | None = None
        ) -> subprocess.CompletedProcess:
    """Run ``argv`` to its end and capture its output (bytes); stopped, and
    ``subprocess.TimeoutExpired`` raised, after ``timeout`` seconds; stopped on any error
    or interrupt."""
    with running(argv, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        out, err = proc.communicate(input, timeout=timeout)
        return subprocess.CompletedProcess(argv, proc.returncode, out, err)
