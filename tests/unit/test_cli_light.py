"""CLI paths that must not need TensorFlow: help, the model list, and early errors."""

import json
import signal
import time

import pytest

from tests.conftest import run_fresh

HEAVY = ("tensorflow", "keras", "onnxruntime", "tf2onnx", "ai_edge_litert")

PROBE = """
import sys
from edgekit.cli.main import main
try:
    main({args!r})
except SystemExit:
    pass
print("HEAVY:" + ",".join(m for m in {heavy!r} if m in sys.modules))
"""


@pytest.mark.parametrize("args", [["--help"], ["models"], ["analyze", "--help"],
                                  ["analyze", "mobilnet"], ["models", "--json"]])
def test_light_commands_import_no_heavy_framework(args):
    out = run_fresh(PROBE.format(args=args, heavy=HEAVY))
    assert out.strip().splitlines()[-1] == "HEAVY:"


def test_models_lists_the_zoo(cli):
    r = cli("models", "--json")
    assert r.code == 0
    models = {m["name"]: m for m in json.loads(r.out)["models"]}
    assert {"mobilenet", "squeezenet", "xception", "resnet18", "resnet152"} <= set(models)
    assert models["mobilenet"]["knobs"]["alpha"] == 1.0
    assert "Howard" in models["mobilenet"]["paper"]
    table = cli("models")
    assert table.code == 0 and "squeezenet" in table.out


@pytest.mark.parametrize("args, code, message", [
    (["analyze", "mobilnet"], 2, "unknown model 'mobilnet' (did you mean: mobilenet,"),
    (["analyze", "mobilenet", "--alpha", "0"], 2, "--alpha 0: must be a number > 0"),
    (["analyze", "mobilenet", "--alpha", "abc"], 2, "--alpha abc: must be a number"),
    (["analyze", "mobilenet", "--resolution", "16"], 2, "--resolution 16"),
    (["analyze", "squeezenet", "--version", "2.0"], 2, "must be one of 1.0, 1.1"),
    (["analyze", "resnet18", "--alpha", "0.5"], 2, "--alpha does not apply to resnet18"),
    (["analyze", "missing.keras"], 2, "model file not found: missing.keras"),
    (["analyze", "mobilenet", "--dtype", "fp33"], 2, "unknown dtype 'fp33'"),
    (["analyze", "mobilenet", "--batch", "0"], 2, "--batch"),
    (["analyze", "mobilenet", "--bogus"], 2, "No such option: --bogus"),
    (["build", "missing.keras"], 2, "model file not found"),
    (["nosuchcommand"], 2, "No such command"),
])
def test_bad_input_is_one_line_and_exit_code(cli, args, code, message):
    r = cli(*args)
    assert r.code == code
    assert len(r.err_lines) == 1, r.err
    assert message in r.err and "Traceback" not in r.err
    assert r.err.startswith("edgekit: error:")


def test_version(cli):
    r = cli("--version")
    assert r.code == 0 and r.out.startswith("edgekit 0.")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_that_surfaces_as_another_error_is_still_honoured(cli, monkeypatch,
                                                                       signum):
    """Ctrl-C while an extension module initializes comes out as ImportError
    ('initialization failed'), and a library may catch it and go on: edgekit remembers
    the signal (a real one, delivered to this process) and exits 130, 143 for SIGTERM."""
    from edgekit.core import interrupts
    from edgekit.report import catalog

    def interrupted_import(*a, **k):
        if signal.getsignal(signum) is not interrupts._handler:
            pytest.skip("this test runner handles the signal itself")
        try:
            signal.raise_signal(signum)
            time.sleep(5)
        except KeyboardInterrupt:
            raise ImportError("initialization failed") from None

    def swallowed(*a, **k):
        try:
            interrupted_import()
        except ImportError:
            pass          # a library that goes on: the next step boundary stops it

    for fake in (interrupted_import, swallowed):
        monkeypatch.setattr(catalog, "render_models", fake)
        r = cli("models")
        assert r.code == 128 + signum, r.err
        assert r.err_lines == [f"edgekit: interrupted ({interrupts.NAMES[signum]}); "
                               "nothing half-written was left behind"]
