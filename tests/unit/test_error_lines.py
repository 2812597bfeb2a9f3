"""One line per error, always (issue 28, item 5): the user's text is shown as it is (never
Rich markup, never an emoji code, its control characters escaped, never split over lines),
an operating-system error is named in words with its path and exit code by class, and every
path option of every command refuses a name no file system takes before any work.

The path test is generated: every path option and argument of every command (read from the
CLI itself, so an option added later is in it) × every spelling of an empty or overlong
name, each in-process."""

from __future__ import annotations

import ast
import errno
import os
import tempfile
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgekit.core.errors import EdgekitError, UsageError, one_line, os_error, quoted
from tests.conftest import THIRD_PARTY_MODELS

PERSON = THIRD_PARTY_MODELS / "person_detect.tflite"
MNV2 = THIRD_PARTY_MODELS / "mobilenet_v2_quantized_1x3x224x224.tflite"


# ---- one_line ------------------------------------------------------------------------------

def _breaks(text: str) -> bool:
    return len(text.splitlines()) > 1 or text.endswith(("\n", "\r"))


@given(st.text(st.characters(exclude_categories=("Cs",))))
def test_one_line_is_one_line_and_python_reads_it_back(text):
    shown = one_line(text)
    assert not _breaks(shown)
    assert not any(unicodedata.category(c) in ("Cc", "Zl", "Zp")
                   or unicodedata.bidirectional(c) in ("LRE", "RLE", "LRO", "RLO", "PDF",
                                                       "LRI", "RLI", "FSI", "PDI")
                   for c in shown), repr(shown)
    if shown != text:      # something was escaped: the line is a Python string's body
        assert ast.literal_eval('"' + shown.replace('"', '\\"') + '"') == text


def test_one_line_leaves_ordinary_text_alone():
    for text in ("model file not found: ./a b/é日本.onnx", "C:\\models\\m.onnx",
                 "[red]x[/red] :smile:"):
        assert one_line(text) == text


def test_one_line_names_what_it_escapes():
    assert one_line("a\nb") == "a\\nb"
    assert one_line("\x1b[31mred") == "\\x1b[31mred"
    assert one_line("evil\u202etxt.onnx") == "evil\\u202etxt.onnx"
    assert one_line("x\u2028y") == "x\\u2028y"
    assert one_line(os.fsdecode(b"bad\xffname")) == "bad\\xffname"   # not UTF-8
    assert one_line("C:\\d\n") == "C:\\\\d\\n"      # once escaped, backslashes are too


def test_quoted_shortens_a_long_name_and_says_its_length():
    assert quoted("a\nb") == "'a\\nb'"
    long = "d/" * 2500
    shown = quoted(long)
    assert len(shown) < 200 and "(5,000 bytes)" in shown and "…" in shown


# ---- operating-system errors in words --------------------------------------------------------

def _raised(action) -> OSError:
    with pytest.raises(OSError) as e:
        action()
    return e.value


def test_a_real_name_too_long_is_a_usage_line(tmp_path):
    e = _raised(lambda: open(tmp_path / ("n" * 256), "w"))
    assert e.errno == errno.ENAMETOOLONG          # what the kernel says
    worded = os_error(e)
    assert isinstance(worded, UsageError) and worded.exit_code == 2
    assert str(worded).startswith("file name too long") and "bytes)" in str(worded)


def test_a_real_full_disk_is_exit_1_in_words():
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")

    def write():
        with open("/dev/full", "w") as f:
            f.write("x")

    e = _raised(write)
    assert e.errno == errno.ENOSPC
    worded = os_error(e)
    assert type(worded) is EdgekitError and worded.exit_code == 1
    assert "no space left" in str(worded)


@pytest.mark.parametrize("code, words, exit_code", [
    (errno.ENAMETOOLONG, "file name too long", 2), (errno.EROFS, "read-only file system", 2),
    (errno.EACCES, "permission denied", 2), (errno.ENOSPC, "no space left", 1),
    (errno.EDQUOT, "disk quota exceeded", 1), (errno.EIO, "input/output error", 1)])
def test_os_errors_are_named_in_words_with_the_path(code, words, exit_code):
    worded = os_error(OSError(code, os.strerror(code), "out/a\nb.csv"))
    assert str(worded).endswith(": 'out/a\\nb.csv'")
    assert str(worded).startswith(words) and worded.exit_code == exit_code
    assert "Errno" not in str(worded)


# ---- the CLI: every line one line, in words ------------------------------------------------

def _one_error_line(r) -> str:
    assert "Traceback" not in r.err + r.out
    lines = r.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("edgekit: error: "), r.err
    return lines[0]


