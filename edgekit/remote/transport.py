"""How commands reach a device. A transport opens a connection, runs commands on the
device (stdin in, stdout lines streamed back) and closes. One exists: SSH through the
system's OpenSSH client, so that ~/.ssh/config, keys, agents and jump hosts work as they do
in the user's shell, with one multiplexed connection (ControlMaster) for a whole run.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass

from edgekit.core import children, interrupts
from edgekit.core.devices import Device
from edgekit.core.errors import EdgekitError, UsageError


class DeviceError(EdgekitError):
    """A device that cannot be reached, refuses the login, or lost the connection."""

    exit_code = 3


@dataclass
class Completed:
    returncode: int
    stdout: bytes
    stderr: str


_UNREACHABLE = ("could not resolve", "connection refused", "timed out", "no route to host",
                "network is unreachable", "connection closed by", "connection reset",
                "name or service not known", "temporary failure in name resolution")


def ssh_failure(device: Device, stderr: str) -> DeviceError:
    """One line for an OpenSSH client failure (its exit code 255), from what it printed."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()
             and not ln.startswith(("Warning: Permanently added", "debug"))]
    said = lines[-1] if lines else "no message"
    low = stderr.lower()
    where = f"{device.name} ({device.url})"
    if "permission denied" in low or "too many authentication failures" in low:
        return DeviceError(f"{where} refused the login ({said}): check the key, e.g. "
                           "--ssh-option IdentityFile=~/.ssh/KEY, and that its public half "
                           "is in the board's ~/.ssh/authorized_keys")
    if "host key verification failed" in low or "remote host identification" in low:
        return DeviceError(f"{where}: the host key is unknown or has changed ({said}); "
                           "connect once with plain ssh to check and accept it")
    if any(k in low for k in _UNREACHABLE):
        return DeviceError(f"cannot reach {where}: {said}")
    return DeviceError(f"ssh to {where} failed: {said}")


def ssh_argv(device: Device, *extra: str, connect_timeout: int = 10) -> list[str]:
    """The ssh command line for ``device``: the user's options first (ssh takes the first
    value of an option), edgekit's, the URL's port and user, ``extra``, then ``--`` and the
    host (never read as an option, whatever it is)."""
    user, host, port = device.address
    argv = ["ssh"]
    for option in device.ssh_options:
        argv += ["-o", option]
    argv += ["-o", "BatchMode=yes", "-o", f"ConnectTimeout={connect_timeout}",
             "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3"]
    argv += (["-p", str(port)] if port else []) + (["-l", user] if user else [])
    return argv + list(extra) + ["--", host]


def remote_word(arg: str) -> str:
    """One word of a command line for the board's shell: quoted, except that a leading
    '~/' stays bare, so that the board expands it to its own home (as in
    --python '~/venv/bin/python'), never this machine's."""
    if arg == "~":
        return "~"
    if arg.startswith("~/"):
        return "~/" + shlex.quote(arg[2:]) if arg[2:] else "~/"
    return shlex.quote(arg)


