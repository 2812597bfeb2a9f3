#!/usr/bin/env python3
"""How much does edgekit's timing loop add to a ~1 ms inference?

For each runtime (LiteRT, onnxruntime) this times, in the same run and interleaved:

* bare: a plain ``for`` loop around the runtime's own calls (set_tensor + invoke for
  LiteRT, session.run for onnxruntime), total wall time / N;
* edgekit: ``edgekit.runtimes.timing.measure`` on the runner's ``invoke``, total wall time of
  the timed loop / N (its perf_counter pairs and list appends included).

and prints the ratio edgekit/bare (median over rounds). The aim is within a few percent.
The model is MobileNet v1 (alpha 0.5, 128 px, float), about 1 ms per call on one thread.

    .venv/bin/python tools/bench_overhead.py [--rounds 7] [--n 300]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def export_model(folder: Path) -> dict[str, Path]:
    from edgekit.export.pipeline import ExportOptions
    from edgekit.services.export import export_target
    from edgekit.services.targets import resolve_target

    target = resolve_target("mobilenet", {"alpha": 0.5, "resolution": 128})
    manifest = export_target(target, ExportOptions(out_dir=folder, samples=4, min_agreement=0))
    return {a["format"]: folder / a["file"] for a in manifest["artifacts"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--n", type=int, default=300)
    args = ap.parse_args()

    from edgekit.runtimes.litert import TFLiteRunner
    from edgekit.runtimes.onnxrt import OnnxRunner
    from edgekit.runtimes.timing import measure

    with tempfile.TemporaryDirectory() as tmp:
        files = export_model(Path(tmp))
        x = np.random.default_rng(0).uniform(-1, 1, (1, 128, 128, 3)).astype(np.float32)
        for name, runner in (("litert", TFLiteRunner(files["tflite"], threads=1)),
                             ("onnxruntime", OnnxRunner(files["onnx"], threads=1))):
            prepared = runner.prepare(x)
            if name == "litert":
                interp = runner.interpreter
                index = interp.get_input_details()[0]["index"]
                value = prepared[0]

                def bare_call(interp=interp, index=index, value=value):
                    interp.set_tensor(index, value)
                    interp.invoke()
            else:
                session = runner.session

                def bare_call(session=session, prepared=prepared):
                    session.run(None, prepared)

            for _ in range(50):
                bare_call()
            ratios, bare_ms, ours_ms = [], [], []
            for _ in range(args.rounds):
                t = time.perf_counter()
                for _ in range(args.n):
                    bare_call()
                bare = (time.perf_counter() - t) / args.n
                t = time.perf_counter()
                measure(runner.invoke, prepared, warmup=0, runs=args.n)
                ours = (time.perf_counter() - t) / args.n
                bare_ms.append(bare * 1e3)
                ours_ms.append(ours * 1e3)
                ratios.append(ours / bare)
            print(f"{name:12s} bare {statistics.median(bare_ms):.3f} ms/call, edgekit "
                  f"{statistics.median(ours_ms):.3f} ms/call, ratio "
                  f"{statistics.median(ratios):.4f} (min {min(ratios):.4f}, "
                  f"max {max(ratios):.4f}, {args.rounds} rounds x {args.n} calls)")


if __name__ == "__main__":
    main()
