"""Checks before work (issue 21), generated from the commands themselves, so that an option
or a command added later is covered without a new line here:

- every option of every command that names a file or a folder edgekit writes (found by
  walking the CLI), pointed into a read-only folder, is refused with one line before any
  work: the process never imports TensorFlow, onnxruntime or LiteRT (no model is built,
  exported or timed), exit 2, and nothing is written;
- every option of ``profile`` given with ``--lut`` that a latency table does not use (a
  model knob, --quant, --plot, ...) is refused, not ignored, before any measurement; and
  the --lut options without --lut;
- ``--lut-name`` is a plain name (hypothesis: names with folders, dots, separators,
  control characters and unicode never place a file outside the profiles folder);
- a --device that does not exist fails before any export, with --lut or without.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgekit.cli.main import cli_command

HEAVY = ("tensorflow", "onnxruntime", "ai_edge_litert", "tf2onnx")
# edgekit's console entry point, reporting at exit which heavy libraries it imported
PROBE = ("import atexit, sys\n"
         "atexit.register(lambda: print('heavy:', sorted(m for m in " + repr(HEAVY) +
         " if m in sys.modules), file=sys.stderr))\n"
         "from edgekit.cli.main import main\nmain()\n")
WRITES = ("output", "plot", "csv", "report")

# the smallest command line of each command that writes (what it would work on); a new
# command with an output option fails test_every_output_option_is_listed until added here
MINIMAL = {
    "analyze": ["analyze", "mobilenet"],
    "build": ["build", "mobilenet"],
    "bench": ["bench", "mobilenet", "--runs", "1"],
    "export": ["export", "mobilenet"],
    "export --plot": ["export", "mobilenet", "--quant", "int8"],
    "profile": ["profile", "mobilenet"],
    "profile --output": ["profile", "--lut", "mobilenet", "--lut-alpha", "0.25"],
    "report": ["report", "{doc}"],
    "sweep": ["sweep", "mobilenet", "--alpha", "0.25", "--resolution", "96"],
    "profiles calibrate": ["profiles", "calibrate"],
}
FOLDERS = {("export", "--output"), ("sweep", "--output")}
SUFFIX = {"--plot": ".png", "--csv": ".csv", "--report": ".html"}


def output_options() -> list[tuple[str, str]]:
    """(command, flag) of every option that names something edgekit writes."""
    found = []

    def walk(command, path):
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            walk(sub, [*path, name])
        for p in command.params:
            if p.opts and any(w in p.name for w in WRITES) and p.param_type_name == "option":
                found.append((" ".join(path), max(p.opts, key=len)))

    walk(cli_command(), [])
    return found


OUTPUTS = output_options()


def test_every_output_option_is_listed():
    assert OUTPUTS, "no output options found: the walk is broken"
    missing = [c for c, f in OUTPUTS if c not in MINIMAL and f"{c} {f}" not in MINIMAL]
    assert not missing, f"add the smallest command line of {missing} to MINIMAL"


@pytest.fixture
def read_only(tmp_path):
    """A folder this process cannot write into: a read-only tmpfs as root (root writes
    through permission bits), mode 0555 otherwise."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() == 0:
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs",
                            str(folder)], capture_output=True, text=True)
        if r.returncode:
            pytest.skip(f"cannot mount a read-only tmpfs here: {r.stderr.strip()}")
        try:
            yield folder
        finally:
            subprocess.run(["umount", "-l", str(folder)], check=False)
    else:
        folder.chmod(0o555)
        try:
            yield folder
        finally:
            folder.chmod(0o755)


def probe(args, cwd: Path, env: dict | None = None) -> tuple[int, list[str], list[str]]:
    """(exit code, stderr lines but the probe's, heavy libraries imported)."""
    r = subprocess.run([sys.executable, "-c", PROBE, *map(str, args)], cwd=cwd,
                       capture_output=True, text=True, timeout=300,
                       env={**os.environ, "EDGEKIT_QUIET": "1", "EDGEKIT_DEBUG": "0",
                            **(env or {})})
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    heavy = [line for line in lines if line.startswith("heavy:")]
    assert len(heavy) == 1, r.stderr
    return r.returncode, [line for line in lines if not line.startswith("heavy:")], \
        ast.literal_eval(heavy[0].removeprefix("heavy:"))   # the list the probe printed


