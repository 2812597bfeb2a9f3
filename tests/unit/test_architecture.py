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


# ---- the foundations, enforced on the code (issue 28) -------------------------------------
#
# Every rule below reads the source with ``ast``; each finds, on purpose, what a new feature
# would add if it went around a foundation. Each rule's checker is tested on a small bad file
# (test_each_rule_sees_its_violation) so that none of them can pass by seeing nothing.

# The modules that own a foundation: only they may do what the rule forbids elsewhere.
# files opened for writing, renames: the one writer, and the temporary folders beside it
WRITER = {"edgekit.core.files", "edgekit.core.temp_folders"}
JSON_WRITER = {"edgekit.core.numbers"}              # json.dump(s): allow_nan=False, once
# The board protocol: one JSON line per message between edgekit's own processes (the host
# and the agent it ships), never a document a user keeps; a NaN there is the agent's error.
PROTOCOL = {"edgekit.runtimes.agent", "edgekit.remote.board"}
SIGNALS = {"edgekit.core.interrupts"}               # signal.signal
NUMBER_READER = {"edgekit.core.numbers"}            # int()/float() of text


# What the checks below still find, each owned by an engineer at work on it (issue 28): a
# ratchet. A new violation fails; so does an entry here once its violation is gone (take it
# off the list). Entries are 'module: what' (line numbers move).
PENDING: set[str] = set()


FIXED = "fixed: take it off PENDING above"


def unpending(found: list[str]) -> list[str]:
    """The violations found that are not on the PENDING list."""
    return sorted({re.sub(r"^([\w.]+):\d+:", r"\1:", f) for f in found} - PENDING)


def gone(found: list[str], kind) -> list[str]:
    """The PENDING entries of one rule (``kind`` picks them) that are not found any more."""
    seen = {re.sub(r"^([\w.]+):\d+:", r"\1:", f) for f in found}
    return sorted(p for p in PENDING if kind(p) and p not in seen)


def parsed():
    for module, path in modules():
        yield module, path, ast.parse(path.read_text(), str(path))


def module_graph() -> dict[str, set[str]]:
    """{module: the edgekit modules it imports}, at top level or inside functions (moving
    an import into a function hides a cycle from Python, not from this graph)."""
    names = {m for m, _ in modules()}
    graph: dict[str, set[str]] = {}
    for module, path, tree in parsed():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        found = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name in names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join(parts + ([node.module] if node.module else []))
                for a in node.names:
                    if f"{base}.{a.name}" in names:
                        found.add(f"{base}.{a.name}")
                    elif base in names:
                        found.add(base)
        graph[module] = found - {module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out)


def test_no_import_cycle_between_modules():
    """A cycle means two modules are one responsibility split badly, or a shared piece
    lives in the wrong one: move the shared piece to where it belongs."""
    assert cycles(module_graph()) == []


def private_imports(module: str, tree: ast.AST, names: set[str]) -> list[str]:
    """``from edgekit.x import _name`` and ``x._name`` of an imported edgekit module, in
    another module: a private name is private to its module."""
    found = []
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and \
                node.module.split(".")[0] == "edgekit":
            for a in node.names:
                target = f"{node.module}.{a.name}"
                if target in names:
                    aliases[a.asname or a.name] = target
                elif a.name.startswith("_") and not a.name.startswith("__") and \
                        node.module != module:
                    found.append(f"{module}: from {node.module} import {a.name}")
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name in names and a.asname:
                    aliases[a.asname] = a.name
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and \
                node.value.id in aliases and node.attr.startswith("_") and \
                not node.attr.startswith("__") and aliases[node.value.id] != module:
            found.append(f"{module}: {aliases[node.value.id]}.{node.attr}")
    return found


def test_no_private_name_is_used_across_modules():
    names = {m for m, _ in modules()}
    bad = [f for module, _, tree in parsed() for f in private_imports(module, tree, names)]
    assert unpending(bad) == []
    assert gone(bad, lambda p: " import _" in p) == [], FIXED


