#!/usr/bin/env python3
"""How many seconds `edgekit export --per-layer` adds: the default model (or the model
given) exported to int8 with --per-layer, the time of the per-layer comparison of each
artefact (the manifest's per_layer_seconds: capture, Keras references, rows) against the
whole export's.

    .venv/bin/python tools/bench_per_layer.py [EXPORT ARGS...]

e.g. `tools/bench_per_layer.py mobilenet --alpha 0.25 --resolution 96` (the default).
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EDGEKIT = Path(sys.executable).with_name("edgekit")


def main() -> None:
    args = sys.argv[1:]
    with tempfile.TemporaryDirectory(prefix="edgekit-bench-per-layer-") as tmp:
        out = Path(tmp) / "out"
        t0 = time.perf_counter()
        subprocess.run([str(EDGEKIT), "export", *args, "--quant", "none,int8",
                        "--per-layer", "-o", str(out), "--json"], check=True,
                       stdout=subprocess.DEVNULL, env={**os.environ, "EDGEKIT_QUIET": "1"})
        total = time.perf_counter() - t0
        manifest = json.loads((out / "manifest.json").read_text())
    added = 0.0
    for a in manifest["artifacts"]:
        s = a.get("per_layer_seconds")
        if s is not None:
            added += s
            print(f"{a['file']}: --per-layer {s:.2f} s ({len(a['per_layer'])} layers), "
                  f"the artefact {a['total_seconds']:.2f} s")
    print(f"--per-layer added {added:.1f} s to an export of {total:.1f} s "
          f"({added / total:.0%})")


if __name__ == "__main__":
    main()
