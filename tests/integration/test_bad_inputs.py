"""Bad input across every command and option: each case exits non-zero with exactly one
`edgekit: error:` line, no traceback, and leaves no file behind (issue 11's suite)."""

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import THIRD_PARTY_MODELS

PERSON = THIRD_PARTY_MODELS / "person_detect.tflite"


@pytest.fixture(scope="module")
def data(tmp_path_factory, keras):
    """Bad files of every kind, and a tiny Keras model (8x8x1 -> 3 classes)."""
    import h5py
    import onnx
    from onnx import TensorProto, helper

    d = tmp_path_factory.mktemp("bad")
    (d / "empty.keras").write_bytes(b"")
    (d / "text.keras").write_text("this is not a model\n")
    (d / "trunc.keras").write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    (d / "text.h5").write_text("not hdf5\n")
    with h5py.File(d / "weights_only.h5", "w") as f:
        f.create_dataset("w", data=np.zeros(3))
    (d / "empty.onnx").write_bytes(b"")
    (d / "text.onnx").write_text("not onnx at all\n")
    (d / "empty.tflite").write_bytes(b"")
    (d / "text.tflite").write_text("not a flatbuffer\n")
    (d / "notes.txt").write_text("hello\n")
    (d / "adir").mkdir()
    (d / "a_file").write_text("x")
    (d / "bad.json").write_text("{not json")
    (d / "other.json").write_text(json.dumps({"schema": 1}))
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    cyc = helper.make_graph([helper.make_node("Add", ["x", "b"], ["a"], name="n1"),
                             helper.make_node("Relu", ["a"], ["b"], name="n2"),
                             helper.make_node("Identity", ["a"], ["y"], name="n3")],
                            "cyclic", [x], [y])
    onnx.save(helper.make_model(cyc), d / "cyclic.onnx")
    huge_in = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2**62])
    huge = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="r")], "huge",
                             [huge_in], [helper.make_tensor_value_info(
                                 "y", TensorProto.FLOAT, [1, 2**62])])
    onnx.save(helper.make_model(huge), d / "huge.onnx")
    inputs = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(4, 3, name="c")(inputs)
    h = keras.layers.GlobalAveragePooling2D()(h)
    keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(h)).save(d / "tiny.keras")
    rng = np.random.default_rng(0)
    good = rng.uniform(-1, 1, (6, 8, 8, 1)).astype(np.float32)
    nan = good.copy()
    nan[1, 2, 3, 0] = np.nan
    np.savez(d / "calib_nan.npz", x=nan)
    np.save(d / "calib_inf.npy", np.full((2, 8, 8, 1), np.inf, np.float32))
    np.save(d / "calib_empty.npy", np.zeros((0, 8, 8, 1), np.float32))
    np.save(d / "calib_shape.npy", np.zeros((2, 9, 9, 1), np.float32))
    np.save(d / "calib_text.npy", np.array(["a", "b"]))
    np.savez(d / "val_noy.npz", x=good)
    np.savez(d / "val_str.npz", x=good, y=np.array(list("abcdef")))
    np.savez(d / "val_range.npz", x=good, y=np.array([0, 1, 2, 3, 7, 1]))
    np.savez(d / "val_neg.npz", x=good, y=np.array([0, 1, -1, 2, 0, 1]))
    np.savez(d / "val_count.npz", x=good, y=np.array([0, 1, 2]))
    np.savez(d / "val_onehot.npz", x=good, y=np.eye(3)[[0, 1, 2, 0, 1, 2]])
    np.savez(d / "val_float.npz", x=good, y=np.array([0.5, 1, 2, 0, 1, 2]))
    np.savez(d / "val_nokey.npz", a=good, b=good)
    pixels = rng.integers(0, 256, (3, 8, 8, 3)).astype(np.float32)
    np.savez(d / "sweep_val_range.npz", x=pixels, y=np.array([0, 1, 5000]))
    np.savez(d / "sweep_val_str.npz", x=pixels, y=np.array(["a", "b", "c"]))
    pixels[0, 0, 0, 0] = np.nan
    np.savez(d / "sweep_val_nan.npz", x=pixels, y=np.array([0, 1, 2]))
    return d


def listing(folder: Path) -> set:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


M = ["mobilenet"]
K = ["{d}/tiny.keras"]
E = ["export", *K, "--format", "tflite", "-n", "4"]

