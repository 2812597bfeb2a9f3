"""The floor that int8 input rounding alone sets: the float model fed its input rounded to
the int8 file's input grid, against the float model (issue 29: the demo's untrained
MobileNet read 6.2 dB in int8, and rounding only its input already gives 7.7 dB). Oracle:
the trained digits CNN's logits computed here from its own layers, on inputs rounded in
numpy with the file's input scale and zero point."""

import json

import numpy as np
import pytest

from tools.train_digits import train_digits_cnn

pytestmark = pytest.mark.slow


def test_input_floor_equals_numpy(tmp_path, cli, keras):
    x_tr, _, x_te, y_te = train_digits_cnn(tmp_path / "digits.keras", epochs=4)
    np.savez(tmp_path / "train.npz", x=x_tr[:200])
    np.savez(tmp_path / "test.npz", x=x_te[:150], y=y_te[:150])
    r = cli("export", tmp_path / "digits.keras", "--format", "tflite", "--quant", "none,int8",
            "--calibration", tmp_path / "train.npz", "--validation", tmp_path / "test.npz",
            "-o", tmp_path / "o", "--min-agreement", "0")
    assert r.code == 0, r.err
    assert "floor dB" in r.out
    arts = {a["quant"]: a for a in
            json.loads((tmp_path / "o" / "manifest.json").read_text())["artifacts"]}
    assert "input_floor_sqnr_db" not in arts["none"]["fidelity"]    # a float input
    f = arts["int8"]["fidelity"]
    spec = arts["int8"]["inputs"][0]
    model = keras.saving.load_model(tmp_path / "digits.keras")
    features = keras.Model(model.inputs, model.get_layer("gap").output)
    kernel, bias = model.get_layer("predictions").get_weights()

    def logits(x):
        return np.asarray(features(x)) @ kernel + bias

    x = x_te[:150]
    q = np.clip(np.round(x / spec["scale"]) + spec["zero_point"], -128, 127)
    rounded = ((q - spec["zero_point"]) * spec["scale"]).astype(np.float32)
    ref, got = logits(x).astype(np.float64), logits(rounded).astype(np.float64)
    expected = 10 * np.log10(np.sum(ref ** 2) / np.sum((ref - got) ** 2))
    assert f["on"] == "logits"
    assert f["input_floor_sqnr_db"] == pytest.approx(expected, abs=0.05)
    assert f["input_floor_top1"] == pytest.approx(np.mean(ref.argmax(1) == got.argmax(1)))
