"""No output lands on an input, by any spelling (issue 28): for every output option of
analyze, bench and profile, an output drawn from every spelling of every input the
command reads (the model, --inputs, --profile, --compare) — relative, absolute, './',
'sub/..', a symbolic link, a hard link, /dev/fd/N and /proc/self/fd/N of an open
descriptor — is refused in one line (exit 2) and the input is left as it was, byte for
byte, with nothing beside it. In-process: the refusal comes before any work."""

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from edgekit.core.device_profiles import shipped_dir

# command -> (its output options: (option, is a figure), the inputs it can be given)
COMMANDS = {
    "analyze": ([("--csv", False), ("--plot", True), ("--memory-timeline", True),
                 ("--report", False)], ("model", "inputs", "profile")),
    "bench": ([("--plot", True), ("--report", False)], ("model", "inputs", "compare")),
    "profile": ([("--plot", True)], ("model", "inputs")),
}
SPELLINGS = ("relative", "absolute", "dot", "updown", "symlink", "hardlink", "dev_fd",
             "proc_fd")
FIGURES = (".png", ".pdf", ".svg")


def _model(path: Path) -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])
    w = numpy_helper.from_array(np.ones((16, 8), np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")],
                              "g", [x], [y], [w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """The inputs, each a file of its own kind, in a folder of their own."""
    root = tmp_path_factory.mktemp("spellings")
    _model(root / "m.onnx")
    np.savez(root / "feeds.npz", x=np.ones((1, 16), np.float32))
    shutil.copy(shipped_dir() / "raspberry-pi-5.toml", root / "device.toml")
    (root / "previous.json").write_text(json.dumps({"results": [{
        "model": "m", "runtime": "onnxruntime", "threads": 1,
        "latency_ms": {"p50": 1.0, "stdev": 0.1}}]}))
    (root / "sub").mkdir()
    return root


FILES = {"model": "m.onnx", "inputs": "feeds.npz", "profile": "device.toml",
         "compare": "previous.json"}


def _args(command: str, given: str, root: Path) -> list[str]:
    """The command line that reads every input it can (each as its plain name)."""
    args = [command, "m.onnx"]
    if given == "inputs" or command != "analyze":
        args += ["--inputs", "feeds.npz"]
    if command == "analyze" and given == "profile":
        args += ["--profile", str(root / "device.toml")]
    if command == "bench":
        args += ["--runtime", "onnxruntime", "--runs", "1", "--warmup", "0"]
        if given == "compare":
            args += ["--compare", "previous.json"]
    if command == "profile":
        args += ["--runs", "1", "--warmup", "0"]
    return args


def _spell(spelling: str, name: str, root: Path, suffix: str, opened: list) -> str:
    """``name`` (in ``root``, the working folder) as an output path spelled ``spelling``;
    links get ``suffix`` (a plot's image format)."""
    if spelling == "relative":
        return name
    if spelling == "absolute":
        return str(root / name)
    if spelling == "dot":
        return f"./{name}"
    if spelling == "updown":
        return f"sub/../{name}"
    if spelling == "symlink":
        link = root / f"link{suffix}"
        link.symlink_to(root / name)
        return link.name
    if spelling == "hardlink":
        link = root / f"hard{suffix}"
        os.link(root / name, link)
        return link.name
    fd = os.open(root / name, os.O_RDWR)   # a descriptor that could write
    opened.append(fd)
    return f"/dev/fd/{fd}" if spelling == "dev_fd" else f"/proc/self/fd/{fd}"


def _state(root: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in root.iterdir() if p.is_file() and not p.is_symlink()}


@st.composite
def cases(draw):
    command = draw(st.sampled_from(sorted(COMMANDS)))
    options, inputs = COMMANDS[command]
    option, figure = draw(st.sampled_from(options))
    given = draw(st.sampled_from(inputs))
    spelling = draw(st.sampled_from(SPELLINGS))
    suffix = draw(st.sampled_from(FIGURES)) if figure else ".out"
    return command, option, figure, given, spelling, suffix


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=cases())
def test_an_output_is_never_written_onto_an_input(cli, folder, monkeypatch, case):
    command, option, figure, given, spelling, suffix = case
    monkeypatch.chdir(folder)
    before = _state(folder)
    opened: list[int] = []
    try:
        out = _spell(spelling, FILES[given], folder, suffix, opened)
        r = cli(*_args(command, given, folder), option, out)
    finally:
        for fd in opened:
            os.close(fd)
        for link in [*folder.glob("link.*"), *folder.glob("hard.*")]:
            link.unlink()
    assert r.code == 2, (case, r.code, r.err)
    lines = [ln for ln in r.err.splitlines() if ln.strip()]
    assert len(lines) == 1, r.err
    if figure and not out.endswith(FIGURES):   # a plot is an image: said before anything
        assert "must end in" in lines[0], r.err
    else:
        assert "it is an input of this command" in lines[0], r.err
    assert _state(folder) == before                   # every input as it was, nothing beside
    assert sorted(p.name for p in folder.iterdir()) == sorted([*FILES.values(), "sub"])


def test_the_spellings_name_the_input(folder):
    """The drawn spellings do reach the input (so that a refusal is for the right reason)."""
    opened: list[int] = []
    try:
        for spelling in SPELLINGS:
            out = _spell(spelling, "feeds.npz", folder, ".png", opened)
            path = out if os.path.isabs(out) else folder / out
            assert os.path.samefile(path, folder / "feeds.npz"), spelling
    finally:
        for fd in opened:
            os.close(fd)
        for link in [*folder.glob("link.*"), *folder.glob("hard.*")]:
            link.unlink()
