"""The layering, checked on the source: one core, SQL only in the store, transports apart.

- ``ivr/domain``: rules and records; imports nothing of ours but itself.
- ``ivr/core``: use cases and ports every intake goes through.
- ``ivr/store``: the only place SQL is written or run.
- ``ivr/flows``: call flows; they see ports, never the store or a transport.
- transports (``ivr/agi``, ``ivr/ami``, ``operator_console``) never reach into each
  other (the console rings phones through the AMI link, a use case's port).
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted([*ROOT.joinpath("ivr").rglob("*.py"),
                  *ROOT.joinpath("operator_console").rglob("*.py")])
SQL = re.compile(r"^\s*(SELECT\s|INSERT\s+(OR\s+\w+\s+)?INTO\s|UPDATE\s+\w+\s+SET\s|"
                 r"DELETE\s+FROM\s|CREATE\s+(TABLE|INDEX|UNIQUE|TRIGGER|VIEW)\s|"
                 r"WITH\s+\w+\s+AS\s|PRAGMA\s)")
DB_CALLS = {"execute", "executemany", "executescript", "fetchone", "fetchall", "fetchmany",
            "execute_fetchall"}
MAX_LINES = 450
# Modules allowed past MAX_LINES, each with its reason; the list only ever shrinks.
LONG: dict[str, str] = {
    "ivr/testing/fake_asterisk.py": "the whole AGI side of Asterisk as one wire-level fake: "
                                    "its command table, channel and conversation",
    "ivr/config.py": "every setting with its default and documentation in one table, which "
                     "the README is checked against; sections are built from it",
}


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=rel(path))


def imports(path: Path) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree(path)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
            for alias in node.names:
                yield node.lineno, f"{node.module}.{alias.name}"


def under(path: Path, *packages: str) -> bool:
    return any(rel(path).startswith(p + "/") for p in packages)


def test_sql_is_written_and_run_only_in_the_store() -> None:
    found = []
    for path in SOURCES:
        if under(path, "ivr/store"):
            continue
        for node in ast.walk(tree(path)):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL.match(
                    node.value):
                found.append(f"{rel(path)}:{node.lineno}: SQL text {node.value[:40]!r}")
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in DB_CALLS):
                found.append(f"{rel(path)}:{node.lineno}: .{node.func.attr}() on a database")
    assert found == []


RULES = [
    # (who, what they must not import, why)
    ("ivr/domain", ("ivr.", "operator_console"), "the domain imports nothing of ours"),
    ("ivr/flows", ("ivr.store", "ivr.agi", "ivr.ami", "ivr.clips", "operator_console"),
     "flows see ports only"),
    ("ivr/core", ("ivr.agi", "ivr.ami", "ivr.store", "ivr.flows", "operator_console", "aiohttp",
                  "aiosqlite", "sqlite3", "panoramisk"),
     "the core imports no transport, no database driver and no aiohttp"),
    ("ivr/agi", ("ivr.ami", "operator_console", "ivr.store"), "transports stay apart"),
    ("ivr/ami", ("ivr.agi", "operator_console", "ivr.store", "ivr.core.lines", "ivr.core.cases",
                 "ivr.core.callbacks", "ivr.core.intake", "ivr.core.phone_prompts"),
     "the AMI link implements the core's ports; it calls no use case"),
    ("operator_console", ("ivr.agi", "ivr.flows"), "transports stay apart"),
    ("ivr/alarms", ("ivr.store", "ivr.agi", "ivr.ami", "ivr.flows", "operator_console",
                    "ivr.messaging", "aiosqlite", "psycopg"),
     "the alarm intakes are transports: they call the core's use case, never the store"),
    ("operator_console/views",
     ("ivr.store.casework", "ivr.store.retention", "ivr.store.transcripts", "ivr.store.events",
      "ivr.store.reports", "ivr.store.lines", "ivr.store.prompt_recordings",
      "ivr.store.resilient", "ivr.store.alerts"),
     "the console changes reports, lines and clips only through ivr/core's use cases "
     "(it reads the store's read models: queries, panels, clip views)"),
    ("ivr/tax", ("ivr.agi", "ivr.ami", "ivr.flows", "operator_console", "ivr.messaging"),
     "the tax adapters implement the core's TaxBackend; they serve no call themselves"),
    ("ivr/store", ("ivr.agi", "ivr.ami", "ivr.flows", "operator_console", "ivr.analytics"),
     "the store is below everything but the domain and the ports"),
]


@pytest.mark.parametrize(("package", "banned", "why"), RULES, ids=[r[0] for r in RULES])
def test_layers_import_only_what_is_below_them(
    package: str, banned: tuple[str, ...], why: str
) -> None:
    found = []
    for path in SOURCES:
        if not under(path, package):
            continue
        for line, name in imports(path):
            if package == "ivr/domain" and name.startswith("ivr.domain"):
                continue
            if name.startswith(banned):
                found.append(f"{rel(path)}:{line}: imports {name} ({why})")
    assert sorted(set(found)) == []


def test_modules_stay_small() -> None:
    found = []
    for path in SOURCES:
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES and rel(path) not in LONG:
            found.append(f"{rel(path)}: {lines} lines")
    assert found == []
    for name in LONG:
        assert (ROOT / name).is_file(), f"{name} is gone: take it off the list"


def test_the_core_pulls_in_no_transport_or_driver_even_indirectly() -> None:
    """Importing every core module loads no database driver, web or AMI library."""
    script = (
        "import sys, pkgutil, importlib, ivr.core\n"
        "for m in pkgutil.iter_modules(ivr.core.__path__):\n"
        "    importlib.import_module('ivr.core.' + m.name)\n"
        "bad = ('aiosqlite', 'aiohttp', 'panoramisk', 'sqlite3', 'ivr.store', 'ivr.ami',\n"
        "       'ivr.agi', 'operator_console')\n"
        "print(sorted(n for n in sys.modules if n.split('.')[0] in bad or n.startswith(bad)))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=ROOT, timeout=60, check=True)
    assert done.stdout.strip() == "[]", done.stdout