def test_markup_and_emoji_codes_in_a_name_are_printed_as_given(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    name = "[red]x[/red]:smile:[/]:thumbs_up:\n\x1b[2J.onnx"
    r = cli("analyze", name)
    line = _one_error_line(r)
    assert r.code == 2
    assert "[red]x[/red]:smile:[/]:thumbs_up:\\n\\x1b[2J.onnx" in line
    assert not any(ord(c) > 0x2000 for c in line)      # no emoji, no escape sequence


def test_an_os_error_no_command_worded_is_one_line_in_words(cli, monkeypatch):
    from edgekit.report import catalog

    def full(*a, **k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/data/out\nput")

    monkeypatch.setattr(catalog, "render_models", full)
    r = cli("models")
    assert r.code == 1
    assert _one_error_line(r) == ("edgekit: error: no space left on the device: "
                                  "'/data/out\\nput'")


def test_debug_is_accepted_after_the_command(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = cli("analyze", "missing.onnx")
    assert r.code == 2 and "rerun" not in _one_error_line(r)
    assert cli("models", "--debug").code == 0
    with pytest.raises(UsageError, match="missing.onnx"):    # the traceback, as asked
        cli("analyze", "missing.onnx", "--debug")
    r = cli("analyze", "--", "--debug")      # after '--' it is a name, not the option
    assert r.code == 2 and "--debug" in _one_error_line(r)


# ---- generated: every path option × every spelling of a name no system call takes ----------

def _path_params():
    """(command words, option or None for an argument, metavar): every parameter of every
    command whose value is a path (or a list of paths), read from the CLI."""
    from edgekit.cli.main import cli_command

    found = []

    def walk(command, words):
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, words + [name])
        for param in command.params:
            kind = str(getattr(getattr(param, "type_descriptor", None), "annotation", ""))
            if "Path" in kind:
                option = max(param.opts, key=len) if param.param_type_name == "option" \
                    else None
                found.append((tuple(words), option, param.name))

    walk(cli_command(), [])
    return found


SMALL = ["mobilenet", "--alpha", "0.25", "--resolution", "32"]
# what each command is given besides the name under test: a run that would work
BASE = {
    ("analyze",): [str(PERSON)],
    ("build",): SMALL,
    ("bench",): [str(MNV2), "--runs", "1"],
    ("export",): SMALL + ["--quant", "none", "--calibration", "random", "-n", "2"],
    ("profile",): [str(MNV2), "--runs", "1"],
    ("report",): ["{analysis}"],
    ("sweep",): SMALL + ["--quant", "none"],
    ("profiles", "calibrate"): [],
}

X = "x" * 252
SPELLINGS = {                  # name -> (what the line must say, what it must show)
    "empty": ("", "the file name is empty", None),
    "256-byte name": (X + ".out", "file name too long", "a name of 256 bytes"),
    "256-byte folder": (X + ".dir/o.out", "file name too long", "a name of 256 bytes"),
    "256 bytes in 128 letters": ("é" * 128, "file name too long", "a name of 256 bytes"),
    "5,000-byte path": ("d/" * 2496 + "data.out", "path too long", "(5,000 bytes)"),
    "a newline": ("line\nbreak" + X, "file name too long", "line\\nbreak"),
    "markup and emoji codes": ("[red]x[/red]:smile:[/]" + "x" * 256, "file name too long",
                               "[red]x[/red]:smile:[/]"),
    "not UTF-8": (os.fsdecode(b"\xff") + X + "...", "file name too long", "\\xff"),
}
CASES = [(words, option, spelling) for words, option, _ in _path_params()
         for spelling in SPELLINGS]


@pytest.fixture(scope="module")
def analysis(tmp_path_factory):
    """An analyze JSON document (a real input for `report`)."""
    import contextlib
    import io

    from edgekit.cli.main import main

    path = tmp_path_factory.mktemp("doc") / "a.json"
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        try:
            main(["analyze", str(PERSON), "--json"])
        except SystemExit as e:
            assert e.code in (0, None)
    path.write_text(text.getvalue())
    return path


def test_every_command_with_a_path_is_in_the_table():
    assert {words for words, _, _ in _path_params()} <= set(BASE)
    assert len(CASES) >= 20 * len(SPELLINGS)


@pytest.mark.parametrize("words, option, spelling", CASES,
                         ids=[f"{' '.join(w)} {o or 'ARG'} {s}" for w, o, s in CASES])
def test_a_name_no_file_system_takes_is_one_usage_line(cli, tmp_path, monkeypatch, analysis,
                                                       words, option, spelling):
    name, says, shows = SPELLINGS[spelling]
    work, tmp = tmp_path / "work", tmp_path / "tmp"
    work.mkdir()
    tmp.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    base = [a.format(analysis=analysis) for a in BASE[words]]
    given_as = [option, name] if option else [name]
    if words == ("report",) and option is None:
        base = ["-o", "r.html"]
    r = cli(*words, *base, *given_as)
    line = _one_error_line(r)
    assert r.code == 2, line
    assert says in line and (shows is None or shows in line), line
    assert (option or "") in line
    assert len(line) < 400, line
    assert not list(work.iterdir()) and not list(tmp.iterdir())    # nothing written


def test_brackets_that_are_not_markup_print_as_they_are():
    """A path with '[/]' in a table's title or cell (an export folder, a layer name) once
    failed the command with rich's MarkupError; edgekit's console prints it as it is."""
    import io

    from rich.table import Table

    from edgekit.cli.common import EdgekitConsole

    sink = io.StringIO()
    console = EdgekitConsole(file=sink, width=200)
    table = Table(title="m -> out/[/]x:smile:")
    table.add_column("layer")
    table.add_row("conv[/b] " + "-" * 40)     # wider than the title: it is not wrapped
    console.print(table)
    console.print("wrote [/]y :smile:")
    text = sink.getvalue()
    assert "m -> out/[/]x:smile:" in text and "conv[/b]" in text
    assert "wrote [/]y :smile:" in text
