"""Every command that writes a file, against every kind of output path (issue 21): the
matrix is generated from a table of commands x output kinds. An output that is one of
the command's inputs is refused with one line and the input is unchanged; a symbolic link
is written through (it stays a link); a FIFO is written in place (it stays a FIFO); '-' is
stdout where a command allows it. Export folders: a foreign manifest.json or a file edgekit
did not write is never overwritten, a listed file the user changed is left alone."""

import hashlib
import json
import os
import stat
import threading
from pathlib import Path

import pytest

# command -> (arguments with {in} for the input file and {out} for the output, the
# input's file name, the output's suffix, output kinds that apply)
ALL = ("input", "input_hardlink", "symlink", "fifo")
COMMANDS = {
    "analyze --csv": (["analyze", "{in}", "--csv", "{out}"], "tiny.keras", ".csv",
                      ALL + ("stdout",)),
    "analyze --report": (["analyze", "{in}", "--report", "{out}"], "tiny.keras", ".html",
                         ALL),
    "analyze --plot": (["analyze", "lenet5", "--plot", "{out}"], None, ".png",
                       ("symlink", "fifo")),
    "analyze --memory-timeline": (["analyze", "lenet5", "--memory-timeline", "{out}"], None,
                                  ".svg", ("symlink",)),
    "report -o": (["report", "{in}", "-o", "{out}"], "lenet5.json", ".html",
                  ALL + ("stdout",)),
    "build -o": (["build", "lenet5", "-o", "{out}"], None, ".keras", ("symlink", "fifo")),
    "devices add": (["devices", "add", "pi", "ssh://pi@example.invalid"], None, ".toml",
                    ("symlink",)),
}
MATRIX = [(c, k) for c, (_, _, _, kinds) in COMMANDS.items() for k in kinds]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, keras):
    d = tmp_path_factory.mktemp("inputs")
    x = keras.Input((8, 8, 1))
    h = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(2, 3, name="c")(x))
    keras.Model(x, keras.layers.Dense(3)(h)).save(d / "tiny.keras")
    from edgekit.report.analysis import to_json
    from tests.integration.conftest import zoo_report
    (d / "lenet5.json").write_text(to_json(zoo_report("lenet5")))
    return d


def _digest(folder: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()
            if p.is_file() and not p.is_symlink()}


