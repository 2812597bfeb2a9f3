"""`edgekit profiles calibrate --device NAME`: measure a board with its own runtime and
write its profile. The compute peaks come from a large fully-connected layer (a GEMM of
256x1024 by 1024x1024, 268 M MACs a run) in fp32 and in int8, exported here and timed
there on all its cores; the bandwidth from a copy of a large array (numpy on the board)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from edgekit.core.errors import UsageError
from edgekit.export import cache
from edgekit.export.pipeline import ExportJob, ExportOptions, export

FC = (256, 1024, 1024)          # rows, inputs, outputs
FC_MACS = FC[0] * FC[1] * FC[2]
RUNS = 30


def fc_files(runtime: str, notify=lambda m: None) -> dict[str, Path]:
    """{quant: file} of the fully-connected calibration model for ``runtime``, exported
    once into the cache."""
    from edgekit.core.choices import RUNTIME_OF_FORMAT

    name = "calibration_fc{}x{}x{}".format(*FC)
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
                                             "format": "keras", "input_shape": list(FC[:2])})
            export(_fc_model(), job, opts, notify=notify)
            found = cache.lookup(folder, [runtime])
        files[quant] = found[runtime]
    return files


def _fc_model():
    from edgekit._tf import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input(FC[:2], name="x")
    outputs = keras.layers.Dense(FC[2], use_bias=False, name="fc")(inputs)
    return keras.Model(inputs, outputs, name="calibration_fc")


def calibrate_device(device: str, output: Path | None, notify=lambda m: None,
                     threads: int | None = None) -> dict:
    """Measure the board, write its profile (default: NAME.toml among the user's
    profiles) and remember it with the device; returns what was measured."""
    from edgekit.core.device_profiles import load_profile, user_dir
    from edgekit.core.devices import set_profile
    from edgekit.core.files import check_writable, write_text
    from edgekit.services.remote import session

    with session(device, notify) as board:
        have = board.hello["runtimes"]
        runtime = "litert" if have["litert"] else "onnxruntime"
        board.require(runtime)
        files = fc_files(runtime, notify)
        remote = board.ship(list(files.values()))
        fp = board.hello["fingerprint"]
        threads = threads or fp["usable_cores"]
        reply = board.call({"op": "calibrate", "threads": threads, "runs": RUNS,
                            "models": [{"label": q, "file": remote[f]}
                                       for q, f in files.items()]})
        if reply.error is not None:
            raise reply.error
        name = board.device.name
    path = check_writable(output or user_dir() / f"{name}.toml")
    result = reply.result
    measured = {"name": name, "runtime": have[runtime], "threads": threads,
                "peak_gflops_fp32": 2 * FC_MACS / (result["times"]["none"]["min_ms"] * 1e6),
                "peak_gops_int8": 2 * FC_MACS / (result["times"]["int8"]["min_ms"] * 1e6),
                "bandwidth_gbs": result["bandwidth_gbs"], "storage_bytes": result["disk_free"],
                "fingerprint": fp, "times": result["times"], "path": str(path)}
    write_text(path, profile_toml(measured))
    load_profile(path)   # what was written reads back as a profile
    set_profile(name, name)
    return measured


def _s(v) -> str:
    return json.dumps(str(v), ensure_ascii=False)


def profile_toml(m: dict) -> str:
    fp = m["fingerprint"]
    when = datetime.now(UTC).isoformat(timespec="seconds")
    kind = "host" if fp["machine"] in ("x86_64", "AMD64", "i686") else "sbc"
    versions = ", ".join(f"{k} = {_s(v)}" for k, v in fp["versions"].items())
    if not fp.get("ram_bytes") or not m.get("storage_bytes"):
        raise UsageError(f"{m['name']} did not report its memory or free storage")
    return f'''# Measured on the device by 'edgekit profiles calibrate --device {m["name"]}'
# on {when}.
name = {_s(m["name"])}
title = {_s(f"{fp['cpu']} ({fp['usable_cores']} cores, {fp['hostname']}, measured)")}
kind = "{kind}"

[compute]
# best of {RUNS} runs of a {FC[0]}x{FC[1]} by {FC[1]}x{FC[2]} fully-connected layer \
({FC_MACS:,} MACs, 2 ops each) in {m["runtime"]}, {m["threads"]} threads
peak_gflops_fp32 = {m["peak_gflops_fp32"]:.2f}
# the same layer quantized to int8 (full integer, per-channel weights)
peak_gops_int8 = {m["peak_gops_int8"]:.2f}

[memory]
# best of 7 copies of a 128 MiB array with numpy (bytes read + written per second)
bandwidth_gbs = {m["bandwidth_gbs"]:.2f}
ram_bytes = {fp["ram_bytes"]}        # physical memory (sysconf)
storage_bytes = {m["storage_bytes"]}   # free space in the home folder

[device]
hostname = {_s(fp["hostname"])}
cpu = {_s(fp["cpu"])}
machine = {_s(fp["machine"])}
os = {_s(fp["os"])}
kernel = {_s(fp["kernel"])}
python = {_s(fp["python"])}
governor = {_s(fp.get("governor") or "unknown")}
max_freq_mhz = {fp.get("max_freq_mhz") or 0}
temperature_c = {fp.get("temperature_c") if fp.get("temperature_c") is not None else "nan"}
versions = {{{versions}}}
measured = {_s(when)}
'''
