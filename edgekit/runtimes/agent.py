"""The board side of a device session: ``python3 -m edgekit.runtimes.agent`` in a folder
where edgekit's core and runtimes were copied (edgekit itself is not installed there).

It reads one JSON request (one line) on stdin and answers in JSON lines on stdout, one event a line:
``hello`` (the fingerprint and the runtimes this board has), ``progress``, ``row`` (one
finished measurement, sent as soon as it is done so that a lost connection keeps it),
``result``, ``error`` (one line and an exit code), and ``done`` (with the top-level
modules that were imported, so that the host can check that no ML framework was).
Whatever a library prints on stdout goes to stderr: stdout is the protocol's.
"""

from __future__ import annotations

import json
import os
import sys
import time

from edgekit.core.errors import EdgekitError, UsageError, first_line

OPS = ("hello", "bench", "profile", "isolate", "calibrate")


def _version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def _litert() -> dict:
    for module, dist in (("ai_edge_litert.interpreter", "ai-edge-litert"),
                         ("tflite_runtime.interpreter", "tflite-runtime")):
        try:
            __import__(module)
            return {"litert": f"{dist} {_version(dist)}"}
        except ImportError:
            continue
    return {"litert": None}


def _onnxruntime() -> dict:
    try:
        import onnxruntime as ort
    except ImportError:
        return {"onnxruntime": None, "providers": []}
    from edgekit.runtimes.onnxrt import short_provider

    return {"onnxruntime": f"onnxruntime {ort.__version__}",
            "providers": [short_provider(p) for p in ort.get_available_providers()]}


PROBE_TIMEOUT_S = 300     # an import that hangs (emulated boards import slowly)


def probe(fns: dict, timeout_s: float = PROBE_TIMEOUT_S) -> dict[str, tuple]:
    """Run each of ``fns`` ({name: fn}, an import and what it reports) in its own forked
    child, all at once, so that a runtime that kills its process at import (a wheel
    built for another CPU: SIGILL; a broken install: SIGSEGV) cannot take the agent or
    the other runtimes with it: {name: (what fn returned, None) or (None, what went
    wrong)}."""
    if not hasattr(os, "fork"):
        return {name: _in_process(fn) for name, fn in fns.items()}
    children = {name: _fork(fn) for name, fn in fns.items()}
    deadline = time.monotonic() + timeout_s
    return {name: _collect(pid, read, deadline, timeout_s)
            for name, (pid, read) in children.items()}


def _in_process(fn) -> tuple:
    try:
        return fn(), None
    except Exception as e:
        return None, f"fails at import ({type(e).__name__}: {first_line(e)})"


def _fork(fn) -> tuple[int, int]:
    read, write = os.pipe()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:   # the child: report and leave without running anything of the parent's
        os.close(read)
        try:
            text = json.dumps({"ok": fn()})
        except BaseException as e:
            text = json.dumps({"error": f"{type(e).__name__}: {first_line(e)}"})
        os.write(write, text.encode())
        os._exit(0)
    os.close(write)
    return pid, read


def _collect(pid: int, read: int, deadline: float, timeout_s: float) -> tuple:
    import select
    import signal

    data = b""
    with os.fdopen(read, "rb") as pipe:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([pipe], [], [], left)[0]:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return None, f"hangs at import (no answer in {timeout_s:.0f} s)"
            chunk = os.read(pipe.fileno(), 65536)
            if not chunk:
                break
            data += chunk
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        return None, f"crashes at import ({name}, signal {number})"
    try:
        said = json.loads(data)
    except ValueError:
        return None, f"fails at import (exit {os.waitstatus_to_exitcode(status)})"
    if "error" in said:
        return None, f"fails at import ({said['error']})"
    return said["ok"], None


def runtimes(isolated: bool = True) -> dict:
    """{"litert": "<package> <version>" or None, "onnxruntime": ..., "providers": [...],
    "problems": {runtime: why it cannot be used}}: on a board (``isolated``) each runtime
    is probed in its own child process, in parallel (one that crashes at import does not
    hide the others, nor take the agent with it), and not imported here."""
    found: dict = {"litert": None, "onnxruntime": None, "providers": [], "problems": {}}
    fns = {"litert": _litert, "onnxruntime": _onnxruntime}
    probed = probe(fns) if isolated else {r: (fn(), None) for r, fn in fns.items()}
    for runtime, (got, problem) in probed.items():
        if problem is not None:
            found["problems"][runtime] = problem
        else:
            found.update(got)
    return found


