"""A regular (non-editable) install has everything: the device profiles ship inside the
wheel as package data. Built offline from this checkout (no build isolation, no deps:
the test's environment already has them)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_pip_install_ships_the_profiles(tmp_path):
    import shutil

    src = tmp_path / "src"  # a copy: an in-tree build would leave build/ in the checkout
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src)
    for name in ("edgekit", "profiles"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    target = tmp_path / "site"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--no-build-isolation", "--target", str(target), str(src)],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "PIP_NO_CACHE_DIR": "1"})
    assert build.returncode == 0, build.stderr[-2000:]
    shipped = sorted(p.name for p in (target / "edgekit" / "profiles").glob("*.toml"))
    assert shipped == sorted(p.name for p in (ROOT / "profiles").glob("*.toml"))
    code = ("import sys, edgekit; assert edgekit.__file__.startswith(sys.argv[1]), "
            "edgekit.__file__; from edgekit.cli.main import main; main(sys.argv[2:])")
    env = {**os.environ, "PYTHONPATH": str(target), "COLUMNS": "200"}
    listed = subprocess.run([sys.executable, "-c", code, str(target), "profiles", "--json"],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    assert listed.returncode == 0, listed.stderr
    import json

    names = {p["name"] for p in json.loads(listed.stdout)["profiles"]}
    assert names == {p.stem for p in (ROOT / "profiles").glob("*.toml")}
    assert all(p["path"].startswith(str(target)) for p in json.loads(listed.stdout)["profiles"])
    fit = subprocess.run([sys.executable, "-c", code, str(target), "analyze", "--profile",
                          "stm32h7", "--summary", "--dtype", "int8"],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert fit.returncode == 0, fit.stderr
    assert "on stm32h7" in fit.stdout and "fits" in fit.stdout
