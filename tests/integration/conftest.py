import pytest

from edgekit.services.analyze import analyze
from edgekit.services.targets import resolve_target

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def keras():
    from edgekit._tf import keras

    return keras


def zoo_report(name, batch=1, dtype="float32", **knobs):
    return analyze(resolve_target(name, knobs), batch=batch, dtype=dtype)


# ---- boards (issue 23): the aarch64 board and an sshd whose login has its own home -------

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]
ARM_PYTHON = ROOT / ".venv" / "armboard" / "bin" / "python"


def _need(what: list[tuple[str, bool]], how: str, required: bool) -> None:
    missing = [w for w, ok in what if not ok]
    if missing:
        message = f"missing {', '.join(missing)}: run '{how}'"
        if required and __import__("os").environ.get("EDGEKIT_REQUIRE_BOARD") == "1":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def home_board(tmp_path_factory):
    """OpenSSH's sshd on 127.0.0.1 whose login gets HOME = a fresh folder (sshd's
    SetEnv), so that '~/...' on the board and its cache (~/.cache/edgekit-board) are the
    test's own: ``home_board.home``."""
    import sys

    sys.path.insert(0, str(ROOT / "tools"))
    from loopback_board import LoopbackBoard, sshd_available

    _need([("sshd (openssh-server)", sshd_available())], "make sshd", True)
    with LoopbackBoard(tmp_path_factory.mktemp("sshd")) as b:   # HOME: b.home
        yield b


@pytest.fixture(scope="module")
def arm_python():
    """The emulated aarch64 board's Python (make armboard); required under make test
    where it can be built (as root, or with qemu-aarch64-static there)."""
    import os
    import shutil

    buildable = os.geteuid() == 0 or shutil.which("qemu-aarch64-static") is not None
    _need([("the aarch64 board (.venv/armboard)", ARM_PYTHON.exists()
            and (ARM_PYTHON.parent.parent / ".installed").exists())], "make armboard",
          buildable)
    return ARM_PYTHON


@pytest.fixture
def add_device(cli, home_board):
    """add_device(NAME, PYTHON): the board over home_board's sshd, as the user adds it."""

    def add(name: str, python) -> str:
        opts = [a for o in home_board.ssh_options for a in ("--ssh-option", o)]
        r = cli("devices", "add", name, home_board.url, "--python", str(python), *opts)
        assert r.code == 0, r.err
        return name

    return add