def hello() -> dict:
    from edgekit.runtimes.env import fingerprint

    return {"fingerprint": fingerprint(), "runtimes": runtimes(), "pid": os.getpid(),
            "sys_path": [p for p in sys.path if p]}


def _bench(req: dict, emit) -> None:
    from edgekit.runtimes.base import open_runner
    from edgekit.runtimes.measure import Method, time_plan

    plan = [(s["label"], s["threads"], lambda s=s: open_runner(s["file"], **s["options"]))
            for s in req["settings"]]
    for index, timed in time_plan(plan, req["batches"], Method.from_dict(req["method"]),
                                  lambda m: emit("progress", message=m)):
        emit("row", setting=index, timed=timed)


def _profile(req: dict, emit) -> None:
    from edgekit.core.feeds import load_feeds
    from edgekit.core.shapes import ShapeSpec
    from edgekit.runtimes.onnxrt import profile

    emit("progress", message=f"Profiling {req['label']}")
    prof = profile(req["file"], runs=req["runs"], warmup=req["warmup"],
                   threads=req["threads"], provider=req["provider"],
                   specs=[ShapeSpec(n, tuple(d)) for n, d in req["input_shapes"]],
                   batch=req["batch"], feeds=load_feeds(req.get("feeds_file")) or None)
    emit("result", profile=prof)


def _isolate(req: dict, emit) -> None:
    """Per-op profiles of .tflite files by isolation, one row per file as it is done."""
    from edgekit.runtimes.isolate import profile
    from edgekit.runtimes.measure import Method, pinned

    method = Method.from_dict(req["method"])
    with pinned(method.cores):
        for n, job in enumerate(req["jobs"]):
            label = job["label"]
            prof = profile(job["file"], threads=req["threads"], xnnpack=req["xnnpack"],
                           method=method, positions=job.get("positions"),
                           whole=job.get("whole", True),
                           notify=lambda m, label=label: emit("progress",
                                                              message=f"{label}: {m}"))
            emit("row", job=n, profile=prof)


def _calibrate(req: dict, emit) -> None:
    import shutil

    from edgekit.runtimes.peaks import COPY_MIB, runtime_peaks

    result = runtime_peaks(req["models"], req["threads"], req["runs"],
                           req.get("copy_mib", COPY_MIB), lambda m: emit("progress", message=m))
    emit("result", **result, disk_free=shutil.disk_usage(os.path.expanduser("~")).free)


def _serve(request: dict, emit) -> None:
    op = request.get("op")
    if op not in OPS:
        raise UsageError(f"unknown agent request {op!r}")
    if op == "bench":
        _bench(request, emit)
    elif op == "profile":
        _profile(request, emit)
    elif op == "isolate":
        _isolate(request, emit)
    elif op == "calibrate":
        _calibrate(request, emit)


def _stop_with_the_connection() -> None:
    """The host keeps stdin open for the whole request; it closes when the host goes away
    (Ctrl-C, a dropped connection). Stop then, rather than keep a board busy timing for
    nobody and distort the next run."""
    import threading

    def watch():
        sys.stdin.read()
        os._exit(130)

    threading.Thread(target=watch, daemon=True).start()


def main() -> int:
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)                      # library prints cannot corrupt the protocol
    import faulthandler

    # a fatal signal prints its Python frames on the agent's stderr (the host names the
    # module from them), also while a runtime's noise is silenced by redirecting fd 2
    faulthandler.enable(file=os.fdopen(os.dup(2), "w"), all_threads=True)

    def emit(event: str, **fields) -> None:
        protocol.write(json.dumps({"event": event, "t": time.time(), **fields}) + "\n")

    code = 0
    try:
        request = json.loads(sys.stdin.readline() or "{}")
        os.chdir(request.get("root", "."))      # model files are named relative to it
        if request.get("hold_stdin"):
            _stop_with_the_connection()
        if request.get("op") == "hello":   # the runtimes are imported only when asked
            emit("hello", **hello())
        _serve(request, emit)
    except EdgekitError as e:
        emit("error", message=str(e), exit_code=e.exit_code)
        code = e.exit_code
    except KeyboardInterrupt:
        code = 130
    except Exception as e:  # the host prints it as one line
        emit("error", message=f"{type(e).__name__}: {first_line(e)}", exit_code=1)
        code = 1
    emit("done", modules=sorted({m.split(".")[0] for m in sys.modules}),
         edgekit=[m for m in sys.modules if m.startswith("edgekit")],
         edgekit_file=sys.modules["edgekit"].__file__)
    return code


if __name__ == "__main__":
    sys.exit(main())
