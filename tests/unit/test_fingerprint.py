"""What a board is (issue 23): cpuinfo files of many shapes decoded into cores and the
board's model, Raspberry Pi throttling flags in words, the profile kind of a machine; and
how a crash on a board is told from a lost connection (the agent's stderr parsed), and
how a '~/' path reaches the board's shell. Generated inputs (hypothesis) against what
the generator put in."""

import os
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgekit.core import cpuinfo
from edgekit.core.device_profiles import machine_kind

PI5 = """processor	: 0
BogoMIPS	: 108.00
Features	: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid
CPU implementer	: 0x41
CPU architecture: 8
CPU variant	: 0x4
CPU part	: 0xd0b
CPU revision	: 1

""" * 1 + "Revision\t: d04170\nSerial\t\t: 0\nModel\t\t: Raspberry Pi 5 Model B Rev 1.0\n"

# what Linux prints on an x86 machine (one block of it)
X86 = """processor	: 0
vendor_id	: AuthenticAMD
cpu family	: 25
model		: 17
model name	: AMD EPYC 9R14 96-Core Processor
stepping	: 1
"""


def _block(n: int, impl: int, part: int, style: int) -> str:
    sep = ("\t: ", " : ", ":\t", ": ")[style]
    hexa = (f"{impl:#04x}", f"0x{impl:X}")[style % 2]
    lines = [f"processor{sep}{n}", "BogoMIPS\t: 38.40",
             f"CPU implementer{sep}{hexa}", "CPU architecture: 8",
             f"CPU variant{sep}0x0", f"CPU part{sep}{part:#05x}", f"CPU revision{sep}4"]
    return "\n".join(lines) + "\n"


known = st.sampled_from(sorted(cpuinfo.PARTS))
unknown = st.tuples(st.sampled_from([0x41, 0x51, 0x61, 0x99]),
                    st.integers(0xE00, 0xFFF)).filter(lambda p: p not in cpuinfo.PARTS)


@settings(max_examples=200, deadline=None)
@given(clusters=st.lists(st.tuples(st.one_of(known, unknown), st.integers(1, 8)),
                         min_size=1, max_size=3, unique_by=lambda c: c[0]),
       style=st.integers(0, 3), model=st.one_of(st.none(), st.sampled_from([
           "Raspberry Pi 4 Model B Rev 1.4", "Radxa ROCK 5B", "NVIDIA Jetson Orin Nano"])),
       trailer=st.booleans(), devicetree=st.booleans())
def test_cores_decoded_from_generated_cpuinfo(clusters, style, model, trailer, devicetree):
    blocks, n = [], 0
    for (impl, part), count in clusters:
        for _ in range(count):
            blocks.append(_block(n, impl, part, style))
            n += 1
    text = "\n".join(blocks)
    if model and trailer:
        text += f"\nHardware\t: BCM2835\nRevision\t: c03114\nModel\t\t: {model}\n"
    dt = (model + "\0") if model and devicetree else None
    got = cpuinfo.describe(text, dt)

    def name(impl, part):
        if (impl, part) in cpuinfo.PARTS:
            return cpuinfo.PARTS[(impl, part)]
        return f"{cpuinfo.IMPLEMENTERS.get(impl, f'implementer {impl:#04x}')} part {part:#05x}"

    names = [name(*c) for c, _ in clusters]
    assert got["cpu"] == " + ".join(f"{k}x {m}" for m, (_, k) in zip(names, clusters, strict=True))
    assert got["core"] == " + ".join(names)
    assert got["board"] == (model if model and (trailer or devicetree) else None)
    assert cpuinfo.cores(text) == [m for m, (_, k) in zip(names, clusters, strict=True)
                                   for _ in range(k)]


@pytest.mark.parametrize("text, dt, want", [
    (PI5, None, ("1x Cortex-A76", "Cortex-A76", "Raspberry Pi 5 Model B Rev 1.0")),
    (X86, None, ("AMD EPYC 9R14 96-Core Processor", None, None)),
    # an arm64 server (AWS Graviton2): no board, Neoverse-N1 cores
    (_block(0, 0x41, 0xD0C, 0) + "\n" + _block(1, 0x41, 0xD0C, 0), None,
     ("2x Neoverse-N1", "Neoverse-N1", None)),
    # an old 32-bit kernel: no MIDR lines, the SoC in 'Hardware'
    ("Processor\t: ARMv7 Processor rev 4 (v7l)\nprocessor\t: 0\nBogoMIPS\t: 38.40\n\n"
     "Hardware\t: BCM2835\n", "Raspberry Pi 3 Model B Plus Rev 1.3\0",
     ("ARMv7 Processor rev 4 (v7l)", None, "Raspberry Pi 3 Model B Plus Rev 1.3")),
    ("", None, (None, None, None)),
])
def test_known_cpuinfo_files(text, dt, want):
    got = cpuinfo.describe(text, dt)
    assert (got["cpu"], got["core"], got["board"]) == want


