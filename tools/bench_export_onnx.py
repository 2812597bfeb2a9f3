#!/usr/bin/env python3
"""Wall time of `edgekit export model.onnx --int8` against what a user does by hand:
onnxruntime's quant_pre_process + quantize_static (QDQ, per-channel) plus one fidelity run
(the float and the int8 file on the validation samples, SQNR and top-1 agreement in numpy),
on a MobileNet-sized float ONNX (edgekit's zoo MobileNet v1, alpha 1.0, 224x224, by
tf2onnx). Both run as fresh processes (imports included), same data, same machine, in
the same run; the ratio is printed. Goal: at most 1.3x.

    .venv/bin/python tools/bench_export_onnx.py [--samples 64] [--repeat 1]
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BASELINE = r'''
import sys, numpy as np, onnxruntime as ort
from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType,
                                      quantize_static)
from onnxruntime.quantization.shape_inference import quant_pre_process
src, calib, val, out = sys.argv[1:5]
quant_pre_process(src, out + ".pre.onnx", skip_symbolic_shape=False)
xc = np.load(calib)["x"]
class Reader:
    def __init__(self): self.i = 0
    def get_next(self):
        self.i += 1
        return {"input_0": xc[self.i - 1:self.i]} if self.i <= len(xc) else None
quantize_static(out + ".pre.onnx", out, Reader(), quant_format=QuantFormat.QDQ,
                per_channel=True, activation_type=QuantType.QInt8,
                weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax,
                extra_options={"ActivationSymmetric": False, "WeightSymmetric": True})
xv = np.load(val)["x"]
def run(path):
    s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return np.concatenate([s.run(None, {"input_0": xv[i:i + 16]})[0]
                           for i in range(0, len(xv), 16)])
ref, got = run(src), run(out)
sqnr = 10 * np.log10(np.sum(ref.astype(np.float64) ** 2) / np.sum((ref - got) ** 2))
print(f"baseline SQNR {sqnr:.2f} dB, top-1 {np.mean(ref.argmax(1) == got.argmax(1)):.3f}")
'''


def make_model(folder: Path, samples: int) -> Path:
    from edgekit.export.converters import to_onnx_float
    from edgekit.export.datainit import data_dependent_init
    from edgekit.export.samples import sample_images
    from edgekit.zoo import registry

    model, _ = registry.build("mobilenet", {"alpha": 1.0, "resolution": 224})
    calib = sample_images((224, 224, 3), samples, "tf", seed=0)
    data_dependent_init(model, calib.x[:32])       # trained-like activation statistics
    path = folder / "mobilenet.onnx"
    path.write_bytes(to_onnx_float(model))
    np.savez(folder / "calib.npz", x=calib.x)
    np.savez(folder / "val.npz", x=sample_images((224, 224, 3), samples, "tf", seed=1).x)
    return path


def timed(cmd: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{r.stderr[-2000:]}")
    return dt, r.stdout + r.stderr


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory(prefix="bench-export-onnx-") as tmp:
        folder = Path(tmp)
        src = make_model(folder, args.samples)
        print(f"{src.name}: {src.stat().st_size / 2**20:.1f} MiB float, "
              f"{args.samples} calibration and {args.samples} validation samples")
        ours, theirs = [], []
        for k in range(args.repeat):
            dt, _ = timed([py, "-m", "edgekit", "export", str(src), "--int8",
                           "-n", str(args.samples), "--calibration", str(folder / "calib.npz"),
                           "--validation", str(folder / "val.npz"), "-o",
                           str(folder / f"out{k}"), "--min-agreement", "0", "--json"])
            ours.append(dt)
            import json

            f = json.loads((folder / f"out{k}" / "manifest.json").read_text())[
                "artifacts"][0]["fidelity"]
            print(f"edgekit SQNR {float(f['sqnr_db']):.2f} dB, top-1 "
                  f"{f['top1_agreement']:.3f}")
            dt, text = timed([py, "-c", BASELINE, str(src), str(folder / "calib.npz"),
                              str(folder / "val.npz"), str(folder / f"base{k}.onnx")])
            theirs.append(dt)
            print(text.strip().splitlines()[-1])
        a, b = min(ours), min(theirs)
        print(f"edgekit export --int8: {a:.1f} s; quantize_static + one fidelity run: "
              f"{b:.1f} s; ratio {a / b:.2f}x (goal <= 1.3x)")


if __name__ == "__main__":
    main()
