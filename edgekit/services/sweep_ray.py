"""`sweep --executor ray`: the build stage as Ray tasks, on nodes that share nothing with
this process but Ray.

- A task builds one config on whichever node runs it, in that node's own export cache
  (EDGEKIT_CACHE there, default ~/.cache/edgekit; this process's path is not pushed), and
  returns its row and, for the files this process needs (those it times), their bytes
  through Ray's object store (not from a local Ray: its nodes are this machine). The
  validation arrays travel the same way (put once).
- Here each row is stored as soon as it arrives; then each needed file is written into this
  machine's cache (``from-nodes/SHA256[:16]/NAME``) and checked against the row's sha256,
  unless the node's path already holds that very file here (one machine, a shared file
  system). A different file at that path here is left alone and never used for the row.
- A config that fails on a node (or whose worker dies) is reported with the node and the
  reason; the others go on.
- Connecting is bounded: a TCP probe, then a probe driver in a child process that is killed
  at CONNECT_BOUND_S; Ray's own log stays in that child (shown with --debug). A cluster
  that wants a token names authentication.
"""

from __future__ import annotations

import copy
import hashlib
import os
import re
import sys
import tempfile
import time
from contextlib import contextmanager, nullcontext, redirect_stdout
from pathlib import Path

from edgekit.core.errors import EdgekitError, UsageError, first_line

CONNECT_BOUND_S = 30    # at most this long from '--ray-address' to a connected driver (or
TCP_TIMEOUT_S = 5       # one line); the TCP probe's share of it
WAIT_S = 5              # how often a sweep waiting on tasks checks that the cluster has CPUs
NO_CPU_GRACE_S = 30     # a cluster without any CPU this long: the configs left fail
RECEIVED = "from-nodes"
_AUTH = re.compile(r"unauthenticated|invalidauthtoken|authentication token", re.I)
_OK = "edgekit-ray-ok"
_PROBE = ("import sys, ray\n"
          "ray.init(address=sys.argv[1], include_dashboard=False, log_to_driver=False,"
          " logging_level='ERROR')\n"
          f"print({_OK!r}, int(ray.cluster_resources().get('CPU', 0)),"
          " sum(1 for n in ray.nodes() if n['Alive']), flush=True)\n"
          "ray.shutdown()\n")


def _debug() -> bool:
    return os.environ.get("EDGEKIT_DEBUG") == "1"


# ---- on a node --------------------------------------------------------------------------------

def node_name() -> str:
    """The node this task runs on, as a user finds it: host (IP, node id)."""
    import socket

    import ray

    node_id = ray.get_runtime_context().get_node_id() or "?"
    return f"{socket.gethostname()} ({ray.util.get_node_ip_address()}, node {node_id[:8]})"


def build_on_node(config: dict, settings: dict, validation, needed: tuple, digest: str):
    """The Ray task, a streaming generator: first {'node'} (so that a worker that dies
    mid-build is still named), then {'node', 'row', 'blobs': {runtime: bytes}} or {'node',
    'error'}. An error is returned as data, not raised: one config's failure never stops
    the sweep."""
    node = node_name()
    yield {"node": node}
    yield _build_here(node, config, settings, validation, needed, digest)


def build_on_node_once(config: dict, settings: dict, validation, needed: tuple,
                       digest: str) -> dict:
    """The Ray task where streaming generators are not available (Ray Client, 'ray://'):
    the result alone; a worker that dies mid-build cannot be named."""
    return _build_here(node_name(), config, settings, validation, needed, digest)


def _build_here(node: str, config: dict, settings: dict, validation, needed: tuple,
                digest: str) -> dict:
    try:
        from edgekit.export.cache import versions_digest
        from edgekit.services.sweep_build import build_config, failure_reason

        if versions_digest() != digest:
            return {"node": node, "error": "its versions of edgekit and the converters differ "
                    "from this machine's (install the same edgekit on every node)"}
        row = build_config(config, settings, validation)
        row["node"] = node
        blobs = {}
        for rt, f in row["files"].items():
            f["node"] = node
            if rt in needed:
                data = Path(f["path"]).read_bytes()   # not a user file: the cache's
                if hashlib.sha256(data).hexdigest() != f["sha256"]:
                    return {"node": node, "error": f"{f['path']} changed while it was read"}
                blobs[rt] = data
        return {"node": node, "row": row, "blobs": blobs}
    except Exception as e:  # the Ray boundary: any failure becomes this config's reason
        return {"node": node, "error": failure_reason(e)}