@pytest.mark.parametrize("command, kind", MATRIX, ids=[f"{c} [{k}]" for c, k in MATRIX])
def test_output_kinds(cli, inputs, tmp_path, monkeypatch, command, kind):
    args, given, suffix, _ = COMMANDS[command]
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    source = None
    if given:
        source = work / given
        source.write_bytes((inputs / given).read_bytes())
    out = work / f"out{suffix}"
    target, got, reader = None, bytearray(), None
    if command == "devices add":
        out = tmp_path / "config" / "edgekit" / "devices.toml"   # XDG_CONFIG_HOME: conftest
        out.parent.mkdir(parents=True)
    if kind == "input":
        out = source
    elif kind == "input_hardlink":
        out = work / f"same{Path(given).suffix}"
        os.link(source, out)
    elif kind == "symlink":   # a dotfiles-managed file, a published page
        target = tmp_path / "elsewhere" / f"real{suffix}"
        target.parent.mkdir()
        target.write_text("# old\n")
        os.symlink(target, out)
    elif kind == "fifo":
        os.mkfifo(out)

        def read():
            with open(out, "rb") as f:
                got.extend(f.read())

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
    elif kind == "stdout":
        out = "-"
    before = _digest(work)
    r = cli(*[a.format(**{"in": source, "out": out}) for a in args])
    if reader is not None:
        reader.join(2)
        if reader.is_alive():   # nothing opened the FIFO: let the reader go
            try:
                os.close(os.open(out, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:     # ENXIO: the reader closed its end meanwhile (it is done)
                pass
        reader.join(10)
    assert "Traceback" not in r.err + r.out
    if kind.startswith("input"):
        errors = [x for x in r.err_lines if x.startswith("edgekit: error:")]
        assert r.code == 2 and len(errors) == 1, r.err
        assert "is an input of this command" in errors[0], r.err
        assert _digest(work) == before          # the input and everything else unchanged
        return
    assert r.code == 0, r.err
    if kind == "symlink":
        assert os.path.islink(out) and os.readlink(out) == str(target)
        assert target.read_bytes() != b"# old\n" and target.stat().st_size > 0
    elif kind == "fifo":
        assert stat.S_ISFIFO(os.lstat(out).st_mode) and len(got) > 0
    elif kind == "stdout":
        assert r.out.lstrip().startswith(("name,", "index,", "<!doctype html", "<!DOCTYPE"))
    assert [p.name for p in work.iterdir() if p.name.startswith(".ek-")] == []


def _tiny(folder: Path, keras) -> Path:
    x = keras.Input((8, 8, 1))
    h = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(2, 3, name="c")(x))
    keras.Model(x, keras.layers.Dense(3)(h)).save(folder / "tiny.keras")
    return folder / "tiny.keras"


EXPORT = ["export", "{model}", "--format", "tflite", "-n", "4", "-o", "{out}"]


@pytest.mark.parametrize("foreign", [
    {"manifest.json": '{"name": "my project", "version": 3}\n'},
    {"manifest.json": "not json at all\n"},
    {"tiny_fp32.tflite": "a file of the user's that happens to have the name\n"},
])
def test_export_never_overwrites_what_edgekit_did_not_write(cli, inputs, tmp_path,
                                                             foreign):
    out = tmp_path / "out"
    out.mkdir()
    for name, text in foreign.items():
        (out / name).write_text(text)
    r = cli(*[a.format(model=inputs / "tiny.keras", out=out) for a in EXPORT])
    errors = [x for x in r.err_lines if x.startswith("edgekit: error:")]
    assert r.code == 2 and len(errors) == 1 and "Traceback" not in r.err, r.err
    assert "edgekit does not" in errors[0]
    assert {p.name: p.read_text() for p in out.iterdir()} == foreign


def test_export_leaves_a_changed_listed_file_alone(cli, inputs, tmp_path):
    """An old manifest (another model's) lists two files: the unchanged one goes, the one
    the user changed since is left alone and named."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "old_fp32.tflite").write_bytes(b"as edgekit wrote it")
    (out / "notes_fp32.onnx").write_bytes(b"the user's own notes now")
    sha = hashlib.sha256(b"as edgekit wrote it").hexdigest()
    (out / "manifest.json").write_text(json.dumps({
        "schema": 1, "kind": "edgekit export manifest", "tools": {},
        "model": {"name": "old", "source": "zoo", "knobs": {}},
        "artifacts": [{"file": "old_fp32.tflite", "sha256": sha},
                      {"file": "notes_fp32.onnx", "sha256": sha}]}))
    r = cli(*[a.format(model=inputs / "tiny.keras", out=out) for a in EXPORT])
    assert r.code == 0, r.err
    assert "notes_fp32.onnx" in r.err and "left alone" in r.err
    names = {p.name for p in out.iterdir()}
    assert names == {"tiny_fp32.tflite", "notes_fp32.onnx", "manifest.json"}
    assert (out / "notes_fp32.onnx").read_bytes() == b"the user's own notes now"
    manifest = json.loads((out / "manifest.json").read_text())
    assert [a["file"] for a in manifest["artifacts"]] == ["tiny_fp32.tflite"]
    assert manifest["kind"] == "edgekit export manifest"


def test_onnxruntime_telemetry_is_off_no_session_file_no_device_id(tmp_path):
    # onnxruntime 1.32 starts Microsoft's telemetry at import (an upload thread, '.ses' in
    # $TMPDIR, a device id under ~/.cache/Microsoft); edgekit turns it off before any
    # import of it, unless the user asks for it
    import subprocess
    import sys

    env = {**os.environ, "TMPDIR": str(tmp_path / "tmp"), "HOME": str(tmp_path / "home"),
           "XDG_CACHE_HOME": str(tmp_path / "home" / ".cache")}
    env.pop("ORT_DISABLE_TELEMETRY", None)
    for d in ("tmp", "home"):
        (tmp_path / d).mkdir()
    code = "import edgekit, onnxruntime, os; print(os.environ['ORT_DISABLE_TELEMETRY'])"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.strip() == "1", out.stderr
    assert list((tmp_path / "tmp").iterdir()) == []
    assert [p for p in (tmp_path / "home").rglob("*")] == []
