"""The shape of the house, checked on the source: the direction of imports between the
layers, a runtime layer that can travel without edgekit, the package list of the wheel,
and function length."""

import ast
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "edgekit"

# Who may import whom (edgekit packages; "edgekit" is the root module with __version__,
# "_tf" the one module that imports TensorFlow/Keras). A lower layer never imports a
# higher one; the layers of one rank never import each other.
ALLOWED = {
    "core": {"core", "edgekit"},
    "runtimes": {"runtimes", "core", "edgekit"},
    "report": {"report", "core", "edgekit"},
    "zoo": {"zoo", "core", "edgekit", "_tf"},
    "readers": {"readers", "core", "edgekit", "_tf"},
    "export": {"export", "runtimes", "core", "edgekit", "_tf"},
    "bench": {"bench", "runtimes", "core", "edgekit", "_tf"},
    # the transport and board session: they copy the runtime layer's files, never import it
    "remote": {"remote", "core", "edgekit"},
    "services": {"services", "zoo", "readers", "export", "bench", "remote", "runtimes",
                 "core", "edgekit", "_tf"},
    "cli": {"cli", "services", "report", "zoo", "bench", "export", "runtimes", "core",
            "edgekit"},
    "_tf": {"core"},
}


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "edgekit"


def edgekit_imports(path: Path) -> set[str]:
    """Every edgekit module a file imports, at top level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "edgekit"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] == "edgekit":
                found.add(node.module)
    return found


def modules():
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        yield ".".join(rel.parts).removesuffix(".__init__"), path


@pytest.mark.parametrize("module, path", list(modules()), ids=lambda v: str(v))
def test_imports_follow_the_layers(module, path):
    layer = layer_of(module)
    if layer in ("edgekit", "__main__"):
        return
    allowed = ALLOWED[layer]
    if module == "edgekit.runtimes.keras_runner":
        allowed = allowed | {"_tf"}      # Keras is the runtime it adapts
    bad = sorted(m for m in edgekit_imports(path) if layer_of(m) not in allowed)
    assert not bad, f"{module} ({layer}) imports {bad}"


def test_the_layer_rules_themselves():
    """The table above encodes the issue's rules: core imports only core, nothing below
    the CLI imports the CLI, export and bench never import each other."""
    assert ALLOWED["core"] == {"core", "edgekit"}
    assert all("cli" not in v for k, v in ALLOWED.items() if k != "cli")
    assert "bench" not in ALLOWED["export"] and "export" not in ALLOWED["bench"]
    assert "services" not in set().union(*(v for k, v in ALLOWED.items()
                                            if k not in ("services", "cli")))


def test_the_checker_sees_a_violation(tmp_path):
    bad = tmp_path / "x.py"
    bad.write_text("def f():\n    from edgekit.services.analyze import analyze\n")
    assert edgekit_imports(bad) == {"edgekit.services.analyze"}
    assert layer_of("edgekit.services.analyze") not in ALLOWED["export"]


def test_wheel_lists_every_package():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(data["tool"]["setuptools"]["packages"])
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in PKG.rglob("__init__.py")}
    assert on_disk | {"edgekit.profiles"} == listed
    assert data["tool"]["setuptools"]["package-dir"]["edgekit.profiles"] == "profiles"


LONG = 60


def long_functions():
    for module, path in modules():
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                first = min([d.lineno for d in node.decorator_list] + [node.lineno])
                reason = re.search(r"#\s*long:", lines[first - 2]) if first > 1 else None
                if length > LONG and not reason:
                    yield f"{module}.{node.name}: {length} lines"


def test_no_function_is_long_without_a_reason():
    """Functions over 60 lines need a '# long: why' comment on the line above them."""
    assert list(long_functions()) == []