def _dotted(node) -> str:
    """'os.replace' for the function a call names (attribute chains of names)."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return "." + ".".join(reversed(parts)) if parts else ""


_WRITE_FLAGS = {"O_WRONLY", "O_RDWR", "O_CREAT", "O_APPEND", "O_TRUNC"}
_RENAMES = {"os.replace", "os.rename", "os.renames", "shutil.move", "shutil.copy",
            "shutil.copyfile", "shutil.copy2", "shutil.copytree"}
_TEMP = {"tempfile.mkstemp", "tempfile.mkdtemp", "tempfile.NamedTemporaryFile",
         "tempfile.TemporaryDirectory", "tempfile.TemporaryFile"}


def _mode(call: ast.Call, position: int) -> str | None:
    args = call.args[position:position + 1] + [k.value for k in call.keywords
                                              if k.arg == "mode"]
    for a in args:
        if isinstance(a, ast.Constant) and isinstance(a.value, str):
            return a.value
        return "?"   # a mode computed at run time: it may write
    return None


def _is_devnull(call: ast.Call) -> bool:
    return bool(call.args) and _dotted(call.args[0]) == "os.devnull"


def named_calls(tree: ast.AST):
    """(call, the dotted name it calls: 'os.replace') of every call in a tree."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node, _dotted(node.func)


def opened_for(call: ast.Call, name: str) -> str | None:
    """'write' or 'read' for an open() of a file (os.devnull is none), else None."""
    if name not in ("open", "io.open") or _is_devnull(call):
        return None
    mode = _mode(call, 1)
    return "write" if mode is not None and set(mode) & set("wax+?") else "read"


def writes(module: str, tree: ast.AST) -> list[str]:
    """Files opened for writing, renamed or made temporary, outside core/files.py."""
    if module in WRITER:
        return []
    found = []
    for node, name in named_calls(tree):
        what = None
        if opened_for(node, name) == "write":
            what = f"open(..., {_mode(node, 1)!r})"
        elif name == "os.open" and not _is_devnull(node):
            flags = {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)}
            if flags & _WRITE_FLAGS:
                what = "os.open for writing"
        elif name.endswith((".write_text", ".write_bytes")) and name != "F.write_text":
            what = name.rpartition(".")[2]
        elif name in _RENAMES or name in _TEMP:
            what = name
        if what:
            found.append((node.lineno, f"{module}:{node.lineno}: {what}"))
    return [f for _, f in sorted(found)]


def _imported_from(tree: ast.AST, module: str) -> set[str]:
    """Names bound by ``from module import name``."""
    return {a.asname or a.name for n in ast.walk(tree)
            if isinstance(n, ast.ImportFrom) and n.module == module for a in n.names}


def calls_of(module: str, tree: ast.AST, owners: set[str], names: set[str],
             module_name: str) -> list[str]:
    """Calls of ``names`` ('json.dumps') or of the same names imported from
    ``module_name`` ('from json import dumps'), outside ``owners``."""
    if module in owners:
        return []
    direct = {n.rpartition(".")[2] for n in names} & _imported_from(tree, module_name)
    return [f"{module}:{node.lineno}: {name}" for node, name in named_calls(tree)
            if name in names or name in direct]


def test_only_the_writer_opens_files_for_writing():
    """Every output through core/files.py: never onto an input, atomically, through links,
    nothing left after an interrupt (write_output, write_text, output_file, move_output,
    temp_folder)."""
    bad = [f for module, _, tree in parsed() for f in writes(module, tree)]
    assert unpending(bad) == []
    assert gone(bad, lambda p: "write" in p or "open(" in p) == [], FIXED


# the reader; the writer's copies of what it wrote; the hash of edgekit's own artefacts
READER = {"edgekit.core.reading", "edgekit.core.files", "edgekit.core.hashing"}
NOT_USER_FILE = re.compile(r"#.*\bnot a user file\b")


def reads(module: str, tree: ast.AST, lines: list[str] | None = None) -> list[str]:
    """Files opened or read whole outside core/reading.py (open() for reading, np.load,
    Path.read_bytes/read_text, json.load, tomllib.load): a user's file goes through
    open_input (registered, a regular file, within its limit). What is not a user's file
    (/proc, the package's own data, a converter's output in edgekit's temporary folder)
    says so on its line ('# not a user file: /proc')."""
    if module in READER:
        return []
    lines = lines or []
    found = []
    for node, name in named_calls(tree):
        what = None
        if opened_for(node, name) == "read":
            what = "open(...) for reading"
        elif name in ("np.load", "numpy.load", "json.load", "tomllib.load"):
            what = name
        elif name.endswith((".read_bytes", ".read_text")):
            what = name.rpartition(".")[2]
        if what and not (node.lineno <= len(lines) and
                         NOT_USER_FILE.search(lines[node.lineno - 1])):
            found.append(f"{module}:{node.lineno}: {what}")
    return found


def test_user_files_are_read_through_the_one_reader():
    bad = [f for module, path, tree in parsed()
           for f in reads(module, tree, path.read_text().splitlines())]
    assert unpending(bad) == []
    assert gone(bad, lambda p: ": open(...) for" in p or ": np.load" in p or ": read_" in p
                or ": json.load" in p or ": tomllib.load" in p) == [], FIXED


