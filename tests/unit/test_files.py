"""The one writer (core/files.py), over generated targets: every kind of thing a path can
name (nothing yet, a file, a link, a chain of links, a dangling link, a FIFO, a character
device, a descriptor, an input of the command by any spelling), names of 1 to 255 bytes,
text and binary, writers that fail half-way. Whatever the case: the right bytes land in the
right place, a link stays a link, a device stays a device, an input is never touched, and
no temporary file is left in the folder."""

import errno
import os
import stat
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgekit.core import files as F
from edgekit.core.errors import EdgekitError, UsageError

ROOT = os.geteuid() == 0

# Names a folder may hold: 1..255 bytes of UTF-8 (NAME_MAX), no '/', no NUL, not '.'/'..'
NAMES = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="/\0"),
                min_size=1, max_size=255).filter(
    lambda s: s not in (".", "..", "-") and len(s.encode()) <= 255)
LONG_NAMES = st.integers(241, 255).map(lambda n: "é" * ((n - 5) // 2) + "x" * ((n - 5) % 2)
                                       + ".json")

KINDS = ["new", "file", "link", "dangling", "chain", "fifo", "chardev", "fd", "readonly",
         "input", "input_hardlink", "input_dotted", "input_link"]


def _private_null(folder: Path) -> Path | None:
    """A character device of our own (a second /dev/null node), root only."""
    node = folder / "null"
    try:
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        with open(node, "w") as f:
            f.write("")
    except OSError:       # not root, or a nodev mount
        if os.path.lexists(node):
            node.unlink()
        return None
    return node


class Case:
    """A target of one kind in ``folder``: the path to write, and what must hold after."""

    def __init__(self, folder: Path, kind: str, name: str):
        self.folder, self.kind, self.name = folder, kind, name
        self.refused = kind.startswith("input")
        self.reader = None
        self.inputs: dict[Path, bytes] = {}
        sub = folder / "targets"
        sub.mkdir()
        self.target = folder / name            # where the bytes must land
        if kind == "new":
            self.path = folder / name
        elif kind in ("file", "readonly"):
            self.path = folder / name
            self.path.write_bytes(b"old")
            os.chmod(self.path, 0o640)
        elif kind in ("link", "dangling"):
            self.target = sub / "real.txt"
            if kind == "link":
                self.target.write_bytes(b"old")
            self.path = folder / name
            os.symlink("targets/real.txt", self.path)
        elif kind == "chain":
            self.target = sub / "real.txt"
            self.target.write_bytes(b"old")
            os.symlink("real.txt", sub / "hop")
            self.path = folder / name
            os.symlink(sub / "hop", self.path)
        elif kind == "fifo":
            self.path = self.target = folder / name
            os.mkfifo(self.path)
            self.got = bytearray()

            def read():
                with open(self.path, "rb") as f:
                    self.got.extend(f.read())

            self.reader = threading.Thread(target=read, daemon=True)
            self.reader.start()
        elif kind == "chardev":
            node = _private_null(sub)
            if node is None:
                pytest.skip("a private character device needs root (mknod)")
            self.path = self.target = node
        elif kind == "fd":
            self.r, self.w = os.pipe()
            self.path = Path(f"/dev/fd/{self.w}")
        else:  # an input of the command, and the path that names it
            source = folder / name
            source.write_bytes(b"input")
            self.inputs[source] = b"input"
            F.note_input(source)
            self.path = {"input": source,
                         "input_hardlink": sub / "hard",
                         "input_dotted": folder / "targets" / ".." / name,
                         "input_link": sub / "link"}[kind]
            if kind == "input_hardlink":
                os.link(source, self.path)
            elif kind == "input_link":
                os.symlink(source, self.path)
        if kind == "readonly":
            os.chmod(folder, 0o555)

    def check(self, content: bytes, wrote: bool) -> None:
        for path, before in self.inputs.items():
            assert path.read_bytes() == before          # an input is never touched
        if self.kind == "fifo":
            self.reader.join(5)
            assert bytes(self.got) == (content if wrote else b"")
        elif self.kind == "chardev":
            assert stat.S_ISCHR(os.lstat(self.path).st_mode)
        elif self.kind == "fd":
            os.close(self.w)
            with os.fdopen(self.r, "rb") as f:
                assert f.read() == (content if wrote else b"")
        elif not self.refused:
            if self.kind in ("link", "dangling", "chain"):
                assert os.path.islink(self.path)          # still a link
            if wrote:
                assert self.target.read_bytes() == content
                assert stat.S_ISREG(os.lstat(self.target).st_mode)
            elif self.kind in ("file", "readonly", "link", "chain"):
                assert self.target.read_bytes() == b"old"
            if wrote and self.kind == "file":
                assert stat.S_IMODE(os.stat(self.target).st_mode) == 0o640
        left = [p.name for d in (self.folder, self.folder / "targets") for p in d.iterdir()
                if p.name.startswith(F.TEMP_PREFIX) or p.name.endswith(F.TEMP_SUFFIX)]
        assert left == []                                 # no temporary file


def _write(how: str, path: Path, content: bytes, fail: bool, text: bool) -> None:
    def produce(f):
        half = content[: len(content) // 2]
        f.write(half.decode("latin-1") if text else half)
        if fail:
            raise RuntimeError("the writer failed half-way")
        f.write(content[len(half):].decode("latin-1") if text else content[len(half):])

    if how == "write_output":
        F.write_output(path, produce, mode="w" if text else "wb",
                       **({"encoding": "latin-1"} if text else {}))
    else:
        with F.output_file(path) as tmp:
            with open(tmp, "wb") as f:
                produce(f) if not text else f.write(content)
            if fail:
                raise RuntimeError("the writer failed half-way")


@pytest.fixture(autouse=True)
def _fresh_inputs():
    F.forget_inputs()
    yield
    F.forget_inputs()


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(KINDS), name=NAMES | LONG_NAMES, content=st.binary(max_size=3000),
       how=st.sampled_from(["write_output", "output_file"]), fail=st.booleans(),
       text=st.booleans())
def test_every_target_kind(kind, name, content, how, fail, text):
    if kind == "chardev" and not ROOT:
        return  # a private device node needs mknod (root); the rest runs everywhere
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d) / "w"
        folder.mkdir()
        case = Case(folder, kind, name)
        try:
            refused_ro = kind == "readonly" and not ROOT   # root writes anywhere
            try:
                _write(how, case.path, content, fail, text)
            except UsageError as e:
                assert case.refused or refused_ro, e
                assert "input of this command" in str(e) or refused_ro, e
                case.check(content, wrote=False)
                return
            except RuntimeError:
                assert fail
                if kind == "fifo":      # written in place: the part before the failure
                    pass
                elif kind == "fd":
                    os.close(case.w)
                    os.close(case.r)
                elif kind != "chardev":
                    case.check(content, wrote=False)
                return
            assert not fail and not case.refused and not refused_ro
            case.check(content, wrote=True)
        finally:
            os.chmod(folder, 0o755)
            if kind == "fifo":   # a reader still waiting for a writer that never came
                try:
                    os.close(os.open(case.path, os.O_WRONLY | os.O_NONBLOCK))
                except OSError:
                    pass
                case.reader.join(5)
                assert not case.reader.is_alive()


