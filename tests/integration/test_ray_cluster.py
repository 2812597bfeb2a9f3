"""`sweep --executor ray` on a two-node Ray cluster that shares nothing but Ray (issue 24).

On this machine: a head with no CPUs, and a worker node started in a mount namespace of its
own (``unshare -m``) with an empty tmpfs over this test's folder, which holds the driver's
export cache, the local run's cache and the validation file: the worker sees none of the
driver's files, and the driver none of the worker's (the worker's cache is at the same path
as the driver's, so a stale file at that path here is the case of the issue). Root only
(mounts); elsewhere skipped with the reason.

The sweeps run as a user runs them: `python -m edgekit sweep` in a child process."""

import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

GRID = ["mobilenet", "--alpha", "0.25", "--resolution", "96", "--quant", "none,int8"]
TIMING = ["--runtime", "litert", "--runs", "3"]
DIFFER = ("latency_ms", "latency_p90_ms", "provider", "file", "node", "built_on",
          "pareto", "feasible", "best", "violates")    # timing, and where the file lies
HANG_GUARD_S = 600


def _why_not() -> str | None:
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ray_bin() -> str:
    return str(Path(sys.executable).with_name("ray"))


class Cluster:
    """The head and the worker node, each one process group (ray start --block)."""

    def __init__(self, base: Path):
        self.base = base                  # hidden from the worker by its tmpfs
        self.cache = base / "driver-cache"
        self.temp = Path(tempfile.mkdtemp(prefix="ekr", dir="/tmp"))  # short socket paths
        self.port = _free_port()
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
        self._start([_ray_bin(), "start", "--head", "--num-cpus", "0", "--port",
                     str(self.port), "--ray-client-server-port", str(_free_port()),
                     "--dashboard-agent-listen-port", str(_free_port()), *common], self.env)
        self._wait_for(cpus=0)
        worker = (f"mount -t tmpfs ek-hidden {self.base} && mkdir -p {self.cache} && exec "
                  f"{_ray_bin()} start --address {self.address} --num-cpus 1 "
                  f"--temp-dir {self.temp}/w --dashboard-agent-listen-port {_free_port()} "
                  "--disable-usage-stats --block")
        self.worker = self._start(["unshare", "-m", "--propagation", "private", "sh", "-c",
                                   worker], {**self.env, "EDGEKIT_CACHE": str(self.cache)})
        self._wait_for(cpus=1)
        self.worker_ns = os.readlink(f"/proc/{self.worker.pid}/ns/mnt")

    def _wait_for(self, cpus: int) -> None:
        from edgekit.core.errors import EdgekitError
        from edgekit.services.sweep_ray import probe

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self.procs):
                break
            try:
                with pytest.MonkeyPatch.context() as mp:
                    for k, v in self.auth.items():
                        mp.setenv(k, v)
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
        _stop_groups(self.procs)
        deadline = time.monotonic() + 15      # the worker node's processes in other groups
        while time.monotonic() < deadline and self._left():
            for pid in self._left():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.5)
        shutil.rmtree(self.temp, ignore_errors=True)

    def _left(self) -> list[int]:
        """Processes of the cluster: its groups, and whatever runs in the worker's mount
        namespace."""
        left = set(_members({p.pid for p in self.procs}))
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


def _members(groups: set[int]) -> list[int]:
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


def _stop_groups(procs: list[subprocess.Popen]) -> None:
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
    while time.monotonic() < deadline and _members(groups):
        for pid in _members(groups):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.5)
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    why = _why_not()
    if why:
        pytest.skip(why)
    c = Cluster(tmp_path_factory.mktemp("raycluster"))
    try:
        c.start()
        yield c
    finally:
        c.stop()
        assert not c._left(), "processes of the test cluster were left running"


def sweep(c: Cluster, out: Path, *args, cache: Path | None = None, wait=True):
    cmd = [sys.executable, "-m", "edgekit", "sweep", *args, "-o", str(out), "--json"]
    env = {**c.env, "EDGEKIT_CACHE": str(cache or c.cache)}
    if not wait:
        return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, start_new_session=True)
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=HANG_GUARD_S)