def test_only_the_json_writer_writes_json():
    """JSON through core.numbers.dumps (allow_nan=False: NaN is not JSON)."""
    bad = [f for module, _, tree in parsed()
           for f in calls_of(module, tree, JSON_WRITER | PROTOCOL, {"json.dump", "json.dumps"},
                             "json")]
    assert unpending(bad) == []
    assert gone(bad, lambda p: "json.dump" in p) == [], FIXED


def test_only_the_interrupt_module_installs_signal_handlers():
    bad = [f for module, _, tree in parsed()
           for f in calls_of(module, tree, SIGNALS, {"signal.signal"}, "signal")]
    assert bad == []


_TEXT_METHODS = {"group", "groups", "groupdict", "strip", "lstrip", "rstrip", "split",
                 "rsplit", "partition", "rpartition", "removeprefix", "removesuffix",
                 "replace", "getenv", "readline", "read", "decode", "input"}


def _is_text(node: ast.AST, text_names: set[str]) -> bool:
    """An expression that is text a user (an option, a file, the environment, a regex over
    either) gave: a str method's result, a subscript of one, os.environ, a name bound to
    text (a ``str`` parameter, a loop or comprehension variable over such text)."""
    if isinstance(node, ast.Subscript):
        return _is_text(node.value, text_names) or _dotted(node.value) in (
            "os.environ", "sys.argv")
    if isinstance(node, ast.Call):
        name = _dotted(node.func)
        return name.rpartition(".")[2] in _TEXT_METHODS or name in (
            "os.environ.get", "re.split", "input")
    if isinstance(node, ast.Name):
        return node.id in text_names
    return False


def text_names(func: ast.AST) -> set[str]:
    """The names in a function that hold text: its ``str`` parameters, and the variables of
    loops and comprehensions over text (``for p in text.split('x')``)."""
    found = set()
    if isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
        for a in func.args.args + func.args.kwonlyargs:
            if a.annotation is not None and \
                    ast.unparse(a.annotation) in ("str", "str | None", "Optional[str]"):
                found.add(a.arg)
    for _ in range(2):   # a variable over a variable over text
        for node in ast.walk(func):
            if isinstance(node, ast.For | ast.comprehension) and \
                    _is_text(node.iter, found) and isinstance(node.target, ast.Name):
                found.add(node.target.id)
            elif isinstance(node, ast.Assign) and _is_text(node.value, found):
                found |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return found


MACHINE_TEXT = re.compile(r"#.*\bnot user text\b")


def numbers_from_text(module: str, tree: ast.AST, lines: list[str] | None = None
                      ) -> list[str]:
    """int()/float() of user text outside core/numbers.py (int('٣') is 3: Python reads the
    digits of every script; read_number takes ASCII decimals, finite, in range). Text a
    machine wrote (/proc, a runtime's tensor names, edgekit's own messages) is not user
    text: its line says so in a comment ('# not user text: /proc')."""
    if module in NUMBER_READER:
        return []
    lines = lines or []
    found = []
    scopes = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef |
                                                      ast.AsyncFunctionDef | ast.Lambda)]
    for scope in [tree, *scopes]:
        names = text_names(scope) if scope is not tree else set()
        for node in ast.walk(scope):
            if isinstance(node, ast.Call) and _dotted(node.func) in ("int", "float") and \
                    node.args and _is_text(node.args[0], names) and not (
                    node.lineno <= len(lines) and MACHINE_TEXT.search(lines[node.lineno - 1])):
                found.append(f"{module}:{node.lineno}: {ast.unparse(node)}")
    return sorted(set(found))


def test_numbers_from_text_go_through_the_number_reader():
    bad = [f for module, path, tree in parsed()
           for f in numbers_from_text(module, tree, path.read_text().splitlines())]
    assert unpending(bad) == []
    assert gone(bad, lambda p: ": int(" in p or ": float(" in p) == [], FIXED


# User text reaches the terminal only through report/user_text.py (issue 28: a '[red]', '[/]'
# or ':smile:' in a name the user gave is printed as it is): Rich's tables and its markup
# parser are used there, Rich's consoles are made in cli/common.py (emoji off, a markup
# error printed as text); nowhere else. core/schema.Table is not Rich's: names are resolved
# through each module's imports.
RICH_OWNERS = {
    "rich.table.Table": {"edgekit.report.user_text"},
    "rich.text.Text.from_markup": {"edgekit.report.user_text"},
    "rich.console.Console": {"edgekit.cli.common"},
    "rich.print": set(),
    "rich.get_console": set(),
}