@pytest.mark.parametrize("command, flag", OUTPUTS, ids=lambda v: str(v))
def test_an_unwritable_output_fails_before_any_work(command, flag, read_only, tmp_path):
    doc = tmp_path / "analysis.json"
    doc.write_text(json.dumps({"schema": 1, "results": []}))
    args = [a.format(doc=doc) for a in MINIMAL.get(f"{command} {flag}", MINIMAL[command])]
    target = read_only / ("out" if (command, flag) in FOLDERS else
                          "x" + SUFFIX.get(flag, ".json" if "profile" in command else
                                           ".keras" if command == "build" else ".toml"
                                           if command == "profiles calibrate" else ".html"))
    work = tmp_path / "work"
    work.mkdir()
    code, lines, heavy = probe([*args, flag, target], work,
                               {"EDGEKIT_CACHE": str(tmp_path / "cache"),
                                "XDG_CONFIG_HOME": str(tmp_path / "config")})
    assert code == 2, lines
    assert len(lines) == 1 and lines[0].startswith("edgekit: error: "), lines
    assert "not writable" in lines[0] or "not a writable folder" in lines[0], lines
    assert heavy == [], f"{command} {flag}: work started before the check ({heavy})"
    assert not any(read_only.iterdir()) and not any(work.iterdir())
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*"))


@pytest.mark.parametrize("result", ["sweep.json", "sweep.csv", "pareto.png"])
def test_a_sweep_result_that_cannot_be_written_fails_before_any_work(result, tmp_path):
    # the three results are written together at the end: each of them is checked before
    # the first build (here: a folder stands where one of them goes)
    out = tmp_path / "out"
    (out / result).mkdir(parents=True)
    code, lines, heavy = probe([*MINIMAL["sweep"], "-o", out], tmp_path,
                               {"EDGEKIT_CACHE": str(tmp_path / "cache")})
    assert code == 2 and len(lines) == 1 and result in lines[0], lines
    assert heavy == [], f"work started before the check ({heavy})"
    assert sorted(p.name for p in out.iterdir()) == [result]


def test_a_sweep_never_writes_onto_its_validation_file(tmp_path):
    import numpy as np

    out = tmp_path / "out"
    out.mkdir()
    data = out / "sweep.csv"                     # the user's data where a result goes
    with open(data, "wb") as f:
        np.savez(f, x=np.zeros((2, 8, 8, 3), np.uint8), y=np.zeros(2, np.int64))
    before = data.read_bytes()
    code, lines, heavy = probe([*MINIMAL["sweep"], "--validation", data, "-o", out],
                               tmp_path, {"EDGEKIT_CACHE": str(tmp_path / "cache")})
    assert code == 2 and len(lines) == 1 and "sweep.csv" in lines[0], lines
    assert heavy == [] and data.read_bytes() == before


# ---- profile --lut: options that do not apply are refused, not ignored --------------------

def _profile_params():
    return [p for p in cli_command().commands["profile"].params if p.param_type_name == "option"]


def _value(param) -> list[str]:
    """The option on a command line with a value it accepts on its own."""
    flag = max(param.opts, key=len)
    if getattr(param, "is_flag", False):
        return [param.opts[0] if param.secondary_opts == [] or param.default is False
                else param.secondary_opts[0]]
    number = getattr(param, "edgekit_number", None)
    if number is not None:
        lo = number.lo or 0
        v = lo + (1 if number.integer else 0.5) if number.lo_open or lo == 0 else lo
        if number.hi is not None:
            v = min(v, number.hi)
        return [flag, str(int(v) if number.integer else v)]
    return [flag, {"--input-shape": "1x96x96x3", "--runtime": "litert", "--provider": "cpu",
                   "--quant": "int8", "--weights": "w.h5", "--inputs": "x.npz",
                   "--plot": "p.png", "--batch": "1", "--output": "t.json",
                   "--lut-alpha": "0.25", "--lut-resolution": "96", "--lut-quant": "none",
                   "--lut-name": "t"}.get(flag, "1")]


def _lut_params():
    from edgekit.cli.profile import LUT_ALSO, LUT_ONLY

    params = _profile_params()
    stray = [p for p in params if p.name not in LUT_ONLY + LUT_ALSO and p.name != "help"]
    only = [p for p in params if p.name in LUT_ONLY]
    return stray, only


STRAY, LUT_ONLY_PARAMS = _lut_params()


@pytest.mark.parametrize("param", STRAY, ids=lambda p: p.name)
def test_profile_lut_refuses_an_option_it_would_ignore(cli, monkeypatch, param):
    def measured(*a, **k):
        raise AssertionError("the table was measured")

    monkeypatch.setattr("edgekit.services.lut.measure_table", measured)
    r = cli("profile", "--lut", "mobilenet", *_value(param))
    assert r.code == 2, r.err
    assert len(r.err_lines) == 1 and "not apply to --lut" in r.err, r.err
    assert max(param.opts, key=len) in r.err