# ---- here -------------------------------------------------------------------------------------

def received_path(entry: dict) -> Path:
    from edgekit.export.cache import cache_dir

    return cache_dir() / RECEIVED / entry["sha256"][:16] / Path(entry["path"]).name


def receive(row: dict, blobs: dict, needed, notify=lambda m: None) -> dict:
    """The row with each needed file on this machine: the node's path where it holds the
    same file here, else the bytes that came with the row, written into this machine's
    cache and checked against the row's sha256. Every file a row then names is the file
    whose hash it carries."""
    from edgekit.core.files import write_output
    from edgekit.services.sweep_store import is_the_file

    row = copy.deepcopy(row)
    for rt in needed:
        f = row["files"][rt]
        if is_the_file(f["path"], f):
            f["node"] = None
            continue
        data = blobs.get(rt)
        if data is None:
            raise EdgekitError(f"the {rt} file of {row['id']} is not here as built "
                               f"({f['path']}, on {row.get('node')})")
        if hashlib.sha256(data).hexdigest() != f["sha256"]:
            raise EdgekitError(f"the {rt} file of {row['id']} from {row.get('node')} did not "
                               "arrive whole (its sha256 differs from the row's)")
        dest = received_path(f)
        if os.path.lexists(f["path"]):
            notify(f"{row['id']}: {f['path']} here is not the file {row.get('node')} built "
                   f"(sha256 differs); it is left alone, and the node's file is used ({dest})")
        if not is_the_file(dest, f):
            dest.parent.mkdir(parents=True, exist_ok=True)
            write_output(dest, lambda out, data=data: out.write(data))
            if not is_the_file(dest, f):
                raise EdgekitError(f"{dest}: the {rt} file of {row['id']} did not keep its "
                                   "sha256 when written here")
        f.update(path=str(dest), node=None)
    return row


def run_builds(todo: list[dict], settings: dict, spec, validation, needed, keep, ready,
               fail, notify=lambda m: None) -> dict:
    """Build ``todo`` as Ray tasks. As each arrives: ``keep(c, row)`` (stored at once),
    then its needed files are received here, ``keep(c, row)`` again and ``ready(c, row)``;
    a failure calls ``fail(c, where, reason)`` and the others go on. What crossed the
    object store, in bytes."""
    stats = {"validation_bytes": 0, "file_bytes": 0}
    if not todo:
        return stats
    streaming = not (spec.ray_address or "").startswith("ray://")   # Ray Client has none
    from edgekit.export.cache import versions_digest

    # a local Ray's workers leave no staging folder in the cache (see _staging_cleared)
    with _staging_cleared(local=not spec.ray_address), connected(spec, notify) as ray:
        task = ray.remote(num_cpus=1, max_retries=0)(
            build_on_node if streaming else build_on_node_once)
        data = None
        if validation is not None:
            data = ray.put(tuple(validation))
            stats["validation_bytes"] = sum(int(a.nbytes) for a in validation)
        digest = versions_digest()
        # a local Ray's nodes are this machine: its files are used in place (checked by
        # receive), and their bytes need not travel
        send = tuple(needed) if spec.ray_address else ()
        if streaming:
            task = task.options(num_returns="streaming")
        pending = {task.remote(c, settings, data, send, digest): c for c in todo}
        for c, out in _arrivals(ray, pending, fail, streaming):
            if "error" in out:
                fail(c, out["node"], out["error"])
                continue
            keep(c, out["row"])                     # kept before any check here
            stats["file_bytes"] += sum(len(b) for b in out["blobs"].values())
            try:
                row = receive(out["row"], out["blobs"], needed, notify)
            except EdgekitError as e:
                fail(c, "this machine", str(e))
                continue
            keep(c, row)
            ready(c, row)
    return stats