def test_stdout_dash_and_dev_stdout(capsys, tmp_path):
    os.symlink("/dev/stdout", tmp_path / "link")
    for path in ("/dev/stdout", "/dev/fd/1", "/proc/self/fd/1", tmp_path / "link"):
        # first what it would do: a regression must not replace the system's /dev/stdout
        assert F.output_kind(path) == "descriptor", path
    F.write_output("-", lambda f: f.write("a,b\n"), mode="w", stdout=True)
    F.write_output("/dev/stdout", lambda f: f.write(b"<html>"), mode="wb")
    F.write_output(tmp_path / "link", lambda f: f.write("!"), mode="w")
    assert capsys.readouterr().out == "a,b\n<html>!"
    assert os.path.islink(tmp_path / "link")
    with pytest.raises(UsageError, match="stdout"):
        F.write_output("-", lambda f: f.write(b"x"))        # only where a caller says so
    assert [p.name for p in tmp_path.iterdir()] == ["link"]


def test_full_device_is_no_space_left(tmp_path):
    full = Path("/dev/full")
    if ROOT:   # a node of our own: a regression must not replace the system's /dev/full
        full = tmp_path / "full"
        os.mknod(full, stat.S_IFCHR | 0o666, os.makedev(1, 7))
    assert F.output_kind(full) == "in place"
    with pytest.raises(EdgekitError, match=f"no space left on {full}") as e:
        F.write_output(full, lambda f: f.write(b"x" * 100_000))
    assert e.value.exit_code == 1
    assert stat.S_ISCHR(os.lstat(full).st_mode)


@pytest.fixture
def tiny_disk(tmp_path):
    """A 64 KiB tmpfs (root only), filled up but for a few bytes."""
    if not ROOT:
        pytest.skip("mounting a tiny tmpfs needs root (CI runs as root)")
    mount = tmp_path / "tiny"
    mount.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
                       capture_output=True, text=True)
    if r.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        (mount / "old.txt").write_bytes(b"old")
        fd = os.open(mount / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            while True:
                os.write(fd, b"\0" * 512)
        except OSError as e:
            assert e.errno == errno.ENOSPC
        finally:
            os.close(fd)
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_is_one_line_exit_1_and_nothing_half_written(tiny_disk):
    before = {p.name for p in tiny_disk.iterdir()}
    for name in ("old.txt", "new.txt"):
        with pytest.raises(EdgekitError, match=f"no space left on {tiny_disk}") as e:
            F.write_output(tiny_disk / name, lambda f: f.write(b"y" * 200_000))
        assert e.value.exit_code == 1
    assert {p.name for p in tiny_disk.iterdir()} == before
    assert (tiny_disk / "old.txt").read_bytes() == b"old"


def test_a_symlink_loop_is_one_line(tmp_path):
    os.symlink(tmp_path / "b", tmp_path / "a")
    os.symlink(tmp_path / "a", tmp_path / "b")
    with pytest.raises(UsageError, match="loop"):
        F.write_output(tmp_path / "a", lambda f: f.write(b"x"))


def test_a_deleted_input_whose_inode_comes_back_is_not_an_input(tmp_path):
    a = tmp_path / "a"
    a.write_bytes(b"1")
    F.note_input(a)
    a.unlink()
    b = tmp_path / "b"
    b.write_bytes(b"2")        # may reuse a's inode
    F.write_output(b, lambda f: f.write(b"3"))
    assert b.read_bytes() == b"3"


def test_new_files_honour_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        F.write_output(tmp_path / "x", lambda f: f.write(b"x"))
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "x").st_mode) == 0o640


def test_a_full_disk_through_the_cli_is_exit_1_and_one_line(tiny_disk, monkeypatch, capsys):
    from edgekit.cli.main import main

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tiny_disk))
    (tiny_disk / "edgekit").mkdir()
    before = {p.name for p in tiny_disk.rglob("*")}
    with pytest.raises(SystemExit) as e:
        main(["devices", "add", "pi", "ssh://pi@example.invalid"])
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if x.startswith("edgekit: error:")]
    assert e.value.code == 1 and len(lines) == 1 and "Traceback" not in err, err
    assert "no space left on" in lines[0]
    assert {p.name for p in tiny_disk.rglob("*")} == before