def test_profile_lut_alpha_points_at_the_grid_option(cli):
    r = cli("profile", "--lut", "mobilenet", "--alpha", "0.5")
    assert r.code == 2 and "--alpha: use --lut-alpha" in r.err, r.err


@pytest.mark.parametrize("param", LUT_ONLY_PARAMS, ids=lambda p: p.name)
def test_profile_refuses_lut_options_without_lut(cli, monkeypatch, param):
    def profiled(*a, **k):
        raise AssertionError("the model was profiled")

    monkeypatch.setattr("edgekit.cli.profile._run_profile", profiled)
    r = cli("profile", "mobilenet", *_value(param))
    assert r.code == 2, r.err
    assert len(r.err_lines) == 1 and "go with --lut" in r.err or "goes with --lut" in r.err
    assert max(param.opts, key=len) in r.err


def test_the_options_a_table_uses_are_accepted(cli, monkeypatch):
    """The other side: --lut with every option it does use reaches the measurement."""
    from edgekit.cli.profile import LUT_ALSO, LUT_ONLY

    seen = {}

    def measured(grid, method, threads, xnnpack, device, name, output, notify):
        seen.update(grid=grid, threads=threads, name=name, output=output)
        raise AssertionError("measured")

    monkeypatch.setattr("edgekit.services.lut.measure_table", measured)
    args = ["profile", "--lut", "mobilenet"]
    for p in _profile_params():
        if p.name in LUT_ONLY + LUT_ALSO and p.name not in ("lut", "device", "json_out"):
            args += _value(p)
    r = cli(*args)
    assert seen["grid"].alphas == [0.25] and seen["grid"].resolutions == [96], r.err
    assert seen["name"] == "t" and seen["threads"] == 1


# ---- --lut-name and --device ----------------------------------------------------------------

NAMES = st.one_of(
    st.sampled_from(["../x", "../../x", "/tmp/x", "a/b", ".hidden", "..", ".", "", "a\\b",
                     "x\x00y", "x\ny", "x" * 65, "é", "a b", "-"]),
    st.text(min_size=1, max_size=80).filter(lambda s: any(c in s for c in "/\\.\0 ")))


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=NAMES)
def test_lut_name_never_leaves_the_profiles_folder(tmp_path, name):
    """Whatever the name, the table's path is a file directly in the profiles folder, or the
    name is refused (one line, a usage error) before any export."""
    from edgekit.core.errors import UsageError
    from edgekit.services.lut import Grid, check_table, lut_dir

    grid = Grid(models=["mobilenet"], alphas=[0.25], resolutions=[96], quants=["none"])
    try:
        path, _, _ = check_table(grid, None, name, None)
    except UsageError as e:
        assert "--lut-name" in str(e) and "\n" not in str(e)
        return
    assert Path(os.path.normpath(path)).parent == lut_dir()
    assert Path(path).name == f"{name}.lut.json"


@pytest.mark.parametrize("args", [["profile", "--lut", "mobilenet", "--lut-alpha", "0.25"],
                                  ["profile", "mobilenet"],
                                  ["profile", "mobilenet", "--runtime", "litert"]],
                         ids=["lut", "onnxruntime", "litert"])
def test_an_unknown_device_fails_before_any_export(args, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    code, lines, heavy = probe([*args, "--device", "typo"], work,
                               {"EDGEKIT_CACHE": str(tmp_path / "cache"),
                                "XDG_CONFIG_HOME": str(tmp_path / "config")})
    assert code == 2 and len(lines) == 1 and "unknown device 'typo'" in lines[0], lines
    assert heavy == [], heavy


# ---- files a command reads are inputs: never written onto ----------------------------------

SHIPPED_PROFILE = Path(__file__).resolve().parents[2] / "profiles" / "raspberry-pi-5.toml"


@pytest.mark.parametrize("flag", ["--csv", "--report"])
def test_a_profile_toml_given_by_path_is_never_overwritten(cli, tmp_path, flag):
    profile = tmp_path / "board.toml"
    profile.write_bytes(SHIPPED_PROFILE.read_bytes())
    before = profile.read_bytes()
    link = tmp_path / "link.toml"
    link.symlink_to(profile)
    for target in (profile, link, tmp_path / "." / "board.toml"):
        r = cli("analyze", "mobilenet", "--alpha", "0.25", "--resolution", "96", "--profile",
                profile, flag, target)
        assert r.code == 2 and "input of this command" in r.err, r.err
        assert profile.read_bytes() == before