@contextmanager
def _staging_cleared(local: bool):
    """A local Ray's workers are this machine's processes, and the sweep's end (or an
    interrupt) ends them however far their exports got: once they are gone (connected(),
    entered inside this, waits for them), the staging folders they left in this machine's
    export cache go too."""
    try:
        yield
    finally:
        if local:
            from edgekit.export.cache import cache_dir
            from edgekit.export.pipeline import STAGING, clear_abandoned_staging

            clear_abandoned_staging(sorted({p.parent for p in cache_dir().glob(
                f"*/{STAGING}*")}))


def _arrivals(ray, pending: dict, fail, streaming: bool = True):
    """(config, task result) as each task ends (``pending``: its streaming generator, or
    its result's ref where not ``streaming``). A task whose worker dies, or whose node
    leaves, fails its config (naming the node the task said it ran on); when no node with
    a CPU is left for NO_CPU_GRACE_S, so do the configs still waiting."""
    idle_since, nodes = None, {}
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1, timeout=WAIT_S)
        if not done:
            if ray.cluster_resources().get("CPU", 0) > 0:
                idle_since = None
            elif idle_since is None:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since > NO_CPU_GRACE_S:
                for c in pending.values():
                    fail(c, nodes.get(c["id"], "the Ray cluster"), "no node with a CPU was "
                         f"left for {NO_CPU_GRACE_S} s")
                return
            continue
        gen = done[0]
        c = pending[gen]
        try:
            out = ray.get(next(gen) if streaming else gen)
        except StopIteration:
            out = {"node": nodes.get(c["id"], "a Ray worker"), "error": "the task ended "
                   "without a result"}
        except ray.exceptions.RayError as e:
            out = {"node": nodes.get(c["id"], "a Ray worker"),
                   "error": f"{type(e).__name__}: {first_line(e)}"}
        if "row" not in out and "error" not in out:
            nodes[c["id"]] = out["node"]        # it started there
            continue
        del pending[gen]
        yield c, out


# ---- connecting -------------------------------------------------------------------------------

SOCKET_ROOM = 70     # bytes a Ray session takes below its folder: session_<date>_<pid>/
                     # sockets/plasma_store (Unix socket paths end at 107 bytes)


def short_private_folder_parent() -> str:
    """Where a local Ray's private session folder goes: $TMPDIR when it leaves Ray's socket
    paths room under the 107-byte limit of Unix sockets, else /tmp (the folder itself is
    made by temp_folder: mode 0700, a short random name, gone afterwards). One line where
    neither can hold it."""
    tmp = tempfile.gettempdir()
    for parent in (tmp, "/tmp"):
        if len(os.path.abspath(parent)) + 20 + SOCKET_ROOM <= 107 and os.path.isdir(
                parent) and os.access(parent, os.W_OK | os.X_OK):
            return parent
    raise UsageError(f"--executor ray: a local Ray needs a short writable folder for its "
                     f"sockets; $TMPDIR ({tmp!r}) is too long and /tmp is not writable: set "
                     "TMPDIR to a short folder (e.g. TMPDIR=/var/tmp)")


ADDRESS_FORMS = "'auto', HOST:PORT (a Ray head's GCS, 6379) or ray://HOST[:PORT] (Ray Client)"
_ADDRESS = re.compile(r"(ray://)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_][A-Za-z0-9._-]*)"
                      r"(?::([0-9]{1,5}))?")


def check_address(address: str) -> str:
    """A --ray-address as Ray would read it, or one line (exit 2) before any work: 'auto',
    HOST:PORT, ray://HOST[:PORT]. A malformed one never reaches Ray (whose answer to
    'ray://' without a host is a 30 s wait)."""
    from edgekit.core.numbers import NumberError, read_number

    text = address.strip() if isinstance(address, str) else ""
    if text == "auto":
        return text
    m = _ADDRESS.fullmatch(text)
    bad = UsageError(f"--ray-address {address!r}: expected {ADDRESS_FORMS}")
    if m is None or (m.group(1) is None and m.group(3) is None):
        raise bad
    if m.group(3) is not None:
        try:
            read_number(m.group(3), "--ray-address's port", 1, 65535, integer=True)
        except NumberError:
            raise UsageError(f"--ray-address {address!r}: the port must be 1 to 65535"
                             ) from None
    return text


