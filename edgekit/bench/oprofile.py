"""Per-op profile of an .onnx model with onnxruntime's profiler (numpy + onnxruntime only).

onnxruntime writes a Chrome-trace JSON with one "Node" event per kernel run
(``<node>_kernel_time``, duration in microseconds, ``args.op_name``). We run the model
``runs`` times after a warm-up, take each node's median time per run, and map nodes back to
layer names when the caller has them (tf2onnx keeps the Keras layer name inside the node
name, e.g. ``model/conv_dw_3_1/depthwise``).
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

from edgekit.core.errors import UsageError


def profile_onnx(path: Path, runs: int = 50, warmup: int = 5, threads: int | None = None,
                 provider: str = "cpu") -> dict:
    import onnxruntime as ort

    from edgekit.bench.runners import OnnxRunner

    runner = OnnxRunner(path, provider=provider, threads=threads)
    spec = runner.inputs[0]
    shape = tuple(1 if d in (-1, None) else int(d) for d in spec.shape)
    x = np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32)
    prepared = runner.prepare(x)
    for _ in range(warmup):
        runner.invoke(prepared)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if threads:
        opts.intra_op_num_threads = threads
    opts.enable_profiling = True
    with tempfile.TemporaryDirectory(prefix="edgekit-prof-") as tmp:
        opts.profile_file_prefix = os.path.join(tmp, "ort")
        session = ort.InferenceSession(str(path), sess_options=opts,
                                       providers=runner.session.get_providers())
        for _ in range(warmup + runs):
            session.run(None, prepared)
        trace = json.loads(Path(session.end_profiling()).read_text())
    per_node: dict[str, list[float]] = defaultdict(list)
    op_of: dict[str, str] = {}
    for ev in trace:
        if ev.get("cat") != "Node" or not ev.get("name", "").endswith("_kernel_time"):
            continue
        node = ev["name"][: -len("_kernel_time")]
        per_node[node].append(ev["dur"] / 1e3)
        op_of[node] = ev.get("args", {}).get("op_name", "?")
    if not per_node:
        raise UsageError(f"onnxruntime recorded no kernel times for {path}")
    nodes = []
    for node, times in per_node.items():
        kept = times[warmup:] if len(times) > warmup else times  # drop the warm-up runs
        nodes.append({"node": node, "op": op_of[node], "ms": statistics.median(kept),
                      "calls": len(kept)})
    nodes.sort(key=lambda n: -n["ms"])
    total = sum(n["ms"] for n in nodes)
    for n in nodes:
        n["share"] = n["ms"] / total if total else 0.0
    by_op: dict[str, float] = defaultdict(float)
    for n in nodes:
        by_op[n["op"]] += n["ms"]
    return {"file": str(path), "runtime": "onnxruntime", "provider": runner.provider,
            "threads": threads, "runs": runs, "total_ms": total, "nodes": nodes,
            "by_op": [{"op": k, "ms": v, "share": v / total if total else 0.0}
                      for k, v in sorted(by_op.items(), key=lambda kv: -kv[1])]}


FUSABLE = {"BatchNormalization", "ReLU", "Activation", "LeakyReLU"}


def map_to_layers(profile: dict, layers: list[dict]) -> list[dict]:
    """Sum node times per analysis layer (longest layer name found inside the node name).

    ``layers`` are the analysis JSON's layer dicts; returns per-layer rows with MACs,
    achieved GMAC/s and share of total time. Nodes matching no layer are listed under
    '(unmapped)'.
    """
    names = sorted((layer["name"] for layer in layers), key=len, reverse=True)
    by_name = {layer["name"]: layer for layer in layers}

    def owner(name: str) -> str:
        """Runtimes fuse batch norm and activations into the conv before them: charge a
        fused kernel to the layer with the MACs."""
        seen = 0
        while (by_name[name]["op"] in FUSABLE and len(by_name[name]["inputs"]) == 1
               and seen < 4):
            name = by_name[name]["inputs"][0]
            seen += 1
            if by_name[name]["macs"]:
                return name
        return name

    times: dict[str, float] = defaultdict(float)
    for n in profile["nodes"]:
        parts = set(n["node"].replace(":", "/").split("/"))
        hit = next((name for name in names if name in parts or f"{name}_1" in parts), None)
        times[owner(hit) if hit else "(unmapped)"] += n["ms"]
    total = profile["total_ms"] or 1.0
    rows = []
    for name, ms in sorted(times.items(), key=lambda kv: -kv[1]):
        layer = by_name.get(name, {})
        macs = layer.get("macs", 0)
        rows.append({"layer": name, "op": layer.get("op", "-"), "ms": ms, "share": ms / total,
                     "macs": macs, "gmacs_per_s": macs / (ms * 1e-3) / 1e9 if macs and ms
                     else None})
    return rows
