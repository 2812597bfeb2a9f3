"""A session with a board: connect once, copy edgekit's runtime layer (core + runtimes) and
the model files there, content-addressed and cached between runs, and talk to the agent
(``edgekit.runtimes.agent``) that runs them. edgekit is not installed on the board; what
it needs there is python3 (3.10+), numpy and a runtime.

On the board, everything lives under ``~/.cache/edgekit-board``: ``code/<digest>/edgekit``
(one folder per version of the runtime layer) and ``models/<sha256><suffix>``.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import signal
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from edgekit.core.devices import Device
from edgekit.core.errors import EdgekitError, ModelFileError, UsageError
from edgekit.core.files import sha256_file
from edgekit.remote.transport import DeviceError, ssh_failure, transport_for

CACHE = ".cache/edgekit-board"
SHIPPED = ("core", "runtimes")          # the packages that travel (tested to import alone)
MIN_PYTHON = (3, 10)

# Runs first, with nothing shipped yet: the Python version, and what the cache holds.
_PROBE = f"""
import json, os, sys
root = os.path.expanduser("~/{CACHE}")
def ls(d):
    p = os.path.join(root, d)
    return sorted(os.listdir(p)) if os.path.isdir(p) else []
print(json.dumps({{"python": list(sys.version_info[:3]), "root": root,
                  "code": ls("code"), "models": ls("models")}}))
"""

# Unpacks a tar stream from stdin into the cache; each top entry appears whole or not at all.
_RECEIVE = f"""
import os, shutil, sys, tarfile, tempfile
root = os.path.expanduser("~/{CACHE}")
os.makedirs(root, exist_ok=True)
tmp = tempfile.mkdtemp(dir=root, prefix=".in-")
with tarfile.open(fileobj=sys.stdin.buffer, mode="r|") as tar:
    if hasattr(tarfile, "data_filter"):
        tar.extractall(tmp, filter="data")
    else:
        tar.extractall(tmp)
for kind in ("code", "models"):
    src = os.path.join(tmp, kind)
    os.makedirs(os.path.join(root, kind), exist_ok=True)
    for name in (os.listdir(src) if os.path.isdir(src) else []):
        dst = os.path.join(root, kind, name)
        if not os.path.exists(dst):
            os.rename(os.path.join(src, name), dst)
shutil.rmtree(tmp, ignore_errors=True)
"""


def bundle() -> tuple[str, dict[str, bytes]]:
    """The runtime layer's files ({'edgekit/core/x.py': bytes}) and their digest."""
    root = Path(__file__).resolve().parents[1]
    files = {"edgekit/__init__.py": (root / "__init__.py").read_bytes()}  # not a user file
    for package in SHIPPED:
        for path in sorted((root / package).glob("*.py")):
            files[f"edgekit/{package}/{path.name}"] = path.read_bytes()  # not a user file
    digest = hashlib.sha256()
    for name, data in sorted(files.items()):
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return digest.hexdigest()[:16], files


@dataclass
class Reply:
    """What the agent said: its hello, finished rows, the result, and how it ended."""

    hello: dict = field(default_factory=dict)
    rows: list[dict] = field(default_factory=list)
    result: dict = field(default_factory=dict)
    done: dict = field(default_factory=dict)
    error: EdgekitError | None = None