@contextmanager
def connected(spec, notify=lambda m: None):
    """Ray, connected to ``spec.ray_address`` (bounded, one line on failure) or started
    here for the sweep (in a private folder, gone afterwards); shut down on leaving."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no network at run time
    if not spec.ray_address:
        _own_token()
    try:
        import ray
    except ImportError:
        raise UsageError("--executor ray needs Ray: pip install 'edgekit[ray]'") from None
    from edgekit.core import children, interrupts
    from edgekit.core.files import temp_folder
    from edgekit.core.quiet import quiet_stderr

    env = {"TF_CPP_MIN_LOG_LEVEL": "3", "RAY_USAGE_STATS_ENABLED": "0"}
    if spec.ray_address:
        bound = spec.ray_timeout or CONNECT_BOUND_S
        notify(f"connecting to Ray at {spec.ray_address} (gives up after {bound:g} s)")
        probe(spec.ray_address, bound)
        kw, folder = {"address": spec.ray_address}, nullcontext(None)
    else:
        kw = {"num_cpus": spec.workers or os.cpu_count()}
        folder = temp_folder(prefix=f"ekray{os.getpid()}-", dir=short_private_folder_parent())
    # Ray's driver prints the cluster's error messages ('(raylet) A worker died ...') to
    # sys.stdout from a thread of its own: kept off stdout (a --json document goes there),
    # on stderr with --debug; each failure is reported as a failed config instead
    # Ray's node processes (gcs_server, raylet, workers) are waited for after shutdown,
    # and killed if they linger: none outlives the sweep or writes into its folder after
    # the folder is removed (an interrupt during ray.init included)
    with folder as tmp, children.library_processes(), _sink() as sink, \
            redirect_stdout(sink):
        if tmp is not None:
            kw["_temp_dir"] = str(tmp)
            # the workers' temporary files (TensorFlow's autograph) go with the session:
            # Ray ends its workers without their exit handlers
            (tmp / "tmp").mkdir(mode=0o700)
            env["TMPDIR"] = str(tmp / "tmp")
        try:
            try:
                with quiet_stderr(), _signals_kept(ray):
                    ray.init(include_dashboard=False, log_to_driver=False,
                             logging_level="ERROR", runtime_env={"env_vars": env}, **kw)
            except Exception as e:  # ConnectionError, ValueError, RuntimeError: one line
                where = f" at {spec.ray_address}" if spec.ray_address else ""
                raise EdgekitError(f"cannot start or reach Ray{where}: {first_line(e)}"
                                   ) from None
            yield ray
        finally:
            with interrupts.deferred(), quiet_stderr():
                ray.shutdown()


@contextmanager
def _signals_kept(ray):
    """ray.init installs SIGTERM handlers of its own in this process (a Python one that
    exits 1, the core worker's C++ one that prints a stack): edgekit's interrupts keep
    SIGTERM (exit 143, Ray shut down and its processes waited for by connected())."""
    from edgekit.core import interrupts

    utils = getattr(getattr(ray, "_private", None), "utils", None)
    original = getattr(utils, "set_sigterm_handler", None)
    if original is not None:
        utils.set_sigterm_handler = lambda handler: None
    try:
        yield
    finally:
        if original is not None:
            utils.set_sigterm_handler = original
        interrupts.reclaim()


@contextmanager
def _sink():
    if _debug():
        yield sys.stderr
        return
    with open(os.devnull, "w") as devnull:
        yield devnull


def _own_token() -> None:
    """A local Ray started for the sweep gets token authentication with a token of its own,
    held in this process's environment (its workers inherit it) for the rest of the process
    (Ray reads it once, at import), unless the user set RAY_AUTH_MODE or Ray was imported
    already. Otherwise Ray 2.60 writes ~/.ray/auth_token into the user's home, and that
    file then turns token authentication on for every later 'ray start' there."""
    import secrets

    if "RAY_AUTH_MODE" not in os.environ and "ray" not in sys.modules:
        _OWN_TOKEN.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32))
        os.environ.update(_OWN_TOKEN)


_OWN_TOKEN: dict[str, str] = {}   # what _own_token put into this process's environment


def _user_environment() -> dict[str, str]:
    """This process's environment without the token _own_token made for a local Ray: a
    cluster connected to later (the probe driver) sees the user's settings, not ours."""
    return {k: v for k, v in os.environ.items() if _OWN_TOKEN.get(k) != v}


def _host_port(address: str) -> tuple[str, int] | None:
    from edgekit.core.numbers import read_number

    m = re.fullmatch(r"(?:ray://)?\[?([^\]]+?)\]?:([0-9]{1,5})", address.strip())
    return (m.group(1), read_number(m.group(2), "the Ray port", 0, 65535, integer=True)
            ) if m else None


def probe(address: str, bound: float = CONNECT_BOUND_S) -> dict:
    """Check that a Ray cluster answers at ``address`` and has CPUs, within ``bound``
    seconds, or one line: nothing listens, no answer in time, authentication refused,
    no CPU. {'cpus', 'nodes'}."""
    import socket

    t0 = time.monotonic()
    hp = _host_port(address)
    if hp is not None:
        try:
            socket.create_connection(hp, timeout=min(TCP_TIMEOUT_S, bound)).close()
        except OSError as e:
            why = "timed out" if isinstance(e, TimeoutError) else (e.strerror or first_line(e))
            raise EdgekitError(f"cannot reach Ray at {address}: {why} (is a Ray head running "
                               "there? 'ray start --head' prints its address)") from None
    lines, code = _probe_driver(address, bound - (time.monotonic() - t0))
    text = "\n".join(lines)
    if _AUTH.search(text):
        raise EdgekitError(f"cannot connect to Ray at {address}: authentication failed (the "
                           "cluster wants a token: set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN "
                           "or RAY_AUTH_TOKEN_PATH as on the cluster)")
    if address.strip() == "auto" and re.search(r"could not find any running ray instance",
                                               text, re.I):
        raise UsageError("--ray-address auto: no Ray is running on this machine (start one "
                         "with 'ray start --head', or leave out --ray-address for a local Ray "
                         "started for the sweep)")
    if code is None:
        raise EdgekitError(f"cannot connect to Ray at {address}: no answer within {bound:g} s "
                           "(is it a Ray head, of the same Ray version?)")
    ok = [ln.split() for ln in lines if ln.startswith(_OK)]
    if code != 0 or not ok:
        errors = [ln for ln in lines if re.match(r"\w+(Error|Exception)\b", ln)]
        why = errors[-1] if errors else (lines[-1] if lines else f"exit status {code}")
        raise EdgekitError(f"cannot connect to Ray at {address}: {first_line(Exception(why))}")
    cpus, nodes = int(ok[-1][1]), int(ok[-1][2])
    if cpus < 1:
        raise EdgekitError(f"the Ray cluster at {address} has no CPU for the builds ({nodes} "
                           "node(s)): start a worker there with 'ray start --address ...'")
    return {"cpus": cpus, "nodes": nodes}


def _probe_driver(address: str, bound: float) -> tuple[list[str], int | None]:
    """Run a driver that connects to ``address`` in a child process (Ray's log stays in it;
    echoed with --debug), killed at ``bound`` s or at the first authentication refusal.
    (its output lines, its exit status or None when it was stopped)."""
    import selectors
    import subprocess

    from edgekit.core import children

    env = {**_user_environment(), "RAY_USAGE_STATS_ENABLED": "0"}
    lines, code, buf = [], None, b""
    deadline = time.monotonic() + max(bound, 1.0)
    # stopped (with what it started) however this ends: an answer, the bound, an interrupt
    with children.running([sys.executable, "-c", _PROBE, address], grace=0.5, env=env,
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT) as proc:
        try:
            with selectors.DefaultSelector() as sel:
                sel.register(proc.stdout, selectors.EVENT_READ)
                while time.monotonic() < deadline:
                    if not sel.select(timeout=max(0.0, deadline - time.monotonic())):
                        break
                    chunk = os.read(proc.stdout.fileno(), 65536)
                    if not chunk:
                        code = proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                        break
                    buf += chunk
                    *done, buf = buf.split(b"\n")
                    for raw in done:
                        line = raw.decode("utf-8", "replace").rstrip()
                        if _debug():
                            print(line, file=sys.stderr)
                        lines.append(line.strip())
                        if _AUTH.search(line):
                            return lines, None
        except subprocess.TimeoutExpired:
            code = None
    if buf:
        lines.append(buf.decode("utf-8", "replace").strip())
    return lines, code