def rich_bindings(tree: ast.AST) -> dict[str, str]:
    """{a name in the module: the Rich object its imports bind it to}."""
    bound = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and \
                node.module.split(".")[0] == "rich":
            bound.update({a.asname or a.name: f"{node.module}.{a.name}" for a in node.names})
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "rich":
                    bound[a.asname or "rich"] = a.name if a.asname else "rich"
    return bound


def rich_output(module: str, tree: ast.AST) -> list[str]:
    """Rich tables, consoles and markup parsers called (made) or subclassed outside the
    module that owns each (RICH_OWNERS)."""
    bound = rich_bindings(tree)
    found = []

    def check(node, expr: ast.AST, how: str) -> None:
        head, _, rest = _dotted(expr).partition(".")
        if head not in bound:
            return
        full = bound[head] + ("." + rest if rest else "")
        for owned, owners in RICH_OWNERS.items():
            if (full == owned or full.startswith(owned + ".")) and module not in owners:
                found.append(f"{module}:{node.lineno}: {how} {full}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            check(node, node.func, "calls")
        elif isinstance(node, ast.ClassDef):
            for base in node.bases:
                check(node, base, "subclasses")
    return sorted(found)


def test_user_text_reaches_the_terminal_only_through_user_text():
    bad = [f for module, _, tree in parsed() for f in rich_output(module, tree)]
    assert bad == []


RICH_SOURCE = '''
from rich.table import Table as Grid
import rich.console
from rich.text import Text
from edgekit.core import schema as S
from edgekit.report.user_text import text_table

S.Table({"a": S.Str()})
text_table("title", console).add_row(name)
Text(name)
class Wide(Grid):
    pass
Grid.grid()
rich.console.Console().print(name)
Text.from_markup(name)
'''


def test_the_rich_rule_sees_its_violations(tmp_path):
    """A Rich table, console or markup parsed anywhere but its owner fails the rule; the
    schema's Table, user_text's own helpers and a plain Text do not."""
    found = [f.split(": ", 1)[1] for f in rich_output("edgekit.x", ast.parse(RICH_SOURCE))]
    assert found == ["subclasses rich.table.Table", "calls rich.table.Table.grid",
                     "calls rich.console.Console", "calls rich.text.Text.from_markup"]
    owner = rich_output("edgekit.report.user_text", ast.parse(RICH_SOURCE))
    assert [f.split(": ", 1)[1] for f in owner] == ["calls rich.console.Console"]
    # a real renderer, copied and given a Rich table of its own in place of user_text's
    real = PKG / "report" / "bench.py"
    source = real.read_text()
    assert "text_table(" in source and rich_output("edgekit.report.bench",
                                                   ast.parse(source)) == []
    copy = tmp_path / "bench.py"
    copy.write_text("from rich.table import Table\n" + source.replace("text_table(", "Table(", 1))
    found = rich_output("edgekit.report.bench", ast.parse(copy.read_text()))
    assert len(found) == 1 and found[0].endswith(": calls rich.table.Table"), found


BAD_SOURCE = '''
import json, os, re, signal
from edgekit.core.files import _descriptor
from edgekit.core import files as F

def f(value: str, path):
    with open(path, "w") as out:
        out.write(json.dumps({}))
    os.replace(path, path + ".x")
    signal.signal(signal.SIGHUP, None)
    F._kind(path)
    m = re.match(r"(\\d+)", value)
    return int(value), float(m.group(1)), [int(p) for p in value.split("x")]
'''


def test_each_rule_sees_its_violation():
    tree = ast.parse(BAD_SOURCE)
    names = {m for m, _ in modules()}
    assert len(private_imports("edgekit.x", tree, names)) == 2
    assert [w.split(": ")[1] for w in writes("edgekit.x", tree)] == \
        ["open(..., 'w')", "os.replace"]
    assert len(calls_of("edgekit.x", tree, JSON_WRITER, {"json.dumps"}, "json")) == 1
    assert len(calls_of("edgekit.x", tree, SIGNALS, {"signal.signal"}, "signal")) == 1
    assert len(numbers_from_text("edgekit.x", tree)) == 3
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert numbers_from_text("edgekit.core.numbers", tree) == []
    reading = ("import numpy as np\nnp.load(p)\nopen(p)\nopen(p, 'rb')\nPath(p).read_bytes()\n"
               "open('/proc/x')  # not a user file: /proc\n")
    assert len(reads("edgekit.x", ast.parse(reading), reading.splitlines())) == 4
    marked = BAD_SOURCE.splitlines()
    marked[-1] += "  # not user text: a test"
    assert numbers_from_text("edgekit.x", tree, marked) == []
