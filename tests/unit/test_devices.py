"""Devices without a board: the registry file, device URLs and ssh options, OpenSSH's
failure messages as one line each, the measurement method's statistics and state checks."""

import numpy as np
import pytest

from edgekit.core import devices as D
from edgekit.core.errors import UsageError
from edgekit.core.stats import median_ci


def test_urls_and_names():
    d = D.make_device("pi5", "ssh://pi@raspberrypi.local")
    assert d.address == ("pi", "raspberrypi.local", None) and d.transport == "ssh"
    assert D.make_device("jet", "ssh://ubuntu@10.0.0.9:2222").address == ("ubuntu", "10.0.0.9",
                                                                           2222)
    assert D.make_device("lab", "ssh://lab-board/").url == "ssh://lab-board"
    assert D.make_device("v6", "ssh://[::1]:22").address == (None, "::1", 22)
    for bad, said in [("adb://serial", "adb"), ("pi@host", "no scheme"),
                      ("ssh://", "no host"), ("ssh://h/path", "no path"),
                      ("ssh://u:pw@h", "password"), ("ssh://h:99999", "port '99999' is not"),
                      ("ssh://h:0", "port '0' is not"), ("ssh://-oProxyCommand=x", "host"),
                      ("ssh://h#frag", "fragment"), ("ssh://h?x=1", "query"),
                      ("ssh://my host", "space"), ("ssh://h\n", "control"),
                      ("ssh://-l@h", "user"), ("ssh://::1", "brackets"),
                      ("ssh://h:٣", "port")]:
        with pytest.raises(UsageError, match=said):
            D.make_device("x", bad)
    for name in ("", "-x", "a b", "ssh://h", "x" * 65):
        with pytest.raises(UsageError, match="device name"):
            D.make_device(name, "ssh://h")


def test_ssh_options():
    d = D.make_device("j", "ssh://h", ssh_options=["IdentityFile=~/.ssh/jetson",
                                                   " Port=2222 "])
    assert d.ssh_options == ("IdentityFile=~/.ssh/jetson", "Port=2222")
    for bad in ("IdentityFile", "=x", "Key=", "ControlPath=/tmp/x", "batchmode=no",
                "ConnectTimeout=abc", "Port=70000", "ServerAliveCountMax=-1", "Port=2\n"):
        with pytest.raises(UsageError, match="--ssh-option"):
            D.make_device("j", "ssh://h", ssh_options=[bad])
    # a URL's port or user and an option's that disagree: ssh would take one silently
    for url, option in (("ssh://h:2222", "Port=22"), ("ssh://u@h", "User=v")):
        with pytest.raises(UsageError, match="disagree"):
            D.make_device("j", url, ssh_options=[option])
    assert D.make_device("j", "ssh://h:22", ssh_options=["Port=022"]).address[2] == 22


def test_registry_round_trip_and_errors(tmp_path):
    odd = D.make_device("a.b_c-1", "ssh://u@h:2", python='/opt/v "x"/bin/python3',
                        ssh_options=['ProxyJump=u@gw', 'SetEnv=A="b c"'])
    D.add_device(odd)
    D.add_device(D.make_device("pi5", "ssh://pi@raspberrypi.local"))
    assert D.load_devices() == {"a.b_c-1": odd, "pi5": D.get_device("pi5")}
    with pytest.raises(UsageError, match="exists .* --force"):
        D.add_device(D.make_device("pi5", "ssh://other"))
    D.add_device(D.make_device("pi5", "ssh://other"), force=True)
    D.set_profile("pi5", "pi5")
    assert D.get_device("pi5").url == "ssh://other" and D.get_device("pi5").profile == "pi5"
    with pytest.raises(UsageError, match="did you mean: pi5"):
        D.get_device("pi6")
    adhoc = D.get_device("ssh://pi@10.0.0.7")
    assert (adhoc.name, adhoc.address) == ("10.0.0.7", ("pi", "10.0.0.7", None))
    D.remove_device("pi5")
    assert list(D.load_devices()) == ["a.b_c-1"]
    D.registry_path().write_text("[devices.x\n")
    with pytest.raises(UsageError, match="invalid TOML"):
        D.load_devices()
    D.registry_path().write_text('[devices.x]\npython = "p"\n')
    with pytest.raises(UsageError, match="key .devices.x.url.: missing"):
        D.load_devices()


