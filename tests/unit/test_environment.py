"""The environment as a class (issue 31): every variable that names a folder edgekit keeps
(HOME, XDG_CONFIG_HOME, XDG_CACHE_HOME, EDGEKIT_CACHE, EDGEKIT_PROFILES) × every kind of
value (empty, relative, a file, a folder, a dangling link, a control character) gives
either an absolute folder by the documented rule (core.places) or one line (exit 2) — never
a folder relative to wherever edgekit runs."""

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgekit.core import places
from edgekit.core.errors import UsageError

FOLDER_VARIABLES = ["HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "EDGEKIT_CACHE",
                    "EDGEKIT_PROFILES"]
KINDS = ["unset", "empty", "relative", "file", "folder", "dangling", "control", "missing"]


def value_of(kind: str, where: Path) -> str | None:
    (where / "afile.toml").write_text("")
    (where / "folder").mkdir(exist_ok=True)
    if not os.path.lexists(where / "dangling"):
        os.symlink(where / "nowhere", where / "dangling")
    return {"unset": None, "empty": "", "relative": "rel/dir",
            "file": str(where / "afile.toml"), "folder": str(where / "folder"),
            "dangling": str(where / "dangling"), "control": str(where / "a\nb"),
            "missing": str(where / "missing")}[kind]


def places_now() -> dict:
    """Each folder edgekit derives from the environment, or the line it says instead."""
    out = {}
    for name, fn in (("home", places.home), ("config", places.config_dir),
                     ("cache", places.cache_dir), ("profiles", places.profile_sources),
                     ("cache check", places.check_cache_folder)):
        try:
            out[name] = fn()
        except UsageError as e:
            assert e.exit_code == 2 and "\n" not in str(e), str(e)
            out[name] = e
    return out


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.sampled_from(FOLDER_VARIABLES), st.sampled_from(KINDS),
                       min_size=1, max_size=3))
def test_every_folder_variable_by_every_kind(tmp_path, monkeypatch, chosen):
    monkeypatch.chdir(tmp_path)
    for name, kind in chosen.items():
        value = value_of(kind, tmp_path)
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    got = places_now()
    for key in ("home", "config", "cache"):
        if isinstance(got[key], Path):
            assert got[key].is_absolute(), (key, got[key])
    # the documented rules, read off the variables
    env = {n: os.environ.get(n, "") for n in FOLDER_VARIABLES}
    if isinstance(got["config"], Path):
        xdg = env["XDG_CONFIG_HOME"]
        assert got["config"] == (Path(xdg) if os.path.isabs(xdg) else
                                 places.home() / ".config") / "edgekit"
    if env["EDGEKIT_CACHE"] and not os.path.isabs(env["EDGEKIT_CACHE"]):
        assert isinstance(got["cache"], UsageError)
    elif isinstance(got["cache"], Path) and env["EDGEKIT_CACHE"]:
        assert got["cache"] == Path(env["EDGEKIT_CACHE"])
    if env["EDGEKIT_CACHE"] in (str(tmp_path / "afile.toml"), str(tmp_path / "dangling")):
        assert isinstance(got["cache check"], UsageError)
    if env["EDGEKIT_PROFILES"] in (str(tmp_path / "afile.toml"), str(tmp_path / "folder")):
        assert got["profiles"] == [Path(env["EDGEKIT_PROFILES"])]
    elif env["EDGEKIT_PROFILES"] and env["EDGEKIT_PROFILES"] != "rel/dir":
        assert isinstance(got["profiles"], UsageError) or got["profiles"] == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile.toml", "dangling",
                                                          "folder"], "made in the cwd"


def test_a_read_only_home_is_said_before_any_work(tmp_path, monkeypatch):
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    home = tmp_path / "home"
    home.mkdir(mode=0o555)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("EDGEKIT_CACHE", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    with pytest.raises(UsageError, match="not writable .*set EDGEKIT_CACHE"):
        places.check_cache_folder()


def test_edgekit_profiles_naming_a_file(tmp_path, monkeypatch):
    from edgekit.core.device_profiles import get_profile, shipped_dir

    text = (shipped_dir() / "stm32h7.toml").read_text().replace('name = "stm32h7"',
                                                                'name = "mine"')
    assert 'name = "mine"' in text
    (tmp_path / "mine.toml").write_text(text)
    monkeypatch.setenv("EDGEKIT_PROFILES", str(tmp_path / "mine.toml"))
    assert get_profile("mine").path == tmp_path / "mine.toml"


def test_every_variable_edgekit_reads_is_listed():
    """The table of variables (README) is the code's: a new os.environ/getenv read of a
    name not in places.VARIABLES fails here."""
    import re

    root = Path(places.__file__).resolve().parents[1]
    read = set()
    for path in root.rglob("*.py"):
        text = path.read_text()
        read |= set(re.findall(r"""(?:environ\.get|getenv|environ\[)\(?\s*["']([A-Z_]+)""",
                               text))
    written_only = {"ORT_DISABLE_TELEMETRY", "TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS",
                    "RAY_USAGE_STATS_ENABLED", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN"}
    assert read - written_only <= set(places.VARIABLES), read - set(places.VARIABLES)


def test_more_threads_than_cores_is_a_warning_line(cli, monkeypatch):
    """'profiles calibrate --threads N' beyond this machine's usable cores (the scheduler's
    affinity mask, read independently here) says so in one warning line, before measuring."""
    from edgekit.core.errors import UsageError as Stop
    from edgekit.runtimes.env import threads_beyond_cores

    cores = len(os.sched_getaffinity(0))
    assert threads_beyond_cores(cores) is None and threads_beyond_cores(None) is None
    assert f"{cores} usable core" in threads_beyond_cores(cores + 2)
    assert threads_beyond_cores(8, usable=4).startswith("--threads 8 on 4 usable cores")

    def stop(*args, **kwargs):
        raise Stop("stopped before measuring")

    monkeypatch.setattr("edgekit.services.calibrate.calibrate_host", stop)
    r = cli("profiles", "calibrate", "--threads", cores + 2)
    lines = r.err.splitlines()
    assert r.code == 2 and len(lines) == 2, r.err
    assert lines[0].startswith(f"warning: --threads {cores + 2} on {cores} usable core")
    r = cli("profiles", "calibrate", "--threads", cores)
    assert "warning" not in r.err, r.err


@pytest.mark.parametrize("name", sorted(set(places.VARIABLES) - {"COLUMNS", "RAY_ADDRESS"}))
@pytest.mark.parametrize("kind", ["empty", "relative", "file", "folder", "dangling"])
def test_every_variable_through_the_cli(cli, tmp_path, monkeypatch, name, kind):
    """Each variable edgekit reads, by each kind of value, through commands that read the
    settings and profiles: they work (a documented fallback) or say one line, exit 2;
    nothing is made in the working folder. (COLUMNS: the harness sets it; test_cli_polish
    draws it.)"""
    where = tmp_path / "where"
    where.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    value = value_of(kind, where) if kind != "relative" else "rel"
    monkeypatch.setenv(name, value)
    for args in (["devices", "--json"], ["profiles"]):
        r = cli(*args)
        assert r.code in (0, 2), (args, r.code, r.err)
        assert "Traceback" not in r.err
        if r.code == 2:
            assert len(r.err.strip().splitlines()) == 1, r.err
            assert name in r.err or value in r.err, r.err      # says what is wrong
    assert not list(work.iterdir()), list(work.iterdir())
