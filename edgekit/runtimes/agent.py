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


def runtimes() -> dict:
    """{"litert": "<package> <version>" or None, "onnxruntime": ..., "providers": [...]}."""
    found: dict = {"litert": None, "onnxruntime": None, "providers": []}
    for module, dist in (("ai_edge_litert.interpreter", "ai-edge-litert"),
                         ("tflite_runtime.interpreter", "tflite-runtime")):
        try:
            __import__(module)
            found["litert"] = f"{dist} {_version(dist)}"
            break
        except ImportError:
            continue
    try:
        import onnxruntime as ort

        from edgekit.runtimes.onnxrt import short_provider

        found["onnxruntime"] = f"onnxruntime {ort.__version__}"
        found["providers"] = [short_provider(p) for p in ort.get_available_providers()]
    except ImportError:
        pass
    return found


def hello() -> dict:
    from edgekit.runtimes.env import fingerprint

    return {"fingerprint": fingerprint(), "runtimes": runtimes(), "pid": os.getpid()}


def _bench(req: dict, emit) -> None:
    from edgekit.runtimes.base import open_runner
    from edgekit.runtimes.measure import Method, time_plan

    plan = [(s["label"], s["threads"], lambda s=s: open_runner(s["file"], **s["options"]))
            for s in req["settings"]]
    for index, timed in time_plan(plan, req["batches"], Method.from_dict(req["method"]),
                                  lambda m: emit("progress", message=m)):
        emit("row", setting=index, timed=timed)


def _profile(req: dict, emit) -> None:
    from edgekit.core.shapes import ShapeSpec
    from edgekit.runtimes.onnxrt import profile

    emit("progress", message=f"Profiling {req['label']}")
    prof = profile(req["file"], runs=req["runs"], warmup=req["warmup"],
                   threads=req["threads"], provider=req["provider"],
                   specs=[ShapeSpec(n, tuple(d)) for n, d in req["input_shapes"]],
                   batch=req["batch"])
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
    from edgekit.runtimes.measure import Method, time_plan
    from edgekit.runtimes.peaks import copy_gbs

    emit("progress", message="Measuring copy bandwidth")
    bandwidth = copy_gbs(mbytes=req.get("copy_mib", 128))
    from edgekit.runtimes.base import open_runner

    plan = [(m["label"], req["threads"], lambda m=m: open_runner(
        m["file"], threads=req["threads"])) for m in req["models"]]
    times = {}
    for index, timed in time_plan(plan, [1], Method(runs=req["runs"], warmup="auto"),
                                  lambda m: emit("progress", message=m)):
        times[req["models"][index]["label"]] = {"min_ms": timed["latency_ms"]["min"],
                                                "p50_ms": timed["latency_ms"]["p50"],
                                                "runs": timed["runs"]}
    import shutil

    emit("result", bandwidth_gbs=bandwidth, times=times,
         disk_free=shutil.disk_usage(os.path.expanduser("~")).free)


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
