import sys
from pathlib import Path

import pytest

SHARED_MODELS = Path(__file__).resolve().parents[2] / "shared" / "models"


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
