"""--keep-float auto with a target it cannot reach (an output SQNR that int8 input and
output rounding alone forbid): it stops when keeping more layers stops helping (or at
--max-size-ratio), keeps the best file it made, and says in the table, the JSON and
through --strict's exit status that it missed and by how much."""

import json

import numpy as np
import pytest

from edgekit.export.keep_float import MIN_GAIN, PATIENCE
from tools.train_digits import train_digits_cnn

pytestmark = pytest.mark.slow
UNREACHABLE = "120"    # dB: int8 input and output steps alone keep the file far below


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    d = tmp_path_factory.mktemp("digits")
    x_tr, _, x_te, y_te = train_digits_cnn(d / "digits.keras", epochs=6)
    np.savez(d / "train.npz", x=x_tr[:200])
    np.savez(d / "test.npz", x=x_te[:150], y=y_te[:150])
    return d


def _args(d, out, *extra):
    return ("export", d / "digits.keras", "--format", "tflite", "--int8", "--calibration",
            d / "train.npz", "--validation", d / "test.npz", "--keep-float", "auto",
            "--min-sqnr", UNREACHABLE, "-o", out, *extra)


def test_auto_stops_without_gain_and_says_by_how_much(digits, cli, tmp_path):
    r = cli(*_args(digits, tmp_path / "o"))
    assert r.code == 0, r.err
    assert "missed its target" in r.err and "missed its target" in r.out
    a = json.loads((tmp_path / "o" / "manifest.json").read_text())["artifacts"][0]
    q = a["quantization"]
    assert q["keep_float_reached"] is False
    steps = q["keep_float_steps"]
    kept = next(s for s in steps if s["kept_float"] == a["kept_float"])
    top = max(float(s["sqnr_db"]) for s in steps)
    assert float(kept["sqnr_db"]) >= top - MIN_GAIN     # the best file (for its size) is kept
    assert len(steps) >= 1 + PATIENCE or "no layer left" in q["keep_float_stopped"]
    m = q["keep_float_missed"]
    assert m["got"] == pytest.approx(float(kept["sqnr_db"]))
    assert m["short_by"] == pytest.approx(float(UNREACHABLE) - m["got"], abs=0.01)
    assert a["fidelity"]["sqnr_db"] == pytest.approx(m["got"])
    groups = {"conv1", "conv2", "dw", "pool", "pw", "gap", "predictions"}
    assert set(a["kept_float"]) < groups           # it never ends at the float model
    assert q["keep_float_stopped"].startswith(("no gain", "no layer left"))


def test_strict_fails_when_the_target_is_missed(digits, cli, tmp_path):
    r = cli(*_args(digits, tmp_path / "o", "--strict"))
    assert r.code == 1 and "nothing was written (--strict)" in r.err
    assert "short by" in r.err and not (tmp_path / "o").exists()


def test_the_size_budget_stops_it(digits, cli, tmp_path):
    r = cli(*_args(digits, tmp_path / "o", "--max-size-ratio", "1"))
    assert r.code == 0, r.err
    a = json.loads((tmp_path / "o" / "manifest.json").read_text())["artifacts"][0]
    q = a["quantization"]
    assert q["keep_float_stopped"].startswith("size budget")
    plain = q["keep_float_steps"][0]["bytes"]
    assert a["bytes"] <= plain and all(s["bytes"] <= plain for s in q["keep_float_steps"])