class Board:
    """``with Board(device) as board:`` connects, probes and ships the runtime layer;
    ``board.ship(paths)`` copies model files; ``board.call(request)`` runs the agent."""

    def __init__(self, device: Device, notify: Callable[[str], None] = lambda m: None):
        self.device = device
        self.notify = notify
        self.transport = transport_for(device)
        self.timings: dict[str, float] = {}
        self.hello: dict = {}
        self._remote: dict[Path, str] = {}

    def __enter__(self) -> Board:
        t0 = time.monotonic()
        self.notify(f"Connecting to {self.device.name} ({self.device.url})")
        self.timings["connect_s"] = self.transport.open()
        try:
            self._start()
        except BaseException:
            self.transport.close()
            raise
        self.timings["session_s"] = time.monotonic() - t0
        return self

    def __exit__(self, *exc) -> None:
        self.transport.close()

    # ---- set-up ------------------------------------------------------------------------

    def _python(self, *args: str, stdin: bytes = b""):
        done = self.transport.run([self.device.python, *args], stdin=stdin)
        if done.returncode == 255 and not done.stdout and "Traceback" not in done.stderr:
            if self.transport.alive():      # the link stands: the interpreter died
                raise EdgekitError(f"{self.device.name}'s Python ({self.device.python}) "
                                   f"crashed before it answered: {_last(done.stderr)}")
            raise ssh_failure(self.device, done.stderr)
        if done.returncode == 127:
            raise DeviceError(f"{self.device.name} has no Python at {self.device.python!r}: "
                              "install python3 there, or give the interpreter with "
                              f"'edgekit devices add {self.device.name} URL --python PATH "
                              "--force'")
        return done

    def _start(self) -> None:
        t0 = time.monotonic()
        done = self._python("-c", _PROBE)
        try:
            probe = json.loads(done.stdout.decode().strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise DeviceError(f"{self.device.name}: {self.device.python!r} did not answer "
                              f"as Python 3 does ({_last(done.stderr)})") from None
        if tuple(probe["python"][:2]) < MIN_PYTHON:
            raise DeviceError(f"{self.device.name}: Python {'.'.join(map(str, probe['python']))}"
                              f" at {self.device.python!r}; edgekit's runtime layer needs "
                              f"{'.'.join(map(str, MIN_PYTHON))} or newer")
        self._have = {"code": set(probe["code"]), "models": set(probe["models"])}
        self.root = probe["root"]
        self.code, files = bundle()
        self.timings["probe_s"] = time.monotonic() - t0
        t0 = time.monotonic()
        if self.code not in self._have["code"]:
            self.notify(f"Copying edgekit's runtime layer to {self.device.name}")
            self._send({f"code/{self.code}/{name}": data for name, data in files.items()})
        self.timings["ship_code_s"] = time.monotonic() - t0
        t0 = time.monotonic()
        reply = self.call({"op": "hello"})
        if reply.error is not None:
            raise reply.error
        self.hello = reply.hello
        self.imported = reply.done.get("modules", [])
        self.timings["hello_s"] = time.monotonic() - t0
        if not self.hello["fingerprint"]["versions"].get("numpy"):
            raise DeviceError(f"{self.device.name}'s Python ({self.device.python}) lacks "
                              "numpy: run 'pip install numpy' on the device")

    def _send(self, files: dict[str, bytes | Path]) -> None:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for name, data in files.items():
                if isinstance(data, Path):
                    tar.add(str(data), arcname=name)
                    continue
                info = tarfile.TarInfo(name)
                info.size, info.mode, info.mtime = len(data), 0o644, 0
                tar.addfile(info, io.BytesIO(data))
        done = self._python("-c", _RECEIVE, stdin=buf.getvalue())
        if done.returncode != 0:
            raise DeviceError(f"could not copy files to {self.device.name}: "
                              f"{_last(done.stderr)}")

    def ship(self, paths: list[Path]) -> dict[Path, str]:
        """Copy model files that the board does not have yet; returns their names there
        (relative to the cache)."""
        t0 = time.monotonic()
        missing = {}
        for path in paths:
            name = sha256_file(path) + Path(path).suffix.lower()
            self._remote[Path(path)] = f"models/{name}"
            if name not in self._have["models"]:
                missing[f"models/{name}"] = Path(path)
        if missing:
            size = sum(p.stat().st_size for p in missing.values())
            self.notify(f"Copying {len(missing)} model file(s), {size / 2**20:.1f} MiB, to "
                        f"{self.device.name}")
            self._send(missing)
            self._have["models"] |= {k.split("/", 1)[1] for k in missing}
        self.timings["ship_models_s"] = self.timings.get("ship_models_s", 0) + (
            time.monotonic() - t0)
        return {p: self._remote[Path(p)] for p in paths}

    def ship_bytes(self, data: bytes, suffix: str) -> str:
        """Copy data (input values: an .npz) into the board's cache, unless it has it
        already; returns its name there (content-addressed, like model files)."""
        name = f"{hashlib.sha256(data).hexdigest()}{suffix}"
        if name not in self._have["models"]:
            self._send({f"models/{name}": data})
            self._have["models"].add(name)
        return f"models/{name}"

    # ---- the agent ---------------------------------------------------------------------

    def require(self, runtime: str) -> None:
        """One line when the board lacks the runtime a model needs."""
        have = self.hello["runtimes"]
        problem = have.get("problems", {}).get(runtime)
        if problem is not None:
            module = {"litert": "LiteRT (ai_edge_litert or tflite_runtime)",
                      "onnxruntime": "onnxruntime"}.get(runtime, runtime)
            raise EdgekitError(f"{self.device.name}'s {module} {problem}: reinstall it "
                               "there, or use another runtime ('edgekit devices check "
                               f"{self.device.name}' shows each one's state)")
        if runtime == "litert" and not have["litert"]:
            raise UsageError(f"{self.device.name} has no LiteRT runtime for .tflite files: "
                             "run 'pip install ai-edge-litert' (or tflite-runtime) on the "
                             "device")
        if runtime == "onnxruntime" and not have["onnxruntime"]:
            raise UsageError(f"{self.device.name} has no onnxruntime for .onnx files: run "
                             "'pip install onnxruntime' (or onnxruntime-openvino, "
                             "onnxruntime-gpu) on the device")
        if runtime == "keras":
            raise UsageError("Keras does not run on a device: time its exports with "
                             "--runtime litert,onnxruntime")

    def call(self, request: dict) -> Reply:
        """Run the agent with ``request``; progress goes to notify. A connection lost or an
        agent that stops keeps what finished, in ``reply.rows``, and says why in
        ``reply.error``."""
        reply = Reply()

        def on_line(line: str) -> None:
            try:
                ev = json.loads(line)
            except ValueError:
                return
            kind = ev.pop("event", None)
            if kind == "progress":
                self.notify(f"{self.device.name}: {ev['message']}")
            elif kind == "row":
                reply.rows.append(ev)
            elif kind in ("hello", "result", "done"):
                setattr(reply, kind, ev)
            elif kind == "error":
                cls = ModelFileError if "cannot load" in ev["message"] else EdgekitError
                reply.error = cls(self._local_names(ev["message"]))
                reply.error.exit_code = ev.get("exit_code", 1)

        done = self.transport.run(
            ["sh", "-c", _AGENT, "sh", f"{self.root}/code/{self.code}", self.device.python],
            on_line=on_line, hold_stdin=True,
            stdin=json.dumps({"root": self.root, "hold_stdin": True, **request}).encode()
            + b"\n")
        if reply.error is None and not reply.done:
            reply.error = self._stopped(done, reply)
        return reply

    def _stopped(self, done, reply: Reply) -> EdgekitError:
        """Why the agent ended without its 'done': it crashed (killed by a signal: the
        board's shell says which, Python's faulthandler says where; exit 1), the link
        dropped (ssh's 255 with the connection gone; exit 3), or it stopped otherwise."""
        kept = f" (kept the {len(reply.rows)} measurement(s) that finished)" if (
            reply.rows) else ""
        crash = crash_report(done.returncode, done.stderr, self.hello.get("sys_path", []))
        if crash is None and done.returncode == 255 and self.transport.alive():
            crash = "it ended without an exit status (killed on the board?)"
        if crash is not None:
            return EdgekitError(f"the agent on {self.device.name} crashed{kept}: {crash}")
        if done.returncode == 255:
            return DeviceError(f"lost the connection to {self.device.name}{kept}: "
                               f"{_last(done.stderr)}")
        return DeviceError(f"the agent on {self.device.name} stopped (exit "
                           f"{done.returncode}){kept}: {_last(done.stderr)}")

    def _local_names(self, message: str) -> str:
        for local, remote in self._remote.items():
            message = message.replace(remote, f"{local} (on {self.device.name})")
        return message


# The agent runs under sh, so that a death by a signal comes back as a status and a line
# (OpenSSH itself turns it into its own 255, the code of a lost connection), and with
# faulthandler, which prints the Python frames of a fatal signal. '$2' is the user's
# --python, a separate word of the outer command line, so that its '~/' expands there.
_AGENT = ('PYTHONPATH="$1" "$2" -X faulthandler -m edgekit.runtimes.agent; s=$?; '
          'if [ "$s" -gt 128 ] && [ "$s" -lt 160 ]; then '
          'echo "edgekit-agent: killed by signal $((s - 128))" >&2; fi; exit "$s"')
_KILLED = re.compile(r"edgekit-agent: killed by signal ([0-9]+)")
_FRAME = re.compile(r'^\s*File "([^"]+)", line \d+ in (\S+)')


def signal_name(number: int) -> str:
    try:
        return f"{signal.Signals(number).name} (signal {number})"
    except ValueError:
        return f"signal {number}"


def module_of(path: str, sys_path: list[str]) -> str:
    """The dotted module of a source file, from the board's sys.path (longest entry that
    holds it), else from a site-packages folder in it, else its own name."""
    parts = path.split("/")
    roots = sorted((p.rstrip("/") for p in sys_path if p), key=len, reverse=True)
    rel = next((path[len(r) + 1:].split("/") for r in roots if path.startswith(r + "/")),
               None)
    if rel is None:
        cut = max((i for i, p in enumerate(parts) if p in ("site-packages",
                                                            "dist-packages")), default=None)
        rel = parts[cut + 1:] if cut is not None else parts[-2:] if parts[-1] == (
            "__init__.py") else parts[-1:]
    rel[-1] = rel[-1].removesuffix(".py")
    if rel[-1] == "__init__" and len(rel) > 1:
        rel = rel[:-1]
    return ".".join(rel)


def crash_report(returncode: int, stderr: str, sys_path: list[str]) -> str | None:
    """'SIGSEGV (signal 11) in module M' from what the agent's shell and faulthandler
    printed, or None when it did not die of a signal."""
    killed = _KILLED.search(stderr)
    fatal = re.search(r"Fatal Python error: (.+)", stderr)
    if killed is None and fatal is None:
        return None
    signum = int(killed.group(1)) if killed else None   # not user text: the agent's shell
    what = signal_name(signum) if killed else fatal.group(1).strip()
    lines = stderr.splitlines()
    # with all threads dumped, the one that crashed is "Current thread"
    start = next((i for i, ln in enumerate(lines) if ln.startswith("Current thread")),
                 None)
    frames = []
    for ln in lines[0 if start is None else start + 1:]:
        if start is not None and (ln.startswith("Thread ") or not ln.strip()):
            break
        if m := _FRAME.match(ln):
            frames.append(m.groups())
    frames = [(f, fn) for f, fn in frames if not f.startswith("<")]
    if killed is not None and fatal is None and signum in (
            signal.SIGKILL, signal.SIGTERM, signal.SIGHUP):
        return (f"{what}: stopped from outside (the out-of-memory killer sends SIGKILL; "
                "see 'dmesg' on the board)")
    if not frames:
        return f"{what}, outside Python code"
    path, function = frames[0]            # faulthandler lists the most recent call first
    module = module_of(path, sys_path)
    where = "while importing it" if function == "<module>" else f"in {function}()"
    return f"{what} in module {module} ({where})"


def _last(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    return lines[-1] if lines else "no message"