@given(st.integers(0, 2**20 - 1))
def test_throttle_words_name_every_bit(value):
    words = cpuinfo.throttle_words(hex(value))
    now = [w for b, w in cpuinfo.THROTTLE_BITS.items() if value >> b & 1]
    since = [w for b, w in cpuinfo.THROTTLE_BITS.items() if value >> (b + 16) & 1]
    if value == 0:
        assert words == "none since boot"
        return
    assert (f"{', '.join(now)} now" in words) == bool(now)
    assert (f"{', '.join(since)} since boot" in words) == bool(since)
    assert ("other flags" in words) == bool(value & ~0xF000F)
    assert "0x" not in words.replace("other flags 0x", "")


def test_throttle_words_of_a_pi_on_a_weak_supply():
    assert cpuinfo.throttle_words("0x50005") == ("under-voltage, throttled now; "
                                                 "under-voltage, throttled since boot")
    assert cpuinfo.throttle_words(None) is None and cpuinfo.throttle_words("junk") is None


@pytest.mark.parametrize("fp, kind", [
    ({"machine": "x86_64"}, "host"),
    ({"machine": "aarch64", "board": "Raspberry Pi 5 Model B Rev 1.0",
      "core": "Cortex-A76"}, "sbc"),
    ({"machine": "aarch64", "board": "NVIDIA Jetson Orin Nano Developer Kit",
      "core": "Cortex-A78AE"}, "gpu"),
    ({"machine": "aarch64", "board": None, "core": "Neoverse-N1"}, "host"),
    ({"machine": "aarch64", "board": None, "core": "Cortex-A55"}, "host"),
    ({"machine": "arm64", "system": "Darwin", "core": None}, "host"),
    ({"machine": "aarch64", "os": "Android 14", "core": "Cortex-X3 + Cortex-A510"}, "phone"),
])
def test_machine_kind(fp, kind):
    assert machine_kind(fp) == kind


# ---- a crash on the board ----------------------------------------------------------------

signals = st.sampled_from([4, 6, 7, 8, 11])
ident = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True)


@settings(max_examples=200, deadline=None)
@given(sig=signals, package=st.lists(ident, min_size=1, max_size=3),
       init=st.booleans(), in_import=st.booleans(), threads=st.integers(0, 2),
       site=st.sampled_from(["/home/pi/venv/lib/python3.11/site-packages",
                             "/opt/board/site", "/usr/lib/python3/dist-packages"]),
       shell_line=st.booleans())
def test_crash_report_names_the_signal_and_module(sig, package, init, in_import, threads,
                                                  site, shell_line):
    """What faulthandler and the agent's shell print for a fatal signal, with other
    threads dumped around the current one: the report names the signal and the dotted
    module of the innermost frame of the thread that crashed."""
    from edgekit.remote.board import crash_report, signal_name

    path = f"{site}/{'/'.join(package)}" + ("/__init__.py" if init else ".py")
    module = ".".join(package)
    func = "<module>" if in_import else "load"
    other = ('Thread 0x00007f0000000001 (most recent call first):\n'
             '  File "/home/pi/.cache/edgekit-board/code/x/edgekit/runtimes/agent.py", '
             'line 151 in watch\n  File "/usr/lib/python3.11/threading.py", line 975 in run'
             '\n\n')
    lines = ["Fatal Python error: Aborted" if sig == 6 else "Fatal Python error: "
             "Segmentation fault", "", other * threads
             + "Current thread 0x00007f0000000002 (most recent call first):",
             *(['  File "<frozen importlib._bootstrap>", line 241 in '
                '_call_with_frames_removed'] if in_import else []),
             f'  File "{path}", line 3 in {func}',
             '  File "/x/edgekit/runtimes/litert.py", line 20 in open', "",
             other * (threads > 1)]
    if shell_line:
        lines.append(f"edgekit-agent: killed by signal {sig}")
    report = crash_report(128 + sig, "\n".join(lines), [site, "/x"])
    what = signal_name(sig) if shell_line else lines[0].split(": ", 1)[1]
    where = "while importing it" if in_import else "in load()"
    assert report == f"{what} in module {module} ({where})"


def test_no_crash_is_no_report():
    from edgekit.remote.board import crash_report

    assert crash_report(255, "Connection to 127.0.0.1 closed by remote host.", []) is None
    assert crash_report(1, "ValueError: x", []) is None
    assert crash_report(139, "edgekit-agent: killed by signal 11\n", []) == (
        "SIGSEGV (signal 11), outside Python code")
    # a signal that faulthandler cannot see: nothing of Python printed, said as such
    assert crash_report(137, "edgekit-agent: killed by signal 9\n", []) == (
        "SIGKILL (signal 9): stopped from outside (the out-of-memory killer sends SIGKILL; "
        "see 'dmesg' on the board)")