class SSHTransport:
    """OpenSSH client with one master connection; ``run`` goes through it."""

    name = "ssh"

    def __init__(self, device: Device, connect_timeout: int = 10):
        if not shutil.which("ssh"):
            raise DeviceError("no 'ssh' client on this machine: install OpenSSH's client")
        self.device = device
        self.connect_timeout = connect_timeout
        self._folder = ExitStack()
        self._dir: str | None = None
        self.control = ""
        self.master: subprocess.Popen | None = None

    def _argv(self, *extra: str) -> list[str]:
        return ssh_argv(self.device, "-o", f"ControlPath={self.control}", *extra,
                        connect_timeout=self.connect_timeout)

    def open(self) -> float:
        """Connect and authenticate once; returns the seconds it took. The options are
        read by ssh first (check_ssh_config: a usage error, exit 2). A board that does not
        answer (a silent host, an sshd that never sends its banner) is given up after
        connect_timeout + 5 s with one line; an interrupt meanwhile (Ctrl-C) leaves no ssh
        process and no control folder behind."""
        check_ssh_config(self.device)
        t0 = time.monotonic()
        try:
            from edgekit.core.files import scratch_file, temp_folder

            # a short folder: a control socket's path must fit in 108 bytes
            folder = self._folder.enter_context(temp_folder(
                prefix="ek-", dir="/tmp" if os.path.isdir("/tmp") else None))
            self._dir = str(folder)
            self.control = os.path.join(self._dir, "c")
            with scratch_file(folder, "master.log") as log:
                with interrupts.deferred():     # held from its start: never unseen
                    self.master = children.start(
                        self._argv("-M", "-N", "-o", "ControlMaster=yes", "-o",
                                   "ControlPersist=no"),
                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
                deadline = t0 + self.connect_timeout + 5
                while not self._ready():
                    if self.master.poll() is not None:
                        log.seek(0)
                        raise ssh_failure(self.device, log.read() or "no message")
                    if time.monotonic() > deadline:
                        raise DeviceError(
                            f"cannot reach {self.device.name} ({self.device.url}): no "
                            f"answer within {self.connect_timeout + 5} s (a board that is "
                            "off, asleep or behind a firewall that drops packets)")
                    time.sleep(0.01)
        except BaseException:
            self.close()
            raise
        return time.monotonic() - t0

    def _ready(self) -> bool:
        """The master has authenticated (it makes its socket after the login)."""
        return bool(self.control) and os.path.exists(self.control)

    def alive(self) -> bool:
        """Whether the connection (the control master) still stands: after a command
        ended with ssh's 255, this tells a dropped link from a remote process that died."""
        if self.master is None or self.master.poll() is not None:
            return False
        try:
            return children.run(self._argv("-O", "check"), timeout=10).returncode == 0
        except (subprocess.SubprocessError, OSError):
            return False

    def run(self, command: list[str], stdin: bytes = b"",
            on_line: Callable[[str], None] | None = None,
            hold_stdin: bool = False) -> Completed:
        """Run ``command`` (argv, quoted for the remote shell) on the device. With
        ``on_line``, stdout is handed over line by line as it arrives. With
        ``hold_stdin``, stdin stays open until the command ends (the remote side sees it
        close when this side goes away)."""
        argv = self._argv("-o", "ControlMaster=no", "-T") + [
            " ".join(remote_word(c) for c in command)]
        with children.running(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) as proc:
            errors: list[bytes] = []
            readers = [threading.Thread(target=lambda: errors.append(proc.stderr.read()),
                                        daemon=True),
                       threading.Thread(target=_feed, args=(proc.stdin, stdin,
                                                            not hold_stdin), daemon=True)]
            for t in readers:
                t.start()
            out = bytearray()
            for line in proc.stdout:
                if on_line is not None:
                    on_line(line.decode(errors="replace"))
                else:
                    out += line
            proc.wait()
            for t in readers:
                t.join()
            if hold_stdin:
                proc.stdin.close()
        return Completed(proc.returncode, bytes(out),
                         b"".join(errors).decode(errors="replace"))

    def close(self) -> None:
        """Stop the master (politely, then by force) and remove the control folder;
        safe to call twice, and during an interrupt (a second signal does not cut it)."""
        with interrupts.deferred():
            master = self.master
            try:
                if master is not None and master.poll() is None and self._ready():
                    try:
                        children.run(self._argv("-O", "exit"), timeout=10)
                    except (subprocess.SubprocessError, OSError):
                        pass
                children.stop(master, grace=5 if self._ready() else 0.05)
            finally:
                self._folder.close()


def _feed(pipe, data: bytes, close: bool = True) -> None:
    try:
        pipe.write(data)
        pipe.flush()
        if close:
            pipe.close()
    except (BrokenPipeError, OSError):
        pass


def check_ssh_config(device: Device) -> None:
    """The device's ssh options as ssh itself reads them (``ssh -G``: it parses the
    options and the user's ~/.ssh/config, and connects nowhere), before any connection:
    a value ssh rejects (ConnectTimeout=abc, an unknown option) is a usage error (exit 2)
    that names the option, never a device problem. Skipped where ssh is not installed
    (the connection then says so)."""
    if not shutil.which("ssh"):
        return

    def refused(options) -> str | None:
        probe = Device(device.name, device.url, ssh_options=tuple(options))
        try:
            done = children.run(ssh_argv(probe, "-G", "-T"), timeout=10)
        except (subprocess.SubprocessError, OSError) as e:
            return f"ssh -G did not answer ({type(e).__name__})"
        if done.returncode == 0:
            return None
        lines = [ln.strip() for ln in done.stderr.decode(errors="replace").splitlines()
                 if ln.strip() and not ln.startswith("Pseudo-terminal")]
        return lines[-1] if lines else f"exit status {done.returncode}"

    said = refused(device.ssh_options)
    if said is None:
        return
    culprit = next((o for o in device.ssh_options if refused([o]) is not None), None)
    where = f"device {device.name} ({device.url})"
    if culprit is not None:
        raise UsageError(f"{where}: ssh refuses --ssh-option {culprit!r}: {said!r}")
    raise UsageError(f"{where}: ssh cannot read its settings for this host (see "
                     f"~/.ssh/config): {said!r}")


def transport_for(device: Device):
    if device.transport == "ssh":
        return SSHTransport(device)
    raise DeviceError(f"{device.name}: unsupported transport {device.transport!r}")
