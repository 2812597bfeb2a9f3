"""A board that does not answer (issue 21, in the device layer): a host whose port takes
the connection and then says nothing, as a hung sshd or a half-open firewall does.
Connecting gives up in a bounded time with one line, and Ctrl-C meanwhile leaves no ssh
process and no /tmp/ek-* control folder behind."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


@pytest.fixture
def silent_port():
    """A listening socket that never accepts: the kernel completes the TCP handshake
    and ssh then waits for a banner that never comes."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield s.getsockname()[1]


def _ssh_of(port: int) -> list[tuple[int, str]]:
    """(pid, control folder) of the ssh processes that connect to this port."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        args = [a.decode(errors="replace") for a in argv]
        # ('ssh -G', the check of the device's options before connecting, is no connection)
        if args and Path(args[0]).name == "ssh" and str(port) in args and "-G" not in args:
            control = next((a.split("=", 1)[1] for a in args
                            if a.startswith("ControlPath=")), "")
            found.append((int(pid), os.path.dirname(control)))
    return found


def test_a_silent_board_is_given_up_in_bounded_time(silent_port):
    from edgekit.core.devices import get_device
    from edgekit.remote.transport import DeviceError, SSHTransport

    transport = SSHTransport(get_device(f"ssh://127.0.0.1:{silent_port}"),
                             connect_timeout=1)
    t0 = time.monotonic()
    with pytest.raises(DeviceError) as e:
        transport.open()
    assert time.monotonic() - t0 < 1 + 5 + 3
    assert "cannot reach 127.0.0.1" in str(e.value) and "\n" not in str(e.value)
    assert transport._dir and not os.path.exists(transport._dir) and not _ssh_of(silent_port)


def test_ctrl_c_while_connecting_leaves_nothing(silent_port, tmp_path):
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config")}
    proc = subprocess.Popen([sys.executable, "-m", "edgekit", "devices", "check",
                             f"ssh://127.0.0.1:{silent_port}"], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (masters := _ssh_of(silent_port)):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.05)
        (pid, folder), = masters
        assert folder.startswith("/tmp/ek-") and os.path.isdir(folder)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 2, err
    assert not _ssh_of(silent_port), "the ssh master outlived the interrupt"
    assert not os.path.exists(folder), f"{folder} was left behind"
    assert list(tmp_path.iterdir()) == [tmp_path / "config"] or not list(
        tmp_path.iterdir())