def _validation(base: Path) -> Path:
    from sklearn.datasets import load_sample_images

    photos = load_sample_images().images
    x = np.stack([p[i * 40:i * 40 + 120, i * 60:i * 60 + 150] for p in photos
                  for i in range(3)])
    path = base / "val.npz"
    np.savez(path, x=x, y=np.arange(len(x)) * 7)
    return path


def _strip(rows):
    return [{k: v for k, v in r.items() if k not in DIFFER} for r in rows]


def _sha(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def two_runs(cluster):
    """The grid with host timing and validation data, swept by the local executor (its own
    cache) and on the cluster; the validation file is on the driver's path only."""
    val = _validation(cluster.base)
    args = [*GRID, *TIMING, "--validation", str(val)]
    local = sweep(cluster, cluster.base / "local", *args, cache=cluster.base / "local-cache")
    assert local.returncode == 0, local.stderr
    ray = sweep(cluster, cluster.base / "ray", *args, "--executor", "ray", "--ray-address",
                cluster.address)
    assert ray.returncode == 0, ray.stderr + cluster.logs()
    return json.loads(local.stdout), json.loads(ray.stdout), ray.stderr, val


def test_two_nodes_give_the_local_rows(cluster, two_runs):
    local, ray, err, val = two_runs
    assert ray["executor"] == "ray" and not ray["failed"] and len(ray["rows"]) == 2
    assert _strip(ray["rows"]) == _strip(local["rows"])
    sent = ray["work"]["object_store_bytes"]
    x = np.load(val)["x"]
    assert sent["validation_bytes"] == x.size * 4 + len(x) * 8   # float32 x, int64 y, once
    assert sent["file_bytes"] == sum(r["file_bytes"] for r in ray["rows"])
    for r in ray["rows"]:
        assert r["latency_ms"] > 0 and r["validation_top1"] is not None
        assert _sha(r["file"]) == r["file_sha256"]          # the timed file is the row's
        assert "from-nodes" in r["file"] and r["node"] is None
        assert r["built_on"] and "node" in r["built_on"]
    assert "Traceback" not in err and "rpc_client" not in err


def test_a_stale_file_here_is_not_used(cluster, two_runs):
    """The int8 file the node built, as the node named it, is replaced here by another
    file (the float one: a valid model that times differently). The row keeps the node's
    file, and the file here is left as it was."""
    _, ray, _, val = two_runs
    store = [json.loads(line) for line in (cluster.base / "ray" / "sweep.jsonl").open()]
    node_paths = {s["result"]["quant"]: s["result"]["files"]["litert"]["path"]
                  for s in store if s["stage"] == "build"
                  and s["result"]["files"]["litert"].get("node")}
    assert set(node_paths) == {"none", "int8"}
    stale = Path(node_paths["int8"])
    assert not stale.exists()          # the node's cache is not this machine's
    stale.parent.mkdir(parents=True)
    float_row = next(r for r in ray["rows"] if r["quant"] == "none")
    shutil.copyfile(float_row["file"], stale)
    before = stale.read_bytes()
    again = sweep(cluster, cluster.base / "stale", *GRID, *TIMING, "--validation", str(val),
                  "--executor", "ray", "--ray-address", cluster.address)
    assert again.returncode == 0, again.stderr
    rows = {r["quant"]: r for r in json.loads(again.stdout)["rows"]}
    want = {r["quant"]: r["file_sha256"] for r in ray["rows"]}
    assert rows["int8"]["file_sha256"] == want["int8"] != _sha(stale)
    assert _sha(rows["int8"]["file"]) == want["int8"] and rows["int8"]["file"] != str(stale)
    assert stale.read_bytes() == before


def test_a_killed_worker_keeps_the_finished_rows(cluster, two_runs):
    """Two configs, one the node has cached (quick) and one new: the worker process of the
    second build is killed mid-build. The first row is kept, the second is failed with the
    reason, exit 1; the rerun builds only the second."""
    args = ["mobilenet", "--alpha", "0.25", "--resolution", "96,112", "--quant", "none",
            "--executor", "ray", "--ray-address", cluster.address]
    out = cluster.base / "killed"
    proc = sweep(cluster, out, *args, wait=False)
    store = out / "sweep.jsonl"
    killed, deadline = None, time.monotonic() + 300
    while killed is None and time.monotonic() < deadline and proc.poll() is None:
        if store.is_file() and "a0.25_r96_" in store.read_text():
            for pid in cluster.builders():
                os.kill(pid, signal.SIGKILL)
                killed = pid
        time.sleep(0.2)
    stdout, stderr = proc.communicate(timeout=HANG_GUARD_S)
    assert killed is not None, "no build was running to kill: " + stderr
    assert proc.returncode == 1, stderr
    doc = json.loads(stdout)
    assert [r["id"] for r in doc["rows"]] == ["mobilenet_a0.25_r96_none"]
    (failed,) = doc["failed"]
    assert failed["id"] == "mobilenet_a0.25_r112_none" and failed["stage"] == "build"
    lines = [ln for ln in stderr.splitlines() if ln.strip() and not ln.startswith("wrote ")]
    assert len(lines) == 1 and lines[0].startswith("edgekit: error: 1 of 2 rows failed (first: "
                                                   "mobilenet_a0.25_r112_none on "), stderr
    assert "(raylet)" not in stdout + stderr         # Ray's own messages kept out
    assert "WorkerCrashedError" in failed["reason"]
    assert failed["where"] == doc["rows"][0]["built_on"]     # the node is named
    again = sweep(cluster, out, *args)
    assert again.returncode == 0, again.stderr
    doc = json.loads(again.stdout)
    assert doc["work"]["ran"] == 1 and doc["work"]["reused"] == 1 and len(doc["rows"]) == 2


def test_an_unreachable_cluster_is_one_line_within_the_bound(tmp_path):
    from edgekit.services.sweep_ray import CONNECT_BOUND_S

    if _why_not() and "Ray" in _why_not():
        pytest.skip(_why_not())
    cmd = [sys.executable, "-m", "edgekit", "sweep", *GRID, "--executor", "ray",
           "--ray-address", "127.0.0.1:1", "-o", str(tmp_path / "out")]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=CONNECT_BOUND_S + 30,
                          env={**os.environ, "EDGEKIT_QUIET": "1"})
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert done.returncode == 1 and len(lines) == 1, done.stderr
    assert lines[0].startswith("edgekit: error: cannot reach Ray at 127.0.0.1:1: ")
    assert not (tmp_path / "out").exists()