CASES = [
    # ---- NaN and infinity reach no builder
    (["analyze", *M, "--alpha", "nan"], "--alpha nan"),
    (["analyze", *M, "--alpha", "inf"], "--alpha inf"),
    (["analyze", *M, "--alpha", "-inf"], "--alpha -inf"),
    (["analyze", *M, "--rho", "nan"], "--rho nan"),
    (["analyze", *M, "--rho", "inf"], "--rho inf"),
    (["analyze", *M, "--dropout", "nan"], "--dropout nan"),
    (["analyze", "mobilenet_v2", "--alpha", "nan"], "--alpha nan"),
    (["build", *M, "--alpha", "nan"], "--alpha nan"),
    (["export", *M, "--alpha", "nan"], "--alpha nan"),
    (["bench", *M, "--alpha", "nan"], "--alpha nan"),
    (["profile", *M, "--alpha", "nan"], "--alpha nan"),
    (["bench", "{d}/x.tflite", "--time-budget", "nan"], "--time-budget nan"),
    (["bench", "--time-budget", "inf"], "--time-budget inf"),
    (["bench", "--time-budget", "0"], "--time-budget 0"),
    (["bench", "--time-budget", "-1"], "--time-budget -1"),
    (["bench", "--time-budget", "1e9"], "--time-budget 1e9"),
    (["export", "--min-agreement", "nan"], "--min-agreement nan"),
    (["export", "--min-agreement", "2"], "--min-agreement 2"),
    (["export", "--min-agreement", "-0.5"], "--min-agreement -0.5"),
    # ---- limits, stated in --help
    (["bench", "--threads", "100000"], "--threads 100000: must be an integer >= 1 and <= 256"),
    (["bench", "--threads", "0"], "--threads 0"),
    (["bench", "--threads", "-2"], "--threads -2"),
    (["bench", "--threads", "1,abc"], "expected comma-separated integers"),
    (["bench", "--threads", ","], "--threads needs at least one value"),
    (["bench", "--batch", "0"], "--batch 0"),
    (["bench", "--batch", "1000000"], "--batch 1000000: must be an integer >= 1 and <= 65,536"),
    (["bench", "--batch", "2,x"], "expected comma-separated integers"),
    (["bench", "--runs", "0"], "--runs 0: must be an integer >= 1"),
    (["bench", "--runs", "-1"], "--runs -1"),
    (["bench", "--runs", "99999999"], "--runs 99999999"),
    (["bench", "--warmup", "-1"], "--warmup -1: expected a count or 'auto'"),
    (["bench", "--warmup", "1000001"], "--warmup 1000001: must be an integer >= 0"),
    (["bench", "--warmup", "often"], "--warmup often: expected a count or 'auto'"),
    (["bench", "--cores", "-1"], "--cores -1"),
    (["bench", "--cores", "a,b"], "--cores a,b: expected comma-separated integers"),
    (["bench", "--cooldown", "-1"], "--cooldown -1"),
    (["bench", "--cooldown", "nan"], "--cooldown"),
    (["bench", "--min-duration", "0"], "--min-duration 0"),
    (["bench", "--min-duration", "5", "--time-budget", "1"], "contradict each other"),
    (["bench", "--runs", "x"], "--runs x"),
    (["analyze", *M, "--classes", "99999999999"], "--classes 99999999999"),
    (["analyze", *M, "--classes", "100001"], "--classes 100001"),
    (["analyze", "resnet18", "--classes", "0"], "--classes 0"),
    (["analyze", "lenet5", "--classes", "1000000"], "--classes 1000000"),
    (["analyze", *M, "--batch", "99999999999999999999"], "--batch 99999999999999999999"),
    (["analyze", *M, "--batch", "0"], "--batch 0"),
    (["analyze", *M, "--batch", "-3"], "--batch -3"),
    (["analyze", *M, "--resolution", "5000"], "--resolution 5000"),
    (["analyze", *M, "--resolution", "0"], "--resolution 0"),
    (["analyze", *M, "--resolution", "31"], "--resolution 31"),
    (["analyze", *M, "--depth-multiplier", "0"], "--depth-multiplier 0"),
    (["analyze", *M, "--depth-multiplier", "17"], "--depth-multiplier 17"),
    (["analyze", *M, "--alpha", "0"], "--alpha 0"),
    (["analyze", *M, "--alpha", "4.5"], "--alpha 4.5"),
    (["analyze", *M, "--alpha", "abc"], "--alpha abc"),
    (["analyze", *M, "--rho", "0"], "--rho 0"),
    (["analyze", *M, "--rho", "0.1"], "--rho 0.1 gives a 22 px input"),
    (["analyze", *M, "--rho", "0.5", "--resolution", "96"], "either --resolution or --rho"),
    (["analyze", *M, "--dropout", "1.5"], "--dropout 1.5"),
    (["analyze", "squeezenet", "--version", "2.0"], "--version 2.0"),
    (["analyze", "squeezenet", "--bypass", "bogus"], "--bypass bogus"),
    (["analyze", "resnet50", "--variant", "v3"], "--variant v3"),
    (["analyze", "resnext50", "--cardinality", "0"], "--cardinality 0"),
    (["analyze", "resnext50", "--width", "100"], "--width 100"),
    (["analyze", "densenet121", "--growth-rate", "0"], "--growth-rate 0"),
    (["analyze", "lenet5", "--activation", "gelu"], "--activation gelu"),
    (["analyze", "xception", "--resolution", "70"], "--resolution 70"),
    (["analyze", "inception_v3", "--resolution", "74"], "--resolution 74"),
    (["analyze", "resnet18", "--alpha", "0.5"], "--alpha does not apply to resnet18"),
    (["analyze", "vgg16", "--rho", "0.5"], "--rho does not apply to vgg16"),
    (["profile", "--top", "0"], "--top 0"),
    (["profile", "--top", "-1"], "--top -1"),
    (["profile", "--runs", "0"], "--runs 0"),
    (["profile", "--runs", "-1"], "--runs -1"),
    (["profile", "--threads", "0"], "--threads 0"),
    (["profile", "--threads", "1,2"], "profile runs one setting at a time"),
    (["profile", "--batch", "1,2"], "profile runs one setting at a time"),
    (["profile", "--provider", "cpu,cuda"], "not available"),
    (["export", "-n", "0"], "--calibration-samples 0"),
    (["export", "-n", "-4"], "--calibration-samples -4"),
    (["export", "-n", "1000000"], "--calibration-samples 1000000"),
    (["analyze", "{d}/huge.onnx"], "beyond the 2,147,483,647"),
    # ---- the error names the cause
    (["analyze", "{d}/empty.keras"], "the file is empty"),
    (["analyze", "{d}/text.keras"], "not a .keras file"),
    (["analyze", "{d}/trunc.keras"], "not a .keras file"),
    (["analyze", "{d}/text.h5"], "not an HDF5 file"),
    (["analyze", "{d}/weights_only.h5"], "holds weights but no model"),
    (["analyze", "{d}/empty.onnx"], "cannot read ONNX model"),
    (["analyze", "{d}/text.onnx"], "cannot read ONNX model"),
    (["analyze", "{d}/empty.tflite"], "not a TFLite flatbuffer"),
    (["analyze", "{d}/text.tflite"], "not a TFLite flatbuffer"),
    (["analyze", "{d}/notes.txt"], "unsupported model file"),
    (["analyze", "{d}/adir"], "not a model file"),
    (["analyze", "{d}/missing.keras"], "model file not found"),
    (["analyze", "{d}/missing.onnx"], "model file not found"),
    (["analyze", "{d}/missing.tflite"], "model file not found"),
    (["analyze", "{d}/cyclic.onnx"], "a cycle"),
    (["analyze", "mobilnet"], "unknown model 'mobilnet'"),
    (["analyze", "MobileNetV9"], "unknown model"),
    (["analyze", *M, "--csv", "{d}/adir"], "it is a folder"),
    (["analyze", *M, "--csv", "{d}/a_file/x.csv"], "a_file is not a folder"),
    (["analyze", *M, "--plot", "{d}/adir"], "it is a folder"),
    (["analyze", *M, "--plot", "{d}/x.gif"], "must end in .png, .pdf, .svg"),
    (["analyze", *M, "--plot", "{d}/x"], "must end in .png, .pdf, .svg"),
    (["analyze", *M, "--memory-timeline", "{d}/x.jpg"], "must end in .png, .pdf, .svg"),
    (["analyze", *M, "--memory-timeline", "{d}/a_file/t.png"], "a_file is not a folder"),
    (["analyze", *M, "--dtype", "fp33"], "unknown dtype 'fp33'"),
    (["analyze", *M, "--memory-schedule", "worst"], "must be given or best"),
    (["analyze", *M, "--profile", "toaster"], "unknown profile 'toaster'"),
    (["analyze", *M, "--profile", "{d}/notes.txt"], "profile"),
    (["analyze", *M, "--profile", "{d}/missing.toml"], "missing.toml"),
    (["analyze", *M, "--input-shape", "1x96x96x3"], "analyze takes it for .onnx files"),
    (["analyze", "{d}/cyclic.onnx", "--input-shape", "axb"], "expected [NAME:]DxDxD"),
    (["analyze", "{d}/cyclic.onnx", "--input-shape", "1x0"], "every dimension"),
    (["analyze", "{d}/tiny.keras", "--alpha", "0.5"], "model knobs apply to zoo models"),
    (["analyze", "{d}/tiny.keras", "--weights", "imagenet"], "--weights applies to zoo"),
    (["analyze", "resnet50", "--weights", "imagenet"], "resnet50 has no keras.applications"),
    (["analyze", "squeezenet", "--weights", "{d}/weights_only.h5"], "no keras.applications"),
    (["analyze", *M, "--weights", "{d}/missing.h5"], "file not found"),
    (["analyze", *M, "--weights", "{d}/notes.txt"], "expected a Keras weights file"),
    (["analyze", "vgg19", "--batch-norm", "--weights", "x.h5"], "drop --batch-norm"),
    (["analyze", "densenet121", "--growth-rate", "16", "--weights", "x.h5"], "growth-rate 32"),
    (["build"], "Missing argument"),
    (["build", "{d}/tiny.keras"], "is not a zoo model name"),
    (["build", "missing.keras"], "model file not found"),
    (["build", *M, "-o", "{d}/m.h5"], "must end in .keras"),
    (["build", *M, "-o", "{d}/a_file/m.keras"], "a_file is not a folder"),
    (["build", *M, "-o", "{d}/adir"], "must end in .keras"),
    (["build", *M, "--alpha", "0"], "--alpha 0"),
    (["export", "--format", "coreml"], "--format coreml"),
    (["export", "--format", ""], "--format needs at least one"),
    (["export", "--quant", "int4"], "--quant int4"),
    (["export", "--quant", "none,int3"], "--quant int3"),
    (["export", "--calibration-method", "magic"], "--calibration-method magic"),
    (["export", "--io", "uint8"], "--io uint8: must be int8 or float"),
    (["export", "--preprocess", "caffe2"], "--preprocess caffe2"),
    (["export", "--calibration", "{d}/missing"], "calibration data not found"),
    (["export", "--validation", "{d}/missing.npz"], "validation data not found"),
    (["export", "{d}/cyclic.onnx"], "cyclic.onnx: node 'n1' reads 'b': a cycle"),
    (["export", str(PERSON)], "LiteRT cannot load"),
    (["export", "{d}/empty.keras"], "the file is empty"),
    (["export", "-o", "{d}/a_file"], "not a writable folder"),
    (["export", "-o", "{d}/a_file/sub"], "a_file is not a folder"),
    ([*E, "--quant", "int8"], "needs calibration data"),
    ([*E, "--calibration", "{d}/calib_nan.npz"], "NaN or infinite"),
    ([*E, "--calibration", "{d}/calib_inf.npy"], "NaN or infinite"),
    ([*E, "--calibration", "{d}/calib_empty.npy"], "holds no samples"),
    ([*E, "--calibration", "{d}/calib_shape.npy"], "the model wants"),
    ([*E, "--calibration", "{d}/calib_text.npy"], "calib_text.npy"),
    ([*E, "--calibration", "{d}/notes.txt"], "expected a folder of images"),
    ([*E, "--calibration", "{d}/adir"], "no images in"),
    ([*E, "--calibration", "{d}/bad.json"], "expected a folder of images"),
    ([*E, "--calibration", "random", "--validation", "{d}/val_noy.npz"], "needs labels"),
    ([*E, "--calibration", "random", "--validation", "{d}/val_str.npz"], "integer class"),
    ([*E, "--calibration", "random", "--validation", "{d}/val_range.npz"],
     "outside the model's 3 classes"),
    ([*E, "--calibration", "random", "--validation", "{d}/val_neg.npz"], "outside the model"),
    ([*E, "--calibration", "random", "--validation", "{d}/val_count.npz"],
     "6 samples but 3 labels"),
    ([*E, "--calibration", "random", "--validation", "{d}/val_onehot.npz"], "one-hot"),
    ([*E, "--calibration", "random", "--validation", "{d}/val_float.npz"], "integer class"),
    ([*E, "--calibration", "random", "--validation", "{d}/val_nokey.npz"], "named 'x'"),
    ([*E, "--calibration", "random", "--validation", "{d}/notes.txt"], "cannot read"),
    (["bench", "--runtime", "tensorflow"], "--runtime tensorflow"),
    (["bench", "--runtime", ""], "--runtime needs at least one"),
    (["bench", "--quant", "int4"], "--quant int4"),
    (["bench", "--int8", "--quant", "fp16"], "--int8 and --quant fp16 disagree"),
    (["bench", "--provider", "nope"], "execution provider 'nope' is not available"),
    (["bench", "--compare", "{d}/missing.json"], "file not found"),
    (["bench", "--compare", "{d}/bad.json"], "not an 'edgekit bench --json' file"),
    (["bench", "--compare", "{d}/other.json"], "not an 'edgekit bench --json' file"),
    (["bench", "--plot", "{d}/x.gif"], "must end in .png, .pdf, .svg"),
    (["bench", "{d}/missing.tflite"], "model file not found"),
    (["bench", str(PERSON), "--runtime", "onnxruntime"], "it runs on litert"),
    (["bench", str(PERSON), "--runs", "2"], "LiteRT cannot load"),
    (["bench", "{d}/empty.tflite"], "LiteRT cannot load"),
    (["bench", "{d}/text.onnx"], "onnxruntime cannot load"),
    (["bench", "{d}/cyclic.onnx", "--runs", "2"], "onnxruntime cannot load"),
    (["bench", "--input-shape", "1x2", "--input-shape", "3x4"], "name each input"),
    (["bench", "--input-shape", "1x96x96x3", "--batch", "2"], "disagree: give it once"),
    (["bench", "{d}/tiny.keras", "--alpha", "0.5"], "model knobs apply to zoo models"),
    (["bench", "--device", "pi9"], "unknown device 'pi9'"),
    (["bench", "--device", "adb://serial"], "'adb://'; edgekit reaches devices over ssh://"),
    (["bench", "--device", "ssh://h:0"], "port '0' is not 1 to 65535"),
    (["profile", "--device", "nowhere"], "unknown device 'nowhere'"),
    (["profiles", "calibrate", "--device", "nowhere"], "unknown device 'nowhere'"),
    (["devices", "add", "pi5", "raspberrypi.local"], "no scheme"),
    (["devices", "add", "pi 5", "ssh://h"], "device name 'pi 5'"),
    (["devices", "add", "pi5", "ssh://h", "-o", "ControlPath=/tmp/x"], "sets it itself"),
    (["devices", "add", "pi5", "ssh://h", "-o", "IdentityFile"], "expected KEY=VALUE"),
    (["devices", "add", "pi5", "ssh://h", "--python", " "], "--python"),
    (["devices", "remove", "pi5"], "unknown device 'pi5'"),
    (["devices", "check", "pi5"], "unknown device 'pi5'"),
    (["profile", str(PERSON)], "LiteRT cannot load"),
    (["profile", "{d}/text.tflite"], "not a TFLite flatbuffer"),
    (["profile", "{d}/empty.tflite"], "not a TFLite flatbuffer"),
    (["profile", "{d}/cyclic.onnx", "--runtime", "litert"], "use --runtime onnxruntime"),
    (["profile", str(PERSON), "--runtime", "onnxruntime"], "use --runtime litert"),
    (["profile", "--runtime", "keras"], "profile runs one of litert, onnxruntime"),
    (["profile", "--lut", "--lut-alpha", "abc"], "--lut-alpha abc"),
    (["profile", "--lut", "--lut-alpha", "nan"], "--lut-alpha nan"),
    (["profile", "--lut", "--lut-quant", "int4"], "--lut-quant int4"),
    (["profile", "--lut", "--lut-resolution", "1x2"], "--lut-resolution 1x2"),
    (["profile", "--lut", "toaster"], "toaster"),
    (["profile", "--lut", "resnet50"], "give --lut-alpha"),
    (["profile", "--lut", "-o", "{d}/adir"], "it is a folder"),
    (["profile", "{d}/missing.onnx"], "model file not found"),
    (["profile", "--provider", "nope"], "not available"),
    (["profile", "--plot", "{d}/p.bmp"], "must end in .png, .pdf, .svg"),
    (["profile", "--quant", "int4"], "--quant int4"),
    (["profile", "{d}/text.onnx"], "cannot load"),
    # ---- sweep (issue 14): every mistake before any build
    (["sweep", "resnet18"], "no --alpha"),
    (["sweep", "toaster"], "toaster"),
    (["sweep", "--alpha", "0.25,abc"], "--alpha 0.25,abc"),
    (["sweep", "--alpha", "9"], "--alpha 9"),
    (["sweep", "--resolution", "8"], "--resolution 8"),
    (["sweep", "--quant", "int4"], "--quant int4"),
    (["sweep", "--runtime", "keras"], "--runtime keras"),
    (["sweep", "--max-latency", "5"], "--max-latency needs a latency"),
    (["sweep", "--profile", "stm32h7", "--max-latency", "-1"], "--max-latency -1"),
    (["sweep", "--max-ram", "12parsecs"], "--max-ram 12parsecs"),
    (["sweep", "--max-flash", "0"], "--max-flash 0"),
    (["sweep", "--profile", "toaster"], "unknown profile 'toaster'"),
    (["sweep", "--device", "pi5"], "--device: name the runtime"),
    (["sweep", "--executor", "dask"], "--executor dask"),
    (["sweep", "--workers", "2"], "go with --executor ray"),
    (["sweep", "--validation", "{d}/missing.npz"], "--validation"),
    (["sweep", "--validation", "{d}/val_noy.npz"], "needs an .npz with 'x'"),
    (["sweep", "-o", "{d}/a_file"], "is a file"),
    (["sweep", "--profile", "stm32h7", "--max-latency", "nan"], "--max-latency nan"),
    (["sweep", "--profile", "stm32h7", "--max-latency", "inf"], "--max-latency inf"),
    (["sweep", "--validation", "{d}/sweep_val_range.npz"], "outside the model's 1000"),
    (["sweep", "--validation", "{d}/sweep_val_str.npz"], "integer class"),
    (["sweep", "--validation", "{d}/sweep_val_nan.npz"], "NaN or infinite"),
    (["profiles", "show", "toaster"], "unknown profile 'toaster'"),
    (["profiles", "show"], "Missing argument"),
    (["profiles", "show", "{d}/notes.txt"], "profile"),
    (["profiles", "calibrate", "-o", "{d}/adir"], "it is a folder"),
    (["profiles", "calibrate", "-o", "{d}/a_file/h.toml"], "a_file is not a folder"),
    (["profiles", "bogus"], "No such command"),
    (["models", "--bogus"], "No such option: --bogus"),
    (["models", "extra"], "unexpected extra argument"),
    (["nosuchcommand"], "No such command"),
    (["--bogus"], "No such option"),
    (["analyze", *M, "--bogus"], "see 'edgekit analyze --help'"),
    (["export", "--int"], "see 'edgekit export --help'"),
]


@pytest.mark.parametrize("args, message", CASES, ids=[" ".join(c[0])[:60] for c in CASES])
def test_bad_input_is_one_clean_line(cli, data, tmp_path, monkeypatch, args, message):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    before = listing(data)
    r = cli(*[a.format(d=data) for a in args])
    assert r.code not in (0, None), (r.out, r.err)
    errors = [line for line in r.err_lines if line.startswith("edgekit: error:")]
    assert len(errors) == 1, r.err
    assert "Traceback" not in r.err + r.out
    assert message.format(d=data) in r.err, r.err
    assert listing(work) == set() and listing(data) == before


def test_the_suite_is_big_enough():
    assert len(CASES) >= 150
    commands = {c[0][0] for c in CASES}
    assert {"analyze", "build", "export", "bench", "profile", "profiles", "models",
            "devices"} <= commands
