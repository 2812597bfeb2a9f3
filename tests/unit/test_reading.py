"""The one reader of user files (core/reading.py) and the bounded --inputs reader
(core/feeds.py): registered as an input, a regular file (a folder, a FIFO, /dev/zero are
named as such, at once, whatever is at the other end), within the stated size, and an
.npz checked by what it declares before anything is inflated."""

import io
import os
import threading
import tracemalloc
import zipfile

import numpy as np
import pytest

from edgekit.core import devices as D
from edgekit.core import files as F
from edgekit.core import reading as R
from edgekit.core.errors import UsageError
from edgekit.core.feeds import load_feeds

pytestmark = pytest.mark.usefixtures("fresh_inputs")   # tests/unit/conftest.py


def test_a_file_read_is_an_input_of_the_command(tmp_path):
    p = tmp_path / "doc.json"
    p.write_text("{}")
    assert R.read_input_text(p, "report input") == "{}"
    with pytest.raises(UsageError, match="it is an input of this command"):
        F.write_text(tmp_path / "." / "doc.json", "x")
    assert p.read_text() == "{}"


@pytest.mark.parametrize("make, said", [
    (lambda p: p.mkdir(), "is a folder, not a regular file"),
    (lambda p: os.mkfifo(p), "is a FIFO (named pipe), not a regular file"),
    (lambda p: p.symlink_to("/dev/zero"), "is a character device, not a regular file"),
    (lambda p: None, "file not found"),
    (lambda p: p.symlink_to(p), "its symbolic links form a loop"),
])
def test_what_is_not_a_regular_file_is_named(tmp_path, make, said):
    p = tmp_path / "x"
    make(p)
    with pytest.raises(R.InputFileError) as e:   # a FIFO with no writer: no wait either
        R.read_input(p, "--inputs")
    assert str(e.value) == f"--inputs {p}: {said}"


def test_a_file_past_its_limit_is_refused_unread(tmp_path):
    p = tmp_path / "big.toml"
    p.write_bytes(b"#" * 2000)
    with pytest.raises(R.InputFileError, match=r"big.toml: 2.0 KiB, more than the 1000 bytes"):
        R.read_input(p, "profile", limit=1000)
    assert R.read_input(p, "profile", limit=2000) == b"#" * 2000