def test_a_silent_address_is_given_up_on(tmp_path):
    """Something that accepts the connection and never answers: the probe driver is killed
    at its bound, and nothing of it is left."""
    from edgekit.core.errors import EdgekitError
    from edgekit.services.sweep_ray import probe

    if _why_not() and "Ray" in _why_not():
        pytest.skip(_why_not())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        with pytest.raises(EdgekitError, match=r"no answer within 4 s"):
            probe(f"127.0.0.1:{s.getsockname()[1]}", bound=4)


def test_a_cluster_that_wants_a_token_names_authentication(tmp_path):
    if _why_not() and "Ray" in _why_not():
        pytest.skip(_why_not())
    from edgekit.core.errors import EdgekitError
    from edgekit.services.sweep_ray import probe

    temp = Path(tempfile.mkdtemp(prefix="eka", dir="/tmp"))
    port = _free_port()
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token",
           "RAY_AUTH_TOKEN": "0123456789abcdef0123456789abcdef"}
    head = subprocess.Popen([_ray_bin(), "start", "--head", "--num-cpus", "1", "--port",
                             str(port), "--temp-dir", str(temp), "--include-dashboard",
                             "false", "--disable-usage-stats", "--block",
                             "--ray-client-server-port", str(_free_port()),
                             "--dashboard-agent-listen-port", str(_free_port())],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        with pytest.MonkeyPatch.context() as mp:
            for k in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
                mp.delenv(k, raising=False)
            with pytest.raises(EdgekitError, match="authentication failed"):
                probe(f"127.0.0.1:{port}", bound=20)
    finally:
        _stop_groups([head])
        shutil.rmtree(temp, ignore_errors=True)
    assert not _members({head.pid})
