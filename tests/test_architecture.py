"""The arrows of DESIGN.md, checked on the source: no upward import, one clock, lazy heavy imports.

``cli, pytest_plugin -> scenarios -> bench -> nodes, dut -> bus``; only ``bus`` imports
python-can and cantools; ``plant`` and
``dut/compute`` import neither ``bus`` nor python-can.  Imports are read with
``ast`` (function-level ones included), so a lazy import that breaks the
layering is caught as well as a top-level one.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

import hilbench

PACKAGE_DIR = Path(hilbench.__file__).resolve().parent
ROOT = PACKAGE_DIR.parent

#: module prefix -> module prefixes it must not import (DESIGN.md "Layout")
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "hilbench.plant": ("can", "cantools", "hilbench.bus", "hilbench.nodes", "hilbench.dut",
                       "hilbench.bench", "hilbench.scenarios", "hilbench.cli", "hilbench.pytest_plugin"),
    # "hilbench.dut": the CAN side of the DUT (emulator) sits above its CAN-free core
    "hilbench.dut.compute": ("can", "cantools", "hilbench.bus", "hilbench.nodes", "hilbench.bench",
                             "hilbench.scenarios", "hilbench.cli", "hilbench.pytest_plugin", "hilbench.dut"),
    "hilbench.bus": ("hilbench.nodes", "hilbench.dut", "hilbench.bench", "hilbench.scenarios",
                     "hilbench.cli", "hilbench.pytest_plugin"),
    "hilbench.nodes": ("hilbench.bench", "hilbench.scenarios", "hilbench.cli", "hilbench.pytest_plugin"),
    "hilbench.dut": ("hilbench.bench", "hilbench.scenarios", "hilbench.cli", "hilbench.pytest_plugin"),
    "hilbench.bench": ("hilbench.scenarios", "hilbench.cli", "hilbench.pytest_plugin"),
    "hilbench.scenarios": ("hilbench.cli", "hilbench.pytest_plugin"),
}
_ABOVE_CLOCK = ("hilbench.plant", "hilbench.bus", "hilbench.nodes", "hilbench.dut", "hilbench.bench",
                "hilbench.scenarios", "hilbench.cli", "hilbench.pytest_plugin")
FORBIDDEN["hilbench.clock"] = _ABOVE_CLOCK
FORBIDDEN["hilbench.errors"] = (*_ABOVE_CLOCK, "hilbench.clock")
# The schema machinery is shared by every loader, the plant's chemistries included: it knows no layer.
FORBIDDEN["hilbench.schema"] = (*_ABOVE_CLOCK, "hilbench.clock", "can", "cantools")
# Campaigns (sweeps) sit above the scenarios and below the CLI: no lower layer imports them.
for _lower in ("hilbench.plant", "hilbench.bus", "hilbench.nodes", "hilbench.dut", "hilbench.bench",
               "hilbench.scenarios", "hilbench.clock", "hilbench.errors", "hilbench.schema"):
    FORBIDDEN[_lower] = (*FORBIDDEN[_lower], "hilbench.campaigns")
FORBIDDEN["hilbench.campaigns"] = ("hilbench.cli", "hilbench.pytest_plugin", "tui")

#: calls that read the wall clock or sleep
CLOCK_CALLS = {
    ("time", "time"), ("time", "time_ns"), ("time", "sleep"), ("time", "perf_counter"),
    ("time", "perf_counter_ns"), ("time", "monotonic"), ("time", "monotonic_ns"),
    ("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"), ("date", "today"),
}
#: (module, enclosing function or None for the whole module) allowed to read the clock
CLOCK_ALLOWED = {
    ("hilbench.clock", None),
    ("hilbench.dut.compute.calibration", "measure_tokens_per_s"),
}
CLOCK_ALLOWED_PACKAGES: tuple[str, ...] = ()   # the CLI times itself through hilbench.clock.wall_time_s


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def _module_name(path: Path, root: Path = ROOT) -> str:
    """The dotted name of the module at ``path`` in the tree under ``root``."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int


