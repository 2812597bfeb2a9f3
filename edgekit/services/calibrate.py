"""`edgekit profiles calibrate [--device NAME]`: measure a machine with the runtime that
runs the models and write its profile. The compute peaks come from a large
fully-connected layer (a GEMM of 256x1024 by 1024x1024, 268 M MACs a run) in fp32 and in
int8, exported here and timed in LiteRT (else onnxruntime) on all the machine's cores: on
the board over SSH, or here for the host profile, by the same code
(runtimes.peaks.runtime_peaks), so that a model's "% of peak" stays under 100 % and the
fp32 and int8 peaks come from one method. The bandwidth comes from a copy of a large array
(numpy). What the machine does not report (governor, frequency, temperature) is left out
of the profile, not written as "unknown" or 0."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from edgekit.core.errors import UsageError
from edgekit.core.numbers import dumps
from edgekit.export import cache
from edgekit.export.pipeline import ExportJob, ExportOptions, export
from edgekit.runtimes.peaks import COPY_MIB

FC = (256, 1024, 1024)          # rows, inputs, outputs
RUNS = 30
# models of each dtype timed whole to adapt a table (--lut-from): the line and the interval
# (9 errors needed) come from them; builtin -> XNNPACK on the project's host, 6 kernels a
# type: 2 models a dtype 7-11 of 80 within 10 %, 6: 36, 9: 33 with intervals, 2 s more
MODELS_PER_DTYPE = 9


def fc_files(runtime: str, notify=lambda m: None, fc: tuple[int, int, int] = FC
             ) -> dict[str, Path]:
    """{quant: file} of the fully-connected calibration model for ``runtime``, exported
    once into the cache."""
    from edgekit.core.choices import RUNTIME_OF_FORMAT

    name = "calibration_fc{}x{}x{}".format(*fc)
    fmt = next(f for f, r in RUNTIME_OF_FORMAT.items() if r == runtime)
    files = {}
    for quant in ("none", "int8"):
        folder = cache.entry_dir(name, quant)
        found = cache.lookup(folder, [runtime])
        if found is None:
            notify(f"Exporting the calibration layer ({quant}, {fmt})")
            opts = ExportOptions(formats=[fmt], quants=[quant], out_dir=folder, samples=16,
                                 calibration="random", min_agreement=0.0)
            job = ExportJob(name=name, meta={"name": name, "target": name, "source": "edgekit",
                                             "format": "keras", "input_shape": list(fc[:2])})
            export(_fc_model(fc), job, opts, notify=notify)
            found = cache.lookup(folder, [runtime])
        files[quant] = found[runtime]
    return files


def _fc_model(fc: tuple[int, int, int]):
    from edgekit._tf import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input(fc[:2], name="x")
    outputs = keras.layers.Dense(fc[2], use_bias=False, name="fc")(inputs)
    return keras.Model(inputs, outputs, name="calibration_fc")


def calibrate_device(device: str, output: Path | None, notify=lambda m: None,
                     threads: int | None = None, fc: tuple[int, int, int] = FC,
                     runs: int = RUNS, copy_mib: int = COPY_MIB) -> dict:
    """Measure the board, write its profile (default: NAME.toml among the user's
    profiles) and remember it with the device; returns what was measured. ``fc``,
    ``runs`` and ``copy_mib`` size the measurement (smaller for an emulated board)."""
    from edgekit.core.device_profiles import user_dir
    from edgekit.core.devices import set_profile
    from edgekit.core.files import check_writable
    from edgekit.services.remote import session

    with session(device, notify) as board:
        have = board.hello["runtimes"]
        runtime = "litert" if have["litert"] else "onnxruntime"
        board.require(runtime)
        files = fc_files(runtime, notify, fc)
        remote = board.ship(list(files.values()))
        fp = board.hello["fingerprint"]
        threads = threads or fp["usable_cores"]
        reply = board.call({"op": "calibrate", "threads": threads, "runs": runs,
                            "copy_mib": copy_mib,
                            "models": [{"label": q, "file": remote[f]}
                                       for q, f in files.items()]})
        if reply.error is not None:
            raise reply.error
        name = board.device.name
    path = check_writable(output or user_dir() / f"{name}.toml")
    measured = _measured(name, have[runtime], threads, fc, runs, copy_mib, reply.result,
                         fp, path, f"--device {name}")
    set_profile(name, name)
    return measured


def calibrate_host(output: Path | None, notify=lambda m: None, threads: int | None = None,
                   fc: tuple[int, int, int] = FC, runs: int = RUNS,
                   copy_mib: int = COPY_MIB) -> dict:
    """The same measurement on this machine, in its own LiteRT (else onnxruntime), written
    as the 'host' profile (default: host.toml among the user's profiles)."""
    import shutil

    from edgekit.core.device_profiles import user_dir
    from edgekit.core.files import check_writable
    from edgekit.runtimes.agent import runtimes
    from edgekit.runtimes.env import fingerprint
    from edgekit.runtimes.peaks import runtime_peaks

    path = check_writable(output or user_dir() / "host.toml")
    have = runtimes(isolated=False)
    runtime = "litert" if have["litert"] else "onnxruntime"
    if not have[runtime]:
        raise UsageError("no LiteRT or onnxruntime here to measure the peaks with: "
                         "pip install ai-edge-litert")
    files = fc_files(runtime, notify, fc)
    fp = fingerprint()
    threads = threads or fp["usable_cores"]
    result = runtime_peaks([{"label": q, "file": str(f)} for q, f in files.items()],
                           threads, runs, copy_mib, notify)
    result["disk_free"] = shutil.disk_usage(Path.home()).free
    return _measured("host", have[runtime], threads, fc, runs, copy_mib, result, fp, path,
                     "")


def _measured(name, runtime, threads, fc, runs, copy_mib, result, fp, path, how) -> dict:
    from edgekit.core.device_profiles import load_profile
    from edgekit.core.files import write_text

    macs = fc[0] * fc[1] * fc[2]
    measured = {"name": name, "runtime": runtime, "threads": threads, "fc": list(fc),
                "runs": runs, "copy_mib": copy_mib,
                "peak_gflops_fp32": 2 * macs / (result["times"]["none"]["min_ms"] * 1e6),
                "peak_gops_int8": 2 * macs / (result["times"]["int8"]["min_ms"] * 1e6),
                "bandwidth_gbs": result["bandwidth_gbs"], "storage_bytes": result["disk_free"],
                "fingerprint": fp, "times": result["times"], "path": str(path)}
    write_text(path, profile_toml(measured, how))
    load_profile(path)   # what was written reads back as a profile
    return measured


def _s(v) -> str:
    return dumps(str(v), ensure_ascii=False)


def _g(v: float) -> str:
    """One format for the measured figures: four significant digits."""
    return f"{v:.4g}"


def profile_toml(m: dict, how: str = "") -> str:
    """The profile of a measured machine. Of the fingerprint, only what the machine
    reported is written: no governor, frequency, temperature or throttling line where it
    has none (a key that is absent is unknown; "unknown", 0 or nan would read as data)."""
    from edgekit.core.cpuinfo import throttle_words
    from edgekit.core.device_profiles import machine_kind

    fp = m["fingerprint"]
    when = datetime.now(UTC).isoformat(timespec="seconds")
    fc = m.get("fc", FC)
    macs = fc[0] * fc[1] * fc[2]
    versions = ", ".join(f"{k} = {_s(v)}" for k, v in fp["versions"].items())
    if not fp.get("ram_bytes") or not m.get("storage_bytes"):
        raise UsageError(f"{m['name']} did not report its memory or free storage")
    what = fp["cpu"] + (f", {fp['board']}" if fp.get("board") else "")
    where = "this machine" if m["name"] == "host" else fp["hostname"]
    device = {"hostname": _s(fp["hostname"]), "cpu": _s(fp["cpu"]),
              "core": fp.get("core") and _s(fp["core"]),
              "board": fp.get("board") and _s(fp["board"]),
              "machine": _s(fp["machine"]), "os": _s(fp["os"]), "kernel": _s(fp["kernel"]),
              "python": _s(fp["python"]),
              "governor": fp.get("governor") and _s(fp["governor"]),
              "max_freq_mhz": fp.get("max_freq_mhz") and _g(fp["max_freq_mhz"]),
              "temperature_c": None if fp.get("temperature_c") is None else _g(
                  fp["temperature_c"]),
              "throttled": fp.get("throttled") and _s(fp["throttled"]),
              "throttling": fp.get("throttled") and _s(throttle_words(fp["throttled"])),
              "versions": f"{{{versions}}}", "measured": _s(when)}
    lines = "\n".join(f"{k} = {v}" for k, v in device.items() if v is not None)
    return f'''# Measured by 'edgekit profiles calibrate{" " + how if how else ""}' on {when}.
name = {_s(m["name"])}
title = {_s(f"{what} ({fp['usable_cores']} cores, {where}, measured)")}
kind = "{machine_kind(fp)}"

[compute]
# best of {m.get("runs", RUNS)} runs of a {fc[0]}x{fc[1]} by {fc[1]}x{fc[2]} fully-connected \
layer ({macs:,} MACs, 2 ops each) in {m["runtime"]}, {m["threads"]} threads
peak_gflops_fp32 = {_g(m["peak_gflops_fp32"])}
# the same layer quantized to int8 (full integer, per-channel weights)
peak_gops_int8 = {_g(m["peak_gops_int8"])}

[memory]
# best of 7 copies of a {m.get("copy_mib", COPY_MIB)} MiB array with numpy (bytes read + \
written per second)
bandwidth_gbs = {_g(m["bandwidth_gbs"])}
ram_bytes = {fp["ram_bytes"]}        # physical memory (sysconf)
storage_bytes = {m["storage_bytes"]}   # free space in the home folder

[device]
{lines}
'''


def sample_jobs(data: dict, kernels: list[int], models: list[int], notify=lambda m: None
                ) -> list[tuple[Path, list[int], bool, list[int], int | None]]:
    """What to time for a sample of a reference table: per model file, the op positions
    of the sampled kernels it holds (each kernel from the first model that has it) and
    whether the model is timed whole. Files come from the table where they exist here,
    else from the export cache (exported again from the model's knobs).
    [(file, positions, whole, kernel indices, model index or None)]."""
    from edgekit.core import lut as L
    from edgekit.readers.tflite_reader import read_tflite

    want: dict[int, list[int]] = {n: [] for n in models}
    for i in kernels:     # from a model already on the list where one has it: fewer runs
        sources = data["kernels"][i]["sources"]
        want.setdefault(next((n for n in sources if n in want), sources[0]), []).append(i)
    jobs = []
    for n, idx in sorted(want.items()):
        path = _model_file(data["models"][n], notify)
        keys = [L.key_of(r) for r in read_tflite(path)[0] if r.op != "INPUT"]
        found = [(keys.index(data["kernels"][i]["key"]), i) for i in idx
                 if data["kernels"][i]["key"] in keys]
        jobs.append((path, [p for p, _ in found], n in models, [i for _, i in found],
                     n if n in models else None))
    return jobs


def _model_file(m: dict, notify) -> Path:
    from edgekit.services.export import cached_export
    from edgekit.services.targets import resolve_target

    if m.get("file") and Path(m["file"]).is_file():
        return Path(m["file"])
    if m.get("synthetic"):
        from edgekit.services.lut_synthetic import file_of

        return file_of(m, notify)
    knobs = m.get("knobs") or {k: m[k] for k in ("alpha", "resolution") if m.get(k)}
    return cached_export(resolve_target(m["model"], knobs, None), m["quant"], notify,
                         runtimes=("litert",))["litert"]


def calibrate_table(reference: Path, per_type: int, method, output: Path | None = None,
                    device: str | None = None, threads: int | None = None,
                    xnnpack: bool = True, notify=lambda m: None) -> dict:
    """A latency table for this machine (or ``device``) adapted from ``reference`` (a
    table measured elsewhere) after timing ``per_type`` of its kernels per kernel type and
    MODELS_PER_DTYPE models per dtype whole (core.lut_adapt); written as NAME.lut.json beside the
    profiles (NAME: the device's, or 'host'). Returns the table, with 'seconds'."""
    import time

    from edgekit.core import lut as L
    from edgekit.core import lut_adapt as A
    from edgekit.core.files import note_input
    from edgekit.services.isolation import isolate_files
    from edgekit.services.lut import Grid, check_table

    note_input(reference)
    ref = L.Table.load(reference)
    path, board, name = check_table(Grid(models=[]), device, None, output)
    t0 = time.monotonic()
    jobs = sample_jobs(ref.data, A.choose_kernels(ref.data, per_type),
                       A.choose_models(ref.data, MODELS_PER_DTYPE), notify)
    notify(f"Timing {sum(len(j[1]) for j in jobs)} kernels and "
           f"{sum(j[2] for j in jobs)} models of {reference.name}")
    done, where, error = isolate_files([(p, pos, whole) for p, pos, whole, _, _ in jobs],
                                       threads, xnnpack, method, board, notify)
    if error is not None:
        raise error
    kernel_ms, whole_ms = {}, {}
    for j, prof in done:
        _, positions, _, idx, n = jobs[j]
        by_position = {o["position"]: o.get("ms") for o in prof["ops"]}
        kernel_ms.update({i: by_position[p] for p, i in zip(positions, idx, strict=True)
                          if by_position.get(p)})
        if n is not None and prof.get("whole"):
            whole_ms[n] = prof["whole"]["ms"]
    table = {**A.adapt(ref.data, kernel_ms, whole_ms), "name": name,
             "threads": threads, "provider": "xnnpack" if xnnpack else "builtin",
             "runs": method.runs, "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
             "seconds": round(time.monotonic() - t0, 1), "reference": str(reference),
             **where}
    L.Table.write(path, table, indent=None)   # the table's home: core/lut.py
    table["path"] = str(path)
    return table
