"""What a daily user touches, checked mechanically: output that is not a terminal is not
wrapped, no non-breaking spaces, choices listed in --help, the same options on bench and
profile, progress as plain lines with an ETA, reports that say what they measured."""

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import THIRD_PARTY_MODELS

MNV2 = THIRD_PARTY_MODELS / "mobilenet_v2_quantized_1x3x224x224.tflite"

EDGEKIT = [sys.executable, "-c", "from edgekit.cli.main import main; main()"]


def run(*args, env=None):
    """The CLI in a subprocess with its output piped (not a terminal), no COLUMNS."""
    environ = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "EDGEKIT_QUIET")}
    return subprocess.run([*EDGEKIT, *map(str, args)], capture_output=True, text=True,
                          timeout=600, env={**environ, **(env or {})})


def test_piped_output_is_not_wrapped():
    r = run("analyze", MNV2)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert max(map(len, lines)) > 100                     # not cut at 80 columns
    assert lines[0].startswith(str(MNV2)) and lines[0].endswith("(file, tflite)")  # title
    conventions = [line for line in lines if line.startswith("* ")]
    assert len(conventions) == 5                          # each one whole line
    shown = run("profiles", "show", "stm32h7")
    assert shown.returncode == 0
    tomllib.loads(shown.stdout.split("\n", 1)[1])         # comments stay valid TOML


def test_models_table_has_plain_spaces(cli):
    r = cli("models")
    assert r.code == 0 and "\u00a0" not in r.out and "--alpha 1.0" in r.out


@pytest.mark.parametrize("command, shown", [
    ("analyze", ["[given|best]", "[float64|float32|float16", "N [1<=x<=1000000000]"]),
    ("export", ["[minmax|entropy|percentile]", "[int8|float]", "[tf|unit|imagenet|raw]",
                "[tflite|onnx],...", "[none|fp16|dynamic|int8],..."]),
    ("bench", ["[litert|onnxruntime|keras],...", "1 to 256", "1 to 65,536",
               "[none|fp16|dynamic|int8]"]),
    ("profile", ["[none|fp16|dynamic|int8]", "1 to 256"]),
])
def test_help_lists_choices_and_no_python_types(command, shown):
    r = run(command, "--help", env={"COLUMNS": "250"})
    assert r.returncode == 0
    r.out = r.stdout
    text = " ".join(r.out.split())
    for s in shown:
        assert s in text, s
    for python in ("<bool>", "<int>", "<str>", "<float>", "<list", "<path>", "int range"):
        assert python not in r.out, python
    if command == "export":      # a float ONNX is a source since issue 27
        assert "a float .onnx" in text.split("Arguments")[1].split("Options")[0]
    if command == "profile":     # by isolation in LiteRT since issue 13
        assert ".tflite" in text.split("Arguments")[1].split("Options")[0]


def test_knob_help_says_what_a_bare_command_uses(cli):
    text = " ".join(cli("analyze", "--help").out.split())
    assert "0.25 when no model is named" in text


def test_bench_and_profile_share_their_options(cli):
    import re

    def options(command):
        text = cli(command, "--help").out
        return {m.group(1) for m in re.finditer(r"(--[a-z][a-z-]+)", text)}

    shared = {"--threads", "--batch", "--runs", "--warmup", "--provider", "--quant",
              "--plot", "--input-shape", "--json", "--weights"}
    assert shared <= options("bench") and shared <= options("profile")
    assert "--json" in options("build") and "--json" in options("profiles calibrate".split()[0])


def test_unknown_option_points_at_the_subcommand(cli):
    r = cli("bench", "--treads", "2")
    assert r.code == 2 and "(see 'edgekit bench --help')" in r.err


def test_progress_is_plain_lines_with_an_eta_when_not_a_terminal(tmp_path):
    r = run("export", "--format", "tflite", "--quant", "none,fp16,dynamic", "-n", "4",
            "-o", tmp_path, env={"EDGEKIT_CACHE": str(tmp_path / "cache")})
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert any(line.startswith("edgekit: [1/3] Converting tflite fp32") for line in lines)
    assert any(line.startswith("edgekit: [3/3]") and "s left)" in line for line in lines)
    quiet = run("analyze", "--summary", env={"EDGEKIT_QUIET": "1"})
    assert quiet.stderr == ""
    # the untrained-weights explanation is said once, not once per artefact
    assert r.stderr.count("expected for untrained zoo weights") <= 1


def test_analyze_header_says_what_it_measured(cli):
    r = cli("analyze", "--summary", "--batch", "2", "--dtype", "int8")
    assert r.code == 0
    first = r.out.splitlines()[0]
    assert "mobilenet --alpha 0.25 --resolution 96" in first
    assert "batch 2" in first and "int8" in first
    assert "multiply-accumulates" not in r.out           # --summary: totals only
    assert "multiply-accumulates" in cli("analyze").out


def test_build_and_calibrate_speak_json(cli, tmp_path):
    r = cli("build", "lenet5", "-o", tmp_path / "l.keras", "--json")
    assert r.code == 0
    d = json.loads(r.out)
    assert d["params"] == 61_706 and d["file"] == str(tmp_path / "l.keras")
    r = cli("profiles", "calibrate", "-o", tmp_path / "h.toml", "--json")
    assert r.code == 0
    assert json.loads(r.out)["peak_gflops_fp32"] > 0


def test_plots_are_written_in_the_format_their_name_asks_for(cli, tmp_path):
    pdf, svg = tmp_path / "layers.pdf", tmp_path / "mem.svg"
    r = cli("analyze", "--plot", pdf, "--memory-timeline", svg, "--summary")
    assert r.code == 0, r.err
    assert pdf.read_bytes()[:5] == b"%PDF-" and b"<svg" in svg.read_bytes()[:500]
    assert f"wrote {pdf}" in r.err


@pytest.mark.parametrize("args", [["analyze", MNV2], ["analyze", MNV2, "--json"],
                                  ["analyze", MNV2, "--csv", "-"],
                                  ["analyze", MNV2, "--debug"], ["models", "--json"]],
                         ids=lambda a: " ".join(Path(str(x)).name for x in a))
def test_a_closed_stdout_ends_the_command_quietly(tmp_path, args):
    """`edgekit analyze m.tflite | head -1`: the reader is gone before edgekit writes. As
    coreutils (`seq 100000 | head -1`): nothing said, exit 141 (128 + SIGPIPE), --debug
    or not; nothing left in $TMPDIR."""
    environ = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "EDGEKIT_DEBUG")}
    proc = subprocess.Popen([*EDGEKIT, *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**environ, "TMPDIR": str(tmp_path)})
    proc.stdout.close()                   # the reader went away
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=600) == 141, err
    assert err == ""
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("args", [["analyze", MNV2], ["models", "--json"]],
                         ids=lambda a: " ".join(Path(str(x)).name for x in a))
def test_a_full_disk_behind_stdout_is_one_line_in_words(args):
    """`edgekit ... > file` on a full disk (/dev/full answers every write with ENOSPC): one
    line naming the stream, exit 1, not a traceback nor a silent exit."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    environ = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "EDGEKIT_DEBUG")}
    with open("/dev/full", "w") as full:
        r = subprocess.run([*EDGEKIT, *map(str, args)], stdout=full, stderr=subprocess.PIPE,
                           text=True, timeout=600, env=environ)
    assert r.returncode == 1, r.stderr
    assert r.stderr.splitlines() == ["edgekit: error: no space left on the device: '<stdout>'"]