def imports_of(source: str, module: str, is_package: bool) -> list[Edge]:
    """Every module ``module`` imports, relative imports resolved, ``from x import y`` as x and x.y."""
    tree = ast.parse(source)
    package = module if is_package else module.rpartition(".")[0]
    edges: list[Edge] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            edges.extend(Edge(module, alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts)
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            edges.append(Edge(module, target, node.lineno))
            edges.extend(Edge(module, f"{target}.{alias.name}", node.lineno) for alias in node.names)
    return edges


def upward_edges(edges: list[Edge]) -> list[str]:
    bad = []
    for edge in edges:
        for prefix, forbidden in FORBIDDEN.items():
            if not _under(edge.source, prefix):
                continue
            for target in forbidden:
                if _under(edge.target, target) and not _under(edge.target, prefix):
                    bad.append(f"{edge.source} (line {edge.line}) imports {edge.target}: "
                               f"{prefix} must not import {target}")
    return bad


def clock_reads(source: str, module: str) -> list[str]:
    """Calls of the wall clock / sleep, with the function they sit in, unless allowed."""
    tree = ast.parse(source)
    # local name -> ("time", None) for the module, or ("time", "sleep") for an imported function
    names: dict[str, tuple[str, str | None]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in ("time", "datetime"):
                    names[alias.asname or alias.name] = (alias.name, None)
        elif isinstance(node, ast.ImportFrom) and node.module in ("time", "datetime") and not node.level:
            for alias in node.names:
                if node.module == "time":
                    names[alias.asname or alias.name] = ("time", alias.name)
                else:   # from datetime import datetime / date: a class whose .now() reads the clock
                    names[alias.asname or alias.name] = (alias.name, None)

    found: list[str] = []

    def visit(node: ast.AST, function: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            inner = function
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                inner = child.name if function is None else function
            if isinstance(child, ast.Call):
                call = _clock_call(child.func, names)
                if call and not _clock_allowed(module, function):
                    found.append(f"{module} line {child.lineno}"
                                 f"{' in ' + function + '()' if function else ''} calls {'.'.join(call)}")
            visit(child, inner)

    visit(tree, None)
    return found


def _clock_call(func: ast.AST, names: dict[str, tuple[str, str | None]]) -> tuple[str, str] | None:
    if isinstance(func, ast.Name) and func.id in names:
        mod, attr = names[func.id]
        if attr is not None and (mod, attr) in CLOCK_CALLS:
            return (mod, attr)
        return None
    if isinstance(func, ast.Attribute):
        owner = func.value
        # time.sleep / _time.perf_counter / datetime.now (from datetime import datetime)
        if isinstance(owner, ast.Name) and owner.id in names and names[owner.id][1] is None:
            key = (names[owner.id][0], func.attr)
            if key in CLOCK_CALLS:
                return key
        # datetime.datetime.now / datetime.date.today
        if (isinstance(owner, ast.Attribute) and isinstance(owner.value, ast.Name)
                and names.get(owner.value.id, ("", ""))[0] == "datetime"):
            key = (owner.attr, func.attr)
            if key in CLOCK_CALLS:
                return key
    return None


def _clock_allowed(module: str, function: str | None) -> bool:
    if any(_under(module, pkg) for pkg in CLOCK_ALLOWED_PACKAGES):
        return True
    return (module, None) in CLOCK_ALLOWED or (module, function) in CLOCK_ALLOWED


def _sources() -> list[tuple[Path, str, str]]:
    out = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        out.append((path, _module_name(path), path.read_text(encoding="utf-8")))
    return out


# ---------------------------------------------------------------- the checks on hilbench/

def test_the_walk_sees_the_layers() -> None:
    modules = {name for _path, name, _src in _sources()}
    for expected in ("hilbench.clock", "hilbench.bench", "hilbench.bus.codec", "hilbench.nodes.bms",
                     "hilbench.plant.pack", "hilbench.dut.compute.engine"):
        assert expected in modules


def test_no_upward_imports() -> None:
    bad: list[str] = []
    for path, module, source in _sources():
        bad.extend(upward_edges(imports_of(source, module, _is_package(path))))
    assert bad == [], "upward imports:\n" + "\n".join(bad)


def _package_copy(tmp_path: Path) -> Path:
    """A copy of the package's sources to plant a violation in (data files left out)."""
    import shutil

    copy = tmp_path / "hilbench"
    shutil.copytree(PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__", "_data"))
    return copy


def python_can_imports(package_dir: Path) -> list[str]:
    """Every import of python-can or cantools in ``package_dir`` outside its ``bus`` package."""
    bad = []
    for path in sorted(package_dir.rglob("*.py")):
        module = _module_name(path, package_dir.parent)
        if _under(module, "hilbench.bus"):
            continue
        for edge in imports_of(path.read_text(encoding="utf-8"), module, _is_package(path)):
            if _under(edge.target, "can") or _under(edge.target, "cantools"):
                bad.append(f"{module} line {edge.line} imports {edge.target}")
    return bad


def test_bus_is_the_only_layer_that_imports_python_can_and_cantools() -> None:
    """Nodes, the DUT, scenarios, the CLI and the plugin speak frames through ``hilbench.bus.frames``."""
    assert python_can_imports(PACKAGE_DIR) == []
    assert python_can_imports(ROOT / "tui") == []


@pytest.mark.parametrize(("where", "planted"), [
    ("nodes/obc.py", "import can\n"),
    ("dut/emulator.py", "def later():\n    import cantools.database\n"),
    ("scenarios/faults.py", "from can import Message\n"),
    ("cli/main.py", "import can.interfaces.virtual\n"),
    ("bench.py", "from cantools import database\n"),
])
def test_the_python_can_rule_fails_on_a_planted_import(tmp_path: Path, where: str, planted: str) -> None:
    """The rule above fails when any module outside bus/ imports python-can or cantools, lazily or not."""
    copy = _package_copy(tmp_path)
    assert python_can_imports(copy) == []
    target = copy / where
    target.write_text(target.read_text(encoding="utf-8") + "\n" + planted, encoding="utf-8")
    found = python_can_imports(copy)
    module = "hilbench." + where.removesuffix(".py").replace("/", ".")
    assert found and all(f.startswith(module + " line ") for f in found), found


def test_the_python_can_rule_allows_the_bus(tmp_path: Path) -> None:
    copy = _package_copy(tmp_path)
    (copy / "bus" / "extra.py").write_text("import can\nimport cantools\n", encoding="utf-8")
    assert python_can_imports(copy) == []


#: Modules with a reported wall-clock read, each guarded by its own strict xfail below.
KNOWN_CLOCK_READS: tuple[str, ...] = ()


def test_only_the_clock_reads_the_wall_clock() -> None:
    bad: list[str] = []
    for _path, module, source in _sources():
        if module not in KNOWN_CLOCK_READS:
            bad.extend(clock_reads(source, module))
    assert bad == [], "wall-clock reads outside hilbench/clock.py:\n" + "\n".join(bad)


@pytest.mark.parametrize("module", ["hilbench", "hilbench.bench", "hilbench.bus", "hilbench.nodes",
                                    "hilbench.plant", "hilbench.clock"])
def test_import_does_not_pull_in_onnxruntime_or_textual(module: str) -> None:
    code = (f"import sys, {module}\n"
            "heavy = sorted(m for m in ('onnxruntime', 'textual') if m in sys.modules)\n"
            "print(','.join(heavy))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"import {module} imported {result.stdout.strip()}"


def test_the_pytest_plugin_loads_nothing_heavy() -> None:
    """pytest imports the plugin (and its bus options table) on every run, ``pytest --version`` included."""
    code = ("import sys, hilbench.pytest_plugin\n"
            "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in\n"
            "                      ('can', 'cantools', 'numpy', 'onnxruntime', 'textual'))))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_plant_and_compute_core_load_no_can_even_transitively() -> None:
    code = ("import sys, hilbench.plant, hilbench.dut.compute\n"
            "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in ('can', 'cantools')\n"
            "                      or m.startswith(('hilbench.bus', 'hilbench.nodes', 'hilbench.bench')))))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


# ---------------------------------------------------------------- the checkers themselves

@pytest.mark.parametrize(("module", "is_package", "source", "target"), [
    ("hilbench.bus.codec", False, "from ..nodes import bms", "hilbench.nodes"),
    ("hilbench.bus", True, "from .. import bench", "hilbench.bench"),
    ("hilbench.plant.pack", False, "import can", "can"),
    ("hilbench.plant.pack", False, "def f():\n    import cantools.database", "cantools"),
    ("hilbench.dut.compute.unit", False, "from hilbench.bus.codec import BenchCodec", "hilbench.bus"),
    ("hilbench.dut.compute.unit", False, "from ...bus import e2e", "hilbench.bus"),
    ("hilbench.nodes.bms", False, "from hilbench import bench", "hilbench.bench"),
    ("hilbench.bench", False, "from .scenarios import load", "hilbench.scenarios"),
    ("hilbench.dut.emulator", False, "from ..cli import main", "hilbench.cli"),
    ("hilbench.clock", False, "from .bus import BusPort", "hilbench.bus"),
    ("hilbench.dut.compute.unit", False, "from .. import emulator", "hilbench.dut"),
    ("hilbench.scenarios.runner", False, "from ..campaigns import load_sweep", "hilbench.campaigns"),
    ("hilbench.bench", False, "def f():\n    import hilbench.campaigns.rows", "hilbench.campaigns"),
    ("hilbench.campaigns.execute", False, "from ..cli.run import run", "hilbench.cli"),
    ("hilbench.campaigns", True, "import tui.app", "tui"),
])
def test_upward_edge_checker_catches(module, is_package, source, target) -> None:
    bad = upward_edges(imports_of(source, module, is_package))
    assert any(f"must not import {target}" in b for b in bad), bad


@pytest.mark.parametrize(("module", "is_package", "source"), [
    ("hilbench.bench", False, "from .nodes import BmsNode\nfrom .bus import load_dbc"),
    ("hilbench.bench", False, "def f():\n    from .dut.emulator import ComputeEmulator"),
    ("hilbench.nodes.bms", False, "from ..bus.codec import BenchCodec\nfrom ..plant.pack import Pack"),
    ("hilbench.dut.compute.unit", False, "from hilbench.dut.compute.engine import InferenceEngine"),
    ("hilbench.bus", True, "from .codec import BenchCodec"),
])
def test_upward_edge_checker_allows_downward_imports(module, is_package, source) -> None:
    assert upward_edges(imports_of(source, module, is_package)) == []


@pytest.mark.parametrize("source", [
    "import time\ndef f():\n    time.sleep(1)",
    "import time as _t\nx = _t.perf_counter()",
    "from time import monotonic\ndef f():\n    return monotonic()",
    "from time import sleep as nap\nnap(0.1)",
    "import datetime\nd = datetime.datetime.now()",
    "from datetime import datetime\nclass A:\n    def f(self):\n        return datetime.now()",
    "import time\nt = time.time()",
])
def test_clock_read_checker_catches(source: str) -> None:
    assert clock_reads(textwrap.dedent(source), "hilbench.nodes.bms")


def test_clock_read_checker_catches_the_cli_too() -> None:
    """The CLI times itself through ``hilbench.clock.wall_time_s``, like everything else."""
    assert clock_reads("import time\nx = time.perf_counter()", "hilbench.cli.main")


@pytest.mark.parametrize(("module", "source"), [
    ("hilbench.nodes.bms", "import time\nx = time.strftime('%Y')"),
    ("hilbench.nodes.bms", "from datetime import timedelta\nx = timedelta(seconds=1)"),
    ("hilbench.clock", "import time\nx = time.perf_counter()"),
    ("hilbench.dut.compute.calibration",
     "import time\ndef measure_tokens_per_s():\n    def inner():\n        return time.perf_counter()\n"),
])
def test_clock_read_checker_allows(module: str, source: str) -> None:
    assert clock_reads(source, module) == []


def test_clock_read_checker_limits_calibration_to_its_function() -> None:
    source = "import time\ndef other():\n    return time.perf_counter()\n"
    assert clock_reads(source, "hilbench.dut.compute.calibration")


# ---------------------------------------------------------------- cycles and module-level fault state

def import_cycles(package_dir: Path) -> list[list[str]]:
    """Cycles among the package's modules through top-level imports (function-level ones are lazy
    and cannot deadlock an import, so they do not count)."""
    graph: dict[str, set[str]] = {}
    modules: set[str] = set()
    sources: list[tuple[str, Path]] = []
    for path in sorted(package_dir.rglob("*.py")):
        module = _module_name(path, package_dir.parent)
        modules.add(module)
        sources.append((module, path))
    for module, path in sources:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top = ast.Module(body=[n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))],
                         type_ignores=[])
        targets = {e.target for e in imports_of(ast.unparse(top), module, _is_package(path))}
        # ``from . import x`` names a module; ``from .x import y`` names x (and x.y when y is a module)
        graph[module] = {t for t in targets if t in modules and t != module
                         and not _under(module, t)}     # a package's own parents are not a cycle
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return cycles


def test_the_modules_that_define_actions_do_not_import_each_other_in_a_cycle() -> None:
    cycles = [c for c in import_cycles(PACKAGE_DIR) if any(_under(m, "hilbench.scenarios") for m in c)]
    assert cycles == [], "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_cycle_rule_fails_on_a_planted_cycle(tmp_path: Path) -> None:
    copy = _package_copy(tmp_path)
    registry = copy / "scenarios" / "registry.py"
    registry.write_text(registry.read_text(encoding="utf-8") + "\nfrom . import faults\n", encoding="utf-8")
    cycles = import_cycles(copy)
    assert any("hilbench.scenarios.registry" in c and "hilbench.scenarios.faults" in c for c in cycles), cycles


#: Calls that make an empty container at module level: state to be filled while benches run.
_MUTABLE_FACTORIES = {"dict", "list", "set", "defaultdict", "WeakKeyDictionary", "WeakValueDictionary", "deque",
                      "OrderedDict", "Counter"}


def module_level_state(source: str) -> list[str]:
    """Module-level names bound to an empty container (``{}``, ``[]``, ``dict()``, a weak dictionary...):
    state a module would share between every bench in the process."""
    found = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        empty_display = (isinstance(value, (ast.Dict, ast.List, ast.Set)) and not getattr(
            value, "keys", getattr(value, "elts", None)))
        call = isinstance(value, ast.Call) and (
            (isinstance(value.func, ast.Name) and value.func.id in _MUTABLE_FACTORIES)
            or (isinstance(value.func, ast.Attribute) and value.func.attr in _MUTABLE_FACTORIES))
        if empty_display or call:
            found.extend(f"line {node.lineno}: {ast.unparse(t)}" for t in targets)
    return found


#: Registries filled once at import (by decorators), never while a bench runs.
_REGISTRIES = {("hilbench.scenarios.registry", "ACTIONS")}


def test_fault_injection_keeps_no_state_at_module_level() -> None:
    """Faults live on the bench they act on (the BMS node holds its sensor faults), so two benches in
    one process, or one after another, never share a fault."""
    bad = []
    for _path, module, source in _sources():
        if not _under(module, "hilbench.scenarios") and not _under(module, "hilbench.nodes"):
            continue
        for item in module_level_state(source):
            name = item.partition(": ")[2]
            if (module, name.split(":")[0].strip()) not in _REGISTRIES:
                bad.append(f"{module} {item}")
    assert bad == [], "module-level state:\n" + "\n".join(bad)


@pytest.mark.parametrize("planted", [
    "_CHAINS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()",
    "_ACTIVE = {}",
    "_RUNNING: list[object] = []",
    "_HELD = dict()",
])
def test_the_module_state_rule_fails_on_planted_state(planted: str) -> None:
    source = (PACKAGE_DIR / "scenarios" / "faults.py").read_text(encoding="utf-8")
    assert module_level_state(source) == []
    assert module_level_state(source + "\n" + planted + "\n")