@settings(max_examples=100, deadline=None)
@given(rest=st.text(st.characters(codec="utf-8", exclude_characters="\0\n"), max_size=20))
def test_remote_words_expand_only_a_leading_tilde(rest, tmp_path_factory):
    """The board's shell (sh here) gets every word back as it was given, except that a
    leading '~/' is its own home."""
    from edgekit.remote.transport import remote_word

    home = str(tmp_path_factory.getbasetemp())
    words = ["~/" + rest, rest, "a~/" + rest, "~" + rest if not rest.startswith("/")
             and rest else "x"]
    script = "printf '%s\\n' " + " ".join(remote_word(w) for w in words)
    out = subprocess.run(["sh", "-c", script], capture_output=True,
                         env={"HOME": home, "PATH": "/usr/bin:/bin"}).stdout.decode()
    want = [home + "/" + rest] + words[1:]
    assert out.split("\n")[:-1] == "\n".join(want).split("\n")


@given(st.integers(1, 2**20 - 1))
def test_a_throttling_warning_says_it_in_words(value):
    """The warning beside a timed row names what the firmware's flags mean."""
    from edgekit.runtimes.measure import state_warning

    said = state_warning({"throttled": "0x0"}, {"throttled": hex(value)})
    assert said.startswith(cpuinfo.throttle_words(hex(value)))
    assert f"(throttling flags 0x0 -> {hex(value)})" in said


# ---- unknown stays unknown in a calibrated profile -------------------------------------


@settings(max_examples=100, deadline=None)
@given(governor=st.one_of(st.none(), st.sampled_from(["ondemand", "performance"])),
       max_freq=st.one_of(st.none(), st.floats(100, 5000)),
       temp=st.one_of(st.none(), st.floats(-20, 110)),
       throttled=st.one_of(st.none(), st.sampled_from(["0x0", "0x50005", "0x80008"])),
       board=st.one_of(st.none(), st.just("Raspberry Pi 5 Model B Rev 1.0")),
       core=st.one_of(st.none(), st.just("Cortex-A76")),
       machine=st.sampled_from(["aarch64", "x86_64"]))
def test_a_profile_writes_only_what_the_machine_reported(tmp_path_factory, governor,
                                                         max_freq, temp, throttled, board,
                                                         core, machine):
    import tomllib

    from edgekit.core.device_profiles import load_profile
    from edgekit.services.calibrate import profile_toml

    fp = {"hostname": "pi", "cpu": "4x Cortex-A76", "core": core, "board": board,
          "machine": machine, "system": "Linux", "os": "Debian", "kernel": "6.6",
          "python": "3.11.2", "usable_cores": 4, "ram_bytes": 8 * 2**30,
          "versions": {"numpy": "2.0"}, "governor": governor, "max_freq_mhz": max_freq,
          "temperature_c": temp, "throttled": throttled}
    m = {"name": "pi", "runtime": "ai-edge-litert 2.3.0", "threads": 4, "fc": [8, 16, 16],
         "runs": 3, "copy_mib": 4, "peak_gflops_fp32": 12.345678, "peak_gops_int8": 50.0,
         "bandwidth_gbs": 3.21, "storage_bytes": 10**9, "fingerprint": fp}
    text = profile_toml(m, "--device pi")
    device = tomllib.loads(text)["device"]
    for key, value in (("governor", governor), ("max_freq_mhz", max_freq),
                       ("temperature_c", temp), ("throttled", throttled),
                       ("board", board), ("core", core)):
        assert (key in device) == (value is not None), key
        if isinstance(value, float):
            assert device[key] == pytest.approx(value, rel=1e-3)
    if throttled:
        assert device["throttling"] == cpuinfo.throttle_words(throttled)
    assert "unknown" not in text and "nan" not in text.lower()
    path = tmp_path_factory.mktemp("p") / "pi.toml"
    path.write_text(text)
    p = load_profile(path)
    assert p.kind == machine_kind(fp) and p.peak_gflops_fp32 == pytest.approx(12.35)


@pytest.mark.parametrize("script, said", [
    ("echo throttled=0x50005", "0x50005"),       # a Pi on a weak supply
    ("echo throttled=0x0", "0x0"),
    ("echo 'VCHI initialization failed' >&2; exit 255", None),   # no access to the firmware
    ("echo nonsense", None),
])
def test_throttled_flags_read_from_vcgencmd(tmp_path, monkeypatch, script, said):
    # a vcgencmd of the Pi's firmware on PATH (a script standing in for it): its
    # get_throttled answer is the fingerprint's 'throttled', a failure or an answer
    # without 'throttled=' none, never an error
    from edgekit.runtimes import env

    fake = tmp_path / "vcgencmd"
    fake.write_text(f"#!/bin/sh\n[ \"$1\" = get_throttled ] || exit 3\n{script}\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert env.throttled() == said
    assert env.state([0])["throttled"] == said


def test_a_vcgencmd_that_hangs_is_given_up(tmp_path, monkeypatch):
    # a firmware call that never answers: given up after its timeout, its process gone
    from edgekit.runtimes import env

    fake = tmp_path / "vcgencmd"
    fake.write_text(f"#!/bin/sh\necho $$ > {tmp_path}/pid\nexec sleep 60\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert env.throttled() is None
    pid = int((tmp_path / "pid").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
