"""--ray-address read before any work (issue 31): every malformed address is one line,
exit 2 (never a 30 s wait on 'ray://', never markup), and a local Ray's session folder has
a short, private parent whatever $TMPDIR is."""

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgekit.core.errors import UsageError
from edgekit.services.sweep_ray import SOCKET_ROOM, check_address, short_private_folder_parent

GOOD = ["auto", "127.0.0.1:6379", "head.lan:6379", "ray://head:10001", "ray://head",
        "[::1]:6379", "ray://[fe80::1]:10001", " node-2:1 "]
BAD = ["", "ray://", "ray://:10001", ":abc:", "host", "host:", "host:0", "host:65536",
       "host:٣", "h\n:1", "http://h:1", "ray://h:1/x", "-h:1", "h h:1", "[::1", "h:1:2"]


@pytest.mark.parametrize("address", GOOD)
def test_good_addresses(address):
    assert check_address(address) == address.strip()


@pytest.mark.parametrize("address", BAD)
def test_bad_addresses_are_usage_errors(address):
    with pytest.raises(UsageError) as e:
        check_address(address)
    assert e.value.exit_code == 2 and "\n" not in str(e.value)
    assert repr(address) in str(e.value)       # as typed, control characters escaped


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=24), st.builds(
    lambda p, h, port: f"{p}{h}{port}", st.sampled_from(["", "ray://", "rAy://", "ray:/"]),
    st.text(alphabet="ab1.-_[]:%: \t\n", max_size=10),
    st.one_of(st.just(""), st.integers(-1, 70000).map(lambda n: f":{n}")))))
def test_any_address_is_taken_in_a_known_form_or_refused_in_one_line(address):
    try:
        got = check_address(address)
    except UsageError as e:
        assert e.exit_code == 2 and "\n" not in str(e)
        return
    assert got == "auto" or ":" in got
    assert not any(c.isspace() or not c.isprintable() for c in got)
    host = got.removeprefix("ray://")
    assert host and not host.startswith(("-", ":"))


@pytest.mark.parametrize("tmpdir, expected", [("/tmp", "/tmp"), ("/var/tmp", "/var/tmp"),
                                              ("/tmp/" + "x" * 80, "/tmp")])
def test_a_local_rays_folder_is_short(monkeypatch, tmpdir, expected):
    import tempfile

    monkeypatch.setattr(tempfile, "gettempdir", lambda: tmpdir)
    parent = short_private_folder_parent()
    assert parent == expected and len(parent) + 20 + SOCKET_ROOM <= 107
    assert os.access(parent, os.W_OK)


def test_the_token_of_a_local_ray_is_not_shown_to_a_cluster(monkeypatch):
    """A local Ray's own token (in this process's environment once a local sweep ran in
    it) never reaches the driver that probes a cluster: that cluster has its own settings
    (seen as 'authentication failed' on a silent address after an in-process sweep)."""
    import sys

    from edgekit.services import sweep_ray

    for name in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN"):
        monkeypatch.setenv(name, "-")      # restored as they were, afterwards
        monkeypatch.delenv(name)
    monkeypatch.delitem(sys.modules, "ray", raising=False)
    monkeypatch.setattr(sweep_ray, "_OWN_TOKEN", {})
    monkeypatch.setenv("EK_USERS_OWN", "kept")
    sweep_ray._own_token()
    assert os.environ["RAY_AUTH_MODE"] == "token" and len(os.environ["RAY_AUTH_TOKEN"]) == 64
    env = sweep_ray._user_environment()
    assert "RAY_AUTH_MODE" not in env and "RAY_AUTH_TOKEN" not in env
    assert env["EK_USERS_OWN"] == "kept"
    monkeypatch.setenv("RAY_AUTH_TOKEN", "the user's")      # set since: the user's
    assert sweep_ray._user_environment()["RAY_AUTH_TOKEN"] == "the user's"
