"""The CLI is an entry point: it reaches the servers through the composition root only, and
holds no SQL."""

from __future__ import annotations

import ast
from pathlib import Path

import haven.cli

CLI = Path(haven.cli.__file__).parent
#: What an entry point never imports: the other entry points, and the database toolkit.
FORBIDDEN = ("haven.console", "haven.channels", "sqlalchemy")


def imported(path: Path) -> set[str]:
    """Every module ``path`` imports, at its top or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_no_other_entry_point_and_no_sql() -> None:
    modules = sorted(CLI.glob("*.py"))
    assert len(modules) > 10
    found = {
        f"{path.name}: {name}"
        for path in modules
        for name in imported(path)
        if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)
    }
    assert found == set()


def test_the_servers_come_from_the_composition_root() -> None:
    assert "haven.server" in imported(CLI / "serve.py")
