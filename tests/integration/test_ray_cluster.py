"""`sweep --executor ray` on a two-node Ray cluster that shares nothing but Ray (issue 24).

On this machine: a head with no CPUs, and a worker node started in a mount namespace of its
own (``unshare -m``) with an empty tmpfs over this test's folder, which holds the driver's
export cache, the local run's cache and the validation file: the worker sees none of the
driver's files, and the driver none of the worker's (the worker's own cache is in that
tmpfs; a file the test puts at the worker's path here is the stale-file case of the issue).
Root only (mounts); elsewhere skipped with the reason.

The sweeps run as a user runs them: `python -m edgekit sweep` in a child process."""

import hashlib
import json
import os
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

from tests.integration.ray_cluster import Cluster, free_port, members, ray_bin, stop_groups, why_not

# one cluster per run: under 'pytest -n 2 --dist loadgroup' (make test) every test of this
# file goes to the same worker
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.xdist_group("ray_cluster")]

GRID = ["mobilenet", "--alpha", "0.25", "--resolution", "96", "--quant", "none,int8"]
TIMING = ["--runtime", "litert", "--runs", "3"]
DIFFER = ("latency_ms", "latency_p90_ms", "provider", "file", "node", "built_on",
          "pareto", "feasible", "best", "violates")    # timing, and where the file lies
HANG_GUARD_S = 600


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    why = why_not()
    if why:
        pytest.skip(why)
    c = Cluster(tmp_path_factory.mktemp("raycluster"))
    try:
        c.start()
        yield c
    finally:
        c.stop()
        assert not c.left(), "processes of the test cluster were left running"


def sweep(c: Cluster, out: Path, *args, cache: Path | None = None, wait=True):
    if "--ray-address" in args:   # a loaded 2-core host: Ray Client's driver can take > 30 s
        args = (*args, "--ray-timeout", "120")
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
    assert stale.is_relative_to(cluster.node_cache)   # its own cache, not the driver's path
    assert not stale.exists()          # and not on this machine
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


def test_through_ray_client(cluster, two_runs):
    """'ray://' (Ray Client, where tasks cannot stream): the same row, its file here."""
    local, _, _, val = two_runs
    args = ["mobilenet", "--alpha", "0.25", "--resolution", "96", "--quant", "none", *TIMING,
            "--validation", str(val), "--executor", "ray", "--ray-address",
            f"ray://127.0.0.1:{cluster.client_port}"]
    r = sweep(cluster, cluster.base / "client", *args)
    if r.returncode != 0 and "Starting Ray client server failed" in r.stderr:
        # Ray's proxy starts a server process per client, and that process can die at
        # start on a loaded host (once in a full run): edgekit said so in one line; the
        # connection is tried again, and the server's own log goes with any failure
        said = " | ".join(p.read_text(errors="replace")[-600:] for p in
                          sorted(cluster.temp.rglob("ray_client_server_*.err")))
        r = sweep(cluster, cluster.base / "client-again", *args)
        assert r.returncode == 0, f"{r.stderr} (the first try's server: {said})"
    assert r.returncode == 0, r.stderr
    (row,) = json.loads(r.stdout)["rows"]
    want = next(x for x in local["rows"] if x["quant"] == "none")
    assert _strip([row]) == _strip([want]) and _sha(row["file"]) == row["file_sha256"]


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

    if why_not() and "Ray" in why_not():
        pytest.skip(why_not())
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

    if why_not() and "Ray" in why_not():
        pytest.skip(why_not())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        with pytest.raises(EdgekitError, match=r"no answer within 4 s"):
            probe(f"127.0.0.1:{s.getsockname()[1]}", bound=4)


def test_a_cluster_that_wants_a_token_names_authentication(tmp_path):
    if why_not() and "Ray" in why_not():
        pytest.skip(why_not())
    from edgekit.core.errors import EdgekitError
    from edgekit.services.sweep_ray import probe

    temp = Path(tempfile.mkdtemp(prefix="eka", dir="/tmp"))
    port = free_port()
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token",
           "RAY_AUTH_TOKEN": "0123456789abcdef0123456789abcdef"}
    head = subprocess.Popen([ray_bin(), "start", "--head", "--num-cpus", "1", "--port",
                             str(port), "--temp-dir", str(temp), "--include-dashboard",
                             "false", "--disable-usage-stats", "--block",
                             "--ray-client-server-port", str(free_port()),
                             "--dashboard-agent-listen-port", str(free_port())],
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
        stop_groups([head])
        shutil.rmtree(temp, ignore_errors=True)
    assert not members({head.pid})
