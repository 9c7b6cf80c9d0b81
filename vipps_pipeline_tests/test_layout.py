"""The package's shape is part of its contract: folders are the architecture, units stay small.

A newcomer finds an idea from the tree alone only while modules hold one idea each; these
limits keep it so (issue 20). Pure data tables of the simulator are exempt: a literal table
reads best whole.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "vipps_pipeline"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
DATA_TABLES = {"simulator/ledgers.py"}
"""Modules that hold only literal data (exempt from the module limit)."""


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _rel(path: Path) -> str:
    return str(path.relative_to(PACKAGE))


def test_no_module_passes_the_line_limit():
    long = {
        _rel(p): n
        for p in _modules()
        if _rel(p) not in DATA_TABLES and (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not long, f"split these modules (over {MAX_MODULE_LINES} lines): {long}"


def test_no_function_passes_the_line_limit():
    long = {}
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long[f"{_rel(path)}:{node.name}"] = lines
    assert not long, f"split these functions (over {MAX_FUNCTION_LINES} lines): {long}"


def test_dagster_internals_are_imported_only_by_instance_plugins():
    users = set()
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            if any(n.startswith("dagster._") for n in names):
                users.add(_rel(path))
    assert {u for u in users if not u.startswith("instance/")} == set()


def test_the_engine_never_imports_dagster():
    engine = ("api/", "store/", "sync/", "books/", "feed/", "outputs/", "simulator/", "alerts/")
    users = set()
    for path in _modules():
        if not _rel(path).startswith(engine):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "dagster":
                users.add(_rel(path))
            if isinstance(node, ast.Import) and any(
                a.name.split(".")[0] == "dagster" for a in node.names
            ):
                users.add(_rel(path))
    assert users == set()


def test_every_folder_says_what_it_holds():
    for init in PACKAGE.rglob("__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc, f"{_rel(init)} needs a docstring naming what the folder holds"


def test_no_name_is_defined_in_two_modules():
    """A top-level name means one thing across the package: ``run_ledger`` in two modules, or an
    asset key and a folder both called ``JOURNAL``, sent readers to the wrong one. A module's
    logger is the one exception: it is the same idea everywhere."""
    homes: dict[str, list[str]] = {}
    for path in _modules():
        for node in ast.parse(path.read_text()).body:
            names: list[str] = []
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names = [node.name]
            elif isinstance(node, ast.Assign):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names = [node.target.id]
            for name in names:
                homes.setdefault(name, []).append(_rel(path))
    twice = {
        n: where for n, where in homes.items() if len(where) > 1 and n not in {"log", "__all__"}
    }
    assert not twice, f"one name, two meanings: {twice}"


def test_the_tests_mirror_the_package():
    """A module's tests are found where the module is: ``vipps_pipeline/books/journal.py`` in
    ``vipps_pipeline_tests/books/``; only project-wide rules stay at the top. Basenames are
    unique, so a failing test's file name alone says where it is."""
    tests = Path(__file__).parent
    helpers = {"support", "fixtures", "spec", "artifacts", "__pycache__"}
    folders = {p.name for p in tests.iterdir() if p.is_dir() and p.name not in helpers}
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert folders <= packages, f"test folders without a package folder: {folders - packages}"
    names = [p.name for p in tests.rglob("test_*.py")]
    assert len(names) == len(set(names)), "a test file name is used twice"
    for folder in folders:
        assert (tests / folder / "__init__.py").exists(), folder
