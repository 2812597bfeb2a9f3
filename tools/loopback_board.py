"""A real board on this machine, for the device tests and tools/bench_device.py: OpenSSH's
sshd on 127.0.0.1 (a free port, a throwaway host key and client key) and a "board" Python
environment that holds only numpy and the runtimes (.venv/board, made by `make board`).

    with LoopbackBoard(tmp_path) as board:
        board.url, board.ssh_options          # for 'edgekit devices add'

OpenSSH reads ~/.ssh/config from the passwd home, not $HOME, so everything the client
needs (key, known-hosts file, host-key policy) is passed as -o options.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOARD_PYTHON = Path(os.environ.get("EDGEKIT_BOARD_PYTHON", ROOT / ".venv/board/bin/python"))
SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def sshd_available() -> bool:
    return os.path.exists(SSHD) and shutil.which("ssh-keygen") is not None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LoopbackBoard:
    def __init__(self, folder: Path, python: Path = BOARD_PYTHON):
        self.dir = Path(folder)
        self.python = Path(python)
        self.port = free_port()
        self.user = getpass.getuser()
        self.proc: subprocess.Popen | None = None
        # the login's HOME (sshd's SetEnv): '~/...' on the board and its cache are this
        # board's own, never the real home of the user running the tests
        self.home = self.dir / "home"

    @property
    def url(self) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}"

    @property
    def key(self) -> Path:
        return self.dir / "id_ed25519"

    @property
    def ssh_options(self) -> list[str]:
        return [f"IdentityFile={self.key}", "IdentitiesOnly=yes",
                f"UserKnownHostsFile={self.dir / 'known_hosts'}",
                "StrictHostKeyChecking=accept-new", "LogLevel=ERROR"]

    def _config(self) -> Path:
        cfg = self.dir / "sshd_config"
        cfg.write_text(f"""Port {self.port}
ListenAddress 127.0.0.1
HostKey {self.dir / 'host_ed25519'}
AuthorizedKeysFile {self.dir / 'authorized_keys'}
PidFile {self.dir / 'sshd.pid'}
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
AllowUsers {self.user}
MaxStartups 100
MaxSessions 100
LogLevel ERROR
SetEnv HOME={self.home}
""")
        return cfg

    def start(self) -> LoopbackBoard:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.home.mkdir(exist_ok=True)
        for name in ("host_ed25519", "id_ed25519"):
            if not (self.dir / name).exists():
                subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                                str(self.dir / name)], check=True)
        shutil.copy(self.dir / "id_ed25519.pub", self.dir / "authorized_keys")
        if os.geteuid() == 0:
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)   # privilege separation
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self._config())],
                                     stdout=subprocess.DEVNULL,
                                     stderr=open(self.dir / "sshd.log", "w"))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited: {(self.dir / 'sshd.log').read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("sshd did not start listening within 10 s")

    def drop_sessions(self) -> None:
        """Kill the server side of every open connection (a cable pulled mid-run)."""
        subprocess.run(["pkill", "-KILL", "-P", str(self.proc.pid)], check=False)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.drop_sessions()
            self.proc.terminate()
            self.proc.wait(timeout=10)

    def __enter__(self) -> LoopbackBoard:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


if __name__ == "__main__":  # start one by hand: python tools/loopback_board.py DIR
    b = LoopbackBoard(Path(sys.argv[1])).start()
    print(b.url, " ".join(f"--ssh-option {o}" for o in b.ssh_options),
          f"--python {b.python}", flush=True)
    try:
        b.proc.wait()
    except KeyboardInterrupt:
        b.stop()