def test_devices_toml_linked_to_an_endless_source_is_one_line(tmp_path, monkeypatch):
    """/dev/zero or a FIFO fed forever: refused from what was opened, in bounded memory."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    registry = tmp_path / "edgekit" / "devices.toml"
    registry.parent.mkdir()
    registry.symlink_to("/dev/zero")
    with pytest.raises(UsageError, match="is a character device, not a regular file"):
        D.load_devices()
    registry.unlink()
    os.mkfifo(registry)
    stop = threading.Event()

    def feed():   # an endless writer at the other end
        try:
            fd = os.open(registry, os.O_WRONLY)
        except OSError:
            return
        try:
            while not stop.is_set():
                try:
                    os.write(fd, b"#" * 65536)
                except BlockingIOError:
                    continue
        except OSError:
            pass
        finally:
            os.close(fd)

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    try:
        with pytest.raises(UsageError, match="is a FIFO"):
            D.load_devices()
    finally:   # a reader that never waits lets a writer still opening go on, then end
        stop.set()
        drain = os.open(registry, os.O_RDONLY | os.O_NONBLOCK)
        writer.join(1)
        os.close(drain)   # no reader: a write that waited fails (EPIPE)
        writer.join(5)
    assert not writer.is_alive()


def _npz(path, **arrays):
    np.savez_compressed(path, **arrays)
    return path


def test_inputs_arrays_round_trip(tmp_path):
    f = np.asfortranarray(np.arange(12, dtype=np.int16).reshape(3, 4))
    got = load_feeds(_npz(tmp_path / "a.npz", x=np.ones((2, 3), np.float32), f=f,
                          b=np.array([True, False]), big=np.arange(3, dtype=">f8")))
    assert np.array_equal(got["f"], f) and got["x"].dtype == np.float32
    assert got["b"].tolist() == [True, False] and got["big"].tolist() == [0.0, 1.0, 2.0]


def test_a_zip_bomb_is_refused_by_its_declared_size_before_inflating(tmp_path):
    """64 MiB of zeros in a 65 KB file, with a 16 MiB limit: refused by what the zip and
    .npy headers declare; far less than the declared size is ever allocated."""
    p = _npz(tmp_path / "bomb.npz", x=np.zeros((1, 4, 2048, 2048), np.float32))
    assert p.stat().st_size < 200_000
    tracemalloc.start()
    try:
        with pytest.raises(UsageError, match=r"declare 64.0 MiB or more once uncompressed, "
                                             r"more than the 16 MiB"):
            load_feeds(p, limit=16 << 20)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 << 20


def test_a_member_that_lies_about_its_shape_is_refused(tmp_path):
    """An .npy header that declares more (or less) than its member holds."""
    buf = io.BytesIO()
    np.save(buf, np.zeros(4, np.float32))
    data = buf.getvalue().replace(b"(4,)", b"(9,)")
    p = tmp_path / "lie.npz"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("x.npy", data)
    with pytest.raises(UsageError, match=r"array 'x' declares 9 float32 \(36 bytes\), "
                                         r"its member holds 16 bytes"):
        load_feeds(p)


@pytest.mark.parametrize("make, said", [
    (lambda p: np.savez(p, x=np.array([1, "a"], dtype=object)),
     "array 'x' holds pickled Python objects (dtype object); edgekit never loads pickles"),
    (lambda p: p.write_bytes(b"\x80\x04\x95" + b"\0" * 20),
     "is a Python pickle, not an .npz"),
    (lambda p: np.save(open(p, "wb"), np.ones(3)), "is an .npy file (one unnamed array)"),
    (lambda p: np.savez(p, x=np.array(["a"])), "array 'x' is <U1; input values must be"),
    (lambda p: p.mkdir(), "is a folder, not a regular file"),
    (lambda p: os.mkfifo(p), "is a FIFO (named pipe), not a regular file"),
    (lambda p: np.savez(p), "the file holds no arrays"),
    (lambda p: np.savez(p, x=np.array([np.nan], np.float32)), "array 'x' holds NaN"),
])
def test_inputs_that_are_not_arrays_of_numbers_say_what_they_are(tmp_path, make, said):
    p = tmp_path / "in.npz"
    make(p)
    with pytest.raises(UsageError) as e:
        dict(load_feeds(p))   # NaN: said when the array is inflated
    assert str(e.value).startswith(f"--inputs {p}: {said}"), str(e.value)
    assert "\n" not in str(e.value)


def test_the_inputs_file_is_registered(tmp_path):
    p = _npz(tmp_path / "in.npz", x=np.ones(2, np.float32))
    load_feeds(p)
    fd = os.open(p, os.O_RDWR)
    try:
        for out in (str(p), f"/dev/fd/{fd}", f"/proc/self/fd/{fd}"):
            with pytest.raises(UsageError, match="it is an input of this command"):
                F.write_text(out, "x")
    finally:
        os.close(fd)
    assert load_feeds(p)["x"].tolist() == [1.0, 1.0]


def test_reading_allocates_what_the_file_holds_not_its_limit(tmp_path):
    """A read sized by the limit would allocate it (64 GiB for a model: MemoryError)."""
    p = tmp_path / "small.onnx"
    p.write_bytes(b"x" * 1000)
    tracemalloc.start()
    try:
        assert R.read_input(p, "model", R.MODEL_LIMIT) == b"x" * 1000
        assert R.read_input_text(p, "doc", R.DOCUMENT_LIMIT) == "x" * 1000
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20
