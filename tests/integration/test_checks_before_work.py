"""Checks before any work (issues 28 and 31): what would fail after the builds, exports or
a connection fails first, in one line, with nothing built or written: a sweep's store path
that is a folder, an export cache that is a file or a dangling link, '-' as an output
folder, 'profile [--lut] --device' of a board that does not answer."""

import os
import socket

import pytest

pytestmark = pytest.mark.integration
SWEEP = ["sweep", "mobilenet", "--alpha", "0.25", "--resolution", "32", "--quant", "none"]


def nothing_built(cache) -> bool:
    return not os.path.exists(cache) or not any(cache.iterdir())


def test_a_store_that_is_a_folder(cli, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("EDGEKIT_CACHE", str(cache))
    (tmp_path / "out" / "sweep.jsonl").mkdir(parents=True)
    r = cli(*SWEEP, "-o", tmp_path / "out")
    assert r.code == 2 and "sweep.jsonl: it is a folder" in r.err, r.err
    assert nothing_built(cache)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["sweep.jsonl"]


@pytest.mark.parametrize("kind", ["file", "dangling link", "relative"])
def test_a_bad_cache(cli, tmp_path, monkeypatch, kind):
    cache = tmp_path / "cache"
    if kind == "file":
        cache.write_text("")
    elif kind == "dangling link":
        cache.symlink_to(tmp_path / "nowhere")
    else:
        cache = "cache"
    monkeypatch.setenv("EDGEKIT_CACHE", str(cache))
    monkeypatch.chdir(tmp_path)
    r = cli(*SWEEP, "-o", tmp_path / "out")
    assert r.code == 2 and "EDGEKIT_CACHE" in r.err and len(r.err.splitlines()) == 1, r.err
    assert not (tmp_path / "out").exists() and not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize("command", [SWEEP, ["export", "mobilenet", "--alpha", "0.25",
                                             "--resolution", "32", "--quant", "none"]])
def test_dash_is_no_output_folder(cli, tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    r = cli(*command, "-o", "-")
    assert r.code == 2 and ("'-'" in r.err or "-o -" in r.err), r.err
    assert len(r.err.splitlines()) == 1 and not list(tmp_path.iterdir())


@pytest.mark.parametrize("command", [
    ["profile", "--lut", "mobilenet", "--lut-alpha", "0.25", "--lut-resolution", "32"],
    ["profile", "mobilenet", "--alpha", "0.25", "--resolution", "32"]])
def test_profile_on_a_board_that_does_not_answer(cli, tmp_path, monkeypatch, command):
    cache = tmp_path / "cache"
    monkeypatch.setenv("EDGEKIT_CACHE", str(cache))
    with socket.socket() as s:          # a port nothing listens on: refused at once
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = cli(*command, "--device", f"ssh://127.0.0.1:{port}")
    assert r.code == 3 and "cannot reach 127.0.0.1" in r.err, r.err
    assert nothing_built(cache)
