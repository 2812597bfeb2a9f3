"""One parser for device URLs and ssh options, checked against ssh itself (issue 31).

The oracle is OpenSSH's own reading: ``ssh -G`` parses a command line exactly as a
connection would (options, port, user, destination) and prints what it would use, without
connecting. For drawn URLs and options:

- what edgekit refuses is one line (a UsageError, exit 2), control characters escaped;
- what edgekit accepts, ssh reads as edgekit does: the same host, port and user from the
  command line edgekit builds (never an option, never a different port), and a URL written
  back by edgekit parses to the same address;
- an ssh option edgekit accepts is one ssh accepts, and for the numeric options (ports,
  counts, times) edgekit's verdict is ssh's.
"""

import shutil
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgekit.core import devices as D
from edgekit.core.errors import UsageError

needs_ssh = pytest.mark.skipif(shutil.which("ssh") is None, reason="no OpenSSH client")
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def ssh_reads(argv: list[str]) -> dict | None:
    """What ``ssh -G`` makes of a command line (no user config), or None when it refuses
    it. Without edgekit's ``--`` before the host: what edgekit accepts must mean the same
    to a command line built without it (the host is never an option)."""
    argv = [argv[0], "-F", "/dev/null", "-G", *(a for a in argv[1:] if a != "--")]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=10,
                          stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        return None
    seen = {}
    for line in done.stdout.splitlines():
        key, _, value = line.partition(" ")
        seen.setdefault(key, value)
    return seen


# pieces a URL is made of, good and bad: what a user types, and what a hostile one does
WORD = st.text(alphabet=st.sampled_from(list("abcXYZ019._-@:#?/[] %\t\n\x00\x7f~$٣é")),
               min_size=0, max_size=12)
GOOD_HOSTS = ["pi", "10.0.0.7", "[::1]", "raspberrypi.local", "a_b", "[fe80::1]", "H-2"]
BAD_HOSTS = ["-oProxyCommand=x", "-l", "-", "h;x", "h$(x)", "h h", "[::1", "::1", "h%x"]


def often(good, bad):
    """Mostly a good piece (so that whole URLs are often accepted), else a bad one."""
    return st.one_of(good, good, good, bad)


URLS = st.one_of(
    st.builds(lambda scheme, user, host, port, tail: f"{scheme}{user}{host}{port}{tail}",
              often(st.just("ssh://"), st.sampled_from(["SSH://", "ssh:/", "adb://", ""])),
              often(st.sampled_from(["", "pi@", "root@", "u_1.x@"]),
                    WORD.map(lambda u: u + "@")),
              often(st.sampled_from(GOOD_HOSTS),
                    st.one_of(WORD, st.sampled_from(BAD_HOSTS))),
              often(st.sampled_from(["", ":22", ":2222", ":65535"]),
                    st.one_of(WORD.map(lambda p: ":" + p),
                              st.integers(-1, 70000).map(lambda n: f":{n}"))),
              often(st.sampled_from(["", "/"]),
                    st.sampled_from(["#x", "?a=1", "/path", " ", "\n"]))),
    st.text(max_size=30))


def one_line(e: UsageError) -> bool:
    text = str(e)
    return "\n" not in text and all(c.isprintable() for c in text)


@needs_ssh
@SETTINGS
@given(URLS)
def test_a_url_is_read_by_ssh_as_edgekit_reads_it(url):
    from edgekit.remote.transport import ssh_argv

    try:
        address = D.parse_url(url)
    except UsageError as e:
        assert one_line(e) and e.exit_code == 2, str(e)
        return
    assert D.parse_url(address.url()) == address
    device = D.make_device("d", url)
    read = ssh_reads(ssh_argv(device))
    assert read is not None, f"ssh refuses what edgekit took from {url!r}"
    assert read["hostname"] == address.host.lower(), (url, read["hostname"])
    assert read["port"] == str(address.port or 22), (url, read["port"])
    if address.user:
        assert read["user"] == address.user, (url, read["user"])


NUMERIC = ["ConnectTimeout", "ServerAliveInterval", "ServerAliveCountMax", "Port",
           "ConnectionAttempts", "NumberOfPasswordPrompts"]
VALUE = st.one_of(
    st.sampled_from(["0", "1", "65535", "65536", "2147483647", "2147483648", "-1", "+1"]),
    st.integers(-5, 2**32).map(str),
    st.builds(lambda n, u: f"{n}{u}", st.integers(0, 10**9),
              st.sampled_from(["s", "m", "h", "d", "w", "S", "x", "", " ", ".5"])),
    st.sampled_from(["none", "abc", "", "1h30m", "0x10", "1.5", "10s", "٣", "007"]),
    st.text(alphabet="0123456789smhdw+-. ", max_size=8))


@needs_ssh
@pytest.mark.parametrize("key", NUMERIC + ["Compression", "StrictHostKeyChecking", "Bogus",
                                           "IdentityFile", "ProxyJump"])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=VALUE)
def test_an_ssh_option_edgekit_takes_is_one_ssh_takes(key, value):
    from edgekit.remote.transport import ssh_argv

    option = f"{key}={value}"
    read_alone = ssh_reads(["ssh", "-o", option, "--", "h"])
    try:
        device = D.make_device("d", "ssh://h", ssh_options=[option])
    except UsageError as e:
        assert one_line(e) and e.exit_code == 2, str(e)
        if key in NUMERIC and value.isascii() and value.strip().isdigit():
            assert read_alone is None, f"ssh takes {option!r}, edgekit refused it"
        return
    if key in NUMERIC:      # the numeric ones are checked here, as ssh reads them
        assert read_alone is not None, f"edgekit took {option!r}, ssh refuses it"
    if read_alone is not None:
        assert ssh_reads(ssh_argv(device)) is not None


@needs_ssh
def test_ssh_refusing_an_option_is_a_usage_error_naming_it():
    from edgekit.remote.transport import check_ssh_config

    device = D.Device("pi", "ssh://pi@h", ssh_options=("IdentityFile=~/.ssh/pi",
                                                       "StrictHostKeyChecking=maybe"))
    with pytest.raises(UsageError, match="StrictHostKeyChecking=maybe") as e:
        check_ssh_config(device)
    assert e.value.exit_code == 2 and one_line(e.value)
    check_ssh_config(D.make_device("pi", "ssh://pi@h:2222",
                                   ssh_options=["ConnectTimeout=10s"]))
