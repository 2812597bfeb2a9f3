"""A two-node Ray cluster on this machine whose worker node shares nothing with this
process but Ray: a head with no CPUs, and a worker started in a mount namespace of its own
(``unshare -m``) with an empty tmpfs over a folder of the caller's (``base``), so that it
sees none of the files there, nor the driver any of its own. Both nodes use token
authentication, as Ray 2.60 clusters do. Root only (mounts). Used by
tests/integration/test_ray_cluster.py and tools/bench_sweep.py; everything it starts is one
of its process groups or runs in the worker's namespace, and ``stop`` ends exactly those."""

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def _env(values: dict):
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def why_not() -> str | None:
    if sys.platform != "linux" or os.geteuid() != 0:
        return "needs root on Linux (unshare -m and a tmpfs for the worker node)"
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        return "needs unshare and mount"
    try:
        import ray  # noqa: F401
    except ImportError:
        return "needs Ray (pip install 'edgekit[ray]')"
    done = subprocess.run(["unshare", "-m", "--propagation", "private", "true"],
                          capture_output=True)
    return None if done.returncode == 0 else "unshare -m is not allowed here"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ray_bin() -> str:
    return str(Path(sys.executable).with_name("ray"))


class Cluster:
    """The head and the worker node, each one process group (ray start --block)."""

    def __init__(self, base: Path, cpus: int = 1):
        self.cpus = cpus
        self.base = base                  # hidden from the worker by its tmpfs
        self.cache = base / "driver-cache"       # the driver's EDGEKIT_CACHE
        self.node_cache = base / "node-cache"    # the worker's: its own, in its tmpfs
        self.temp = Path(tempfile.mkdtemp(prefix="ekr", dir="/tmp"))  # short socket paths
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.procs: list[subprocess.Popen] = []
        self.auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
        self.env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "EDGEKIT_QUIET": "1",
                    **self.auth}     # a cluster with token authentication, as Ray 2.60 makes
        for k in ("RAY_ADDRESS", "EDGEKIT_DEBUG"):
            self.env.pop(k, None)

    def _start(self, cmd: list[str], env: dict) -> subprocess.Popen:
        log = open(self.temp / f"node{len(self.procs)}.log", "wb")
        p = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=log,
                             stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.procs.append(p)
        return p

    def start(self) -> None:
        common = ["--temp-dir", str(self.temp), "--include-dashboard", "false",
                  "--disable-usage-stats", "--block"]
        self.client_port = free_port()      # Ray Client: ray://127.0.0.1:client_port
        self._start([ray_bin(), "start", "--head", "--num-cpus", "0", "--port",
                     str(self.port), "--ray-client-server-port", str(self.client_port),
                     "--dashboard-agent-listen-port", str(free_port()), *common], self.env)
        self._wait_for(cpus=0)
        worker = (f"mount -t tmpfs ek-hidden {self.base} && mkdir -p {self.node_cache} && exec "
                  f"{ray_bin()} start --address {self.address} --num-cpus {self.cpus} "
                  f"--temp-dir {self.temp}/w --dashboard-agent-listen-port {free_port()} "
                  "--disable-usage-stats --block")
        self.worker = self._start(["unshare", "-m", "--propagation", "private", "sh", "-c",
                                   worker], {**self.env, "EDGEKIT_CACHE": str(self.node_cache)})
        self._wait_for(cpus=self.cpus)
        self.worker_ns = os.readlink(f"/proc/{self.worker.pid}/ns/mnt")

    def _wait_for(self, cpus: int) -> None:
        from edgekit.core.errors import EdgekitError
        from edgekit.services.sweep_ray import probe

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self.procs):
                break
            try:
                with _env(self.auth):
                    if probe(self.address)["cpus"] >= cpus:
                        return
            except EdgekitError as e:
                if cpus == 0 and "no CPU" in str(e):
                    return
            time.sleep(1)
        raise RuntimeError(f"the test cluster did not start: {self.logs()}")

    def logs(self) -> str:
        return " | ".join(p.read_text(errors="replace")[-400:]
                          for p in sorted(self.temp.glob("node*.log")))

    def builders(self) -> list[int]:
        """The worker node's processes (in its mount namespace) that run a build now."""
        found = []
        for d in Path("/proc").iterdir():
            if not d.name.isdigit():
                continue
            try:
                if b"ray::build_on_node" in (d / "cmdline").read_bytes() and \
                        os.readlink(d / "ns" / "mnt") == self.worker_ns:
                    found.append(int(d.name))
            except OSError:
                continue
        return found

    def stop(self) -> None:
        stop_groups(self.procs)
        deadline = time.monotonic() + 15      # the worker node's processes in other groups
        while time.monotonic() < deadline and self.left():
            for pid in self.left():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.5)
        shutil.rmtree(self.temp, ignore_errors=True)

    def left(self) -> list[int]:
        """Processes of the cluster: its groups, and whatever runs in the worker's mount
        namespace."""
        left = set(members({p.pid for p in self.procs}))
        ns = getattr(self, "worker_ns", None)
        for d in Path("/proc").iterdir():
            if ns and d.name.isdigit():
                try:
                    if os.readlink(d / "ns" / "mnt") == ns and \
                            _state(d) != "Z":
                        left.add(int(d.name))
                except (OSError, IndexError):
                    pass
        return sorted(left)


def _state(d: Path) -> str:
    return (d / "stat").read_text().rsplit(")", 1)[1].split()[0]


def members(groups: set[int]) -> list[int]:
    """The processes (alive, not zombies) of these process groups."""
    left = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if _state(d) != "Z" and os.getpgid(int(d.name)) in groups:
                    left.append(int(d.name))
            except (OSError, IndexError):
                pass
    return left


def stop_groups(procs: list[subprocess.Popen]) -> None:
    """Stop process groups this test started (each 'ray start --block' and its daemons):
    SIGTERM, then SIGKILL for what is left; never anything else of the machine's."""
    for p in reversed(procs):
        try:
            os.killpg(p.pid, signal.SIGTERM)
            p.wait(timeout=15)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            pass
    groups = {p.pid for p in procs}
    deadline = time.monotonic() + 15      # daemons of a group that outlive its leader
    while time.monotonic() < deadline and members(groups):
        for pid in members(groups):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.5)
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()