@pytest.mark.parametrize("stderr, said", [
    ("root@127.0.0.1: Permission denied (publickey).", "refused the login"),
    ("ssh: connect to host 127.0.0.1 port 1: Connection refused", "cannot reach"),
    ("ssh: Could not resolve hostname nohost: Name or service not known", "cannot reach"),
    ("ssh: connect to host 10.255.255.1 port 22: Connection timed out", "cannot reach"),
    ("Host key verification failed.", "host key"),
    ("kex_exchange_identification: read: Connection reset by peer", "cannot reach"),
    ("something new", "ssh to pi5 .* failed: something new"),
])
def test_ssh_failures_are_one_line(stderr, said):
    from edgekit.remote.transport import ssh_failure

    e = ssh_failure(D.make_device("pi5", "ssh://pi@h"), "Warning: Permanently added x\n"
                    + stderr + "\n")
    assert len(str(e).splitlines()) == 1 and e.exit_code == 3
    assert pytest.importorskip("re").search(said, str(e)), str(e)


def test_median_ci():
    rng = np.random.default_rng(1)
    small, large = rng.lognormal(0, 0.3, 50), rng.lognormal(0, 0.3, 5000)
    for a in (small, large):
        lo, hi = median_ci(a)
        assert lo <= np.median(a) <= hi
    assert np.subtract(*median_ci(large)[::-1]) < np.subtract(*median_ci(small)[::-1]) / 4
    assert median_ci(small) == median_ci(small)            # seeded
    assert median_ci([2.0]) == (2.0, 2.0)
    # coverage: over many samples from a known distribution (median 1), about 95 %
    hits = sum(lo <= 1.0 <= hi for lo, hi in (median_ci(rng.lognormal(0, 0.3, 101),
                                                        resamples=400) for _ in range(200)))
    assert 0.88 <= hits / 200 <= 0.995


def test_state_warnings():
    from edgekit.runtimes.measure import state_warning

    calm = {"temperature_c": 50.0, "freq_mhz": [2400, 2400], "throttled": "0x0"}
    assert state_warning(calm, calm) is None
    assert state_warning({}, {"temperature_c": None, "freq_mhz": None,
                              "throttled": None}) is None
    hot = state_warning(calm, {**calm, "temperature_c": 62.0})
    assert hot == "heated from 50 to 62 °C"
    assert "throttling flags 0x0 -> 0x20002" in state_warning(calm, {**calm,
                                                                     "throttled": "0x20002"})
    assert "cores slowed from 2400 to 1500 MHz" in state_warning(
        calm, {**calm, "freq_mhz": [2400, 1500]})


def test_min_duration_and_budget():
    import time

    from edgekit.runtimes.timing import measure

    def nap(_):
        time.sleep(0.001)

    t = measure(nap, None, warmup=0, runs=5, min_duration_s=0.05)
    assert len(t.samples_ms) >= 5 and t.elapsed_s >= 0.05
    t = measure(nap, None, warmup=0, runs=1000, budget_s=0.02, min_runs=3)
    assert 3 <= len(t.samples_ms) < 1000
    t = measure(nap, None, warmup="auto", runs=3)
    assert t.warmup >= 20 and t.warmup % 10 == 0


def test_method_travels_as_json():
    import json

    from edgekit.core.shapes import ShapeSpec
    from edgekit.runtimes.measure import Method

    m = Method(runs=7, warmup="auto", cores=[2, 3], input_shapes=[ShapeSpec("x", (1, 3))])
    assert Method.from_dict(json.loads(json.dumps(m.to_dict()))) == m


def test_compare_says_when_the_machine_differs():
    from edgekit.report.bench import fingerprint_changes

    pi = {"hostname": "pi5", "cpu": "Cortex-A76", "machine": "aarch64", "usable_cores": 4,
          "versions": {"ai-edge-litert": "2.3.0", "numpy": "2.4.6"}, "governor": "ondemand"}
    assert fingerprint_changes(pi, dict(pi)) == []
    other = {**pi, "hostname": "pi4", "cpu": "Cortex-A72", "governor": "performance",
             "versions": {"ai-edge-litert": "2.4.0", "numpy": "2.4.6"}}
    assert fingerprint_changes(pi, other) == [
        "hostname: pi5 -> pi4", "cpu: Cortex-A76 -> Cortex-A72",
        "ai-edge-litert: 2.3.0 -> 2.4.0", "governor: ondemand -> performance"]
    assert fingerprint_changes({}, pi)[0] == "hostname: None -> pi5"   # an older file
