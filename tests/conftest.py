import sys
from pathlib import Path

import pytest
from hypothesis import settings

# Real models made by others (tensorflow/tflite-micro, Apache-2.0): in the repository with their
# licence and origin (tests/data/third_party/README.md), so the suite needs nothing beside it.
THIRD_PARTY_MODELS = Path(__file__).resolve().parent / "data" / "third_party"

# The property tests generate the same examples on every run of `make test` (CI cannot be
# failed by a draw that the previous run did not make); `pytest --hypothesis-profile=explore`
# draws new ones, many more of them, to look for what the fixed draw misses.
settings.register_profile("repeatable", derandomize=True, database=None)
settings.register_profile("explore", max_examples=1000, database=None)
settings.load_profile("repeatable")


# Nothing a test runs may leave files in the working folder (a library that saves into the
# current folder, as onnxruntime's symbolic shape inference does when it stops, is the class):
# the folder's entries at the start of the run are compared with those at its end, by the
# process that started the run (xdist's workers share its folder), and the run fails on any new.
_CACHES = {".pytest_cache", ".hypothesis", ".ruff_cache", "__pycache__"}


def _working_folder_entries() -> set[str]:
    return {p.name for p in Path.cwd().iterdir()} - _CACHES


def pytest_sessionstart(session):
    if not hasattr(session.config, "workerinput"):
        session.config._edgekit_cwd_entries = _working_folder_entries()


def pytest_sessionfinish(session, exitstatus):
    before = getattr(session.config, "_edgekit_cwd_entries", None)
    if before is None:
        return
    new = sorted(_working_folder_entries() - before)
    if new:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        line = (f"the tests left {len(new)} new entries in the working folder {Path.cwd()}: "
                + ", ".join(new[:20]))
        if reporter is not None:
            reporter.write_line("")
            reporter.write_sep("!", line, red=True)
        else:
            print(line, file=sys.stderr)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session", autouse=True)
def _no_autograph_litter():
    """TensorFlow's autograph writes the functions it converts to $TMPDIR as
    __autograph_generated_file*.py and removes them at interpreter exit; a test worker that
    ends without running exit handlers (xdist) would leave them: removed here."""
    import tempfile
    import time

    start = time.time()
    yield
    for path in Path(tempfile.gettempdir()).glob("__autograph_generated_file*.py"):
        try:
            if path.stat().st_mtime >= start - 1:
                path.unlink()
        except OSError:
            pass


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    """Every test session (each xdist worker) exports into a cache of its own, never the
    user's ~/.cache/edgekit: a stale artefact from another build cannot make a test pass."""
    mp = pytest.MonkeyPatch()
    mp.setenv("EDGEKIT_CACHE", str(tmp_path_factory.mktemp("edgekit-cache")))
    yield
    mp.undo()


@pytest.fixture(autouse=True)
def _private_config(tmp_path, monkeypatch):
    """Every test reads and writes device profiles in a config folder of its own."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("EDGEKIT_PROFILES", raising=False)


class CliResult:
    def __init__(self, code, out, err):
        self.code, self.out, self.err = code, out, err

    @property
    def err_lines(self):
        return [line for line in self.err.splitlines() if line.strip()]


@pytest.fixture
def cli(capsys, monkeypatch):
    """Run the edgekit CLI in-process: cli('analyze', 'mobilenet') -> CliResult."""
    from edgekit.cli.main import main

    def run(*args):
        monkeypatch.setenv("COLUMNS", "100")
        monkeypatch.setenv("EDGEKIT_QUIET", "1")      # progress lines: test_cli_polish
        monkeypatch.delenv("EDGEKIT_DEBUG", raising=False)
        code = 0
        try:
            main([str(a) for a in args])
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


def run_fresh(code: str) -> str:
    """Run python code in a fresh interpreter and return its stdout."""
    import subprocess

    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    return res.stdout
