"""The shape the design fixes, checked on the source itself so it can't drift silently:

- no import cycle among the modules of `bot/` and `adapters/`;
- the core imports no adapter; providers never import the ledger and the ledger knows no provider;
  storage knows neither the ledger nor the conversations that use it;
- other packages reach the ledger and storage through their front doors (`bot.ledger`, `bot.storage`);
- a command's name and summary are written only in its declaration: the access stage and the adapters
  read them from the command's traits.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.commands import ALL

ROOT = Path(__file__).resolve().parent.parent


def _modules() -> dict[str, Path]:
    found = {}
    for package in ("bot", "adapters"):
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imported(name: str, path: Path) -> set[str]:
    """Every module of ours that `name` imports anywhere (lazy and TYPE_CHECKING imports included)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {m for m in found if m in MODULES and m != name}


IMPORTS = {name: _imported(name, path) for name, path in MODULES.items()}


def _cycles() -> Iterator[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for other in IMPORTS[module]:
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in on_stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(IMPORTS):
        if module not in index:
            visit(module)
    return iter(found)


def test_no_import_cycle() -> None:
    assert list(_cycles()) == []


def _importers(prefix: str) -> set[str]:
    return {m for m, deps in IMPORTS.items() if any(d == prefix or d.startswith(prefix + ".") for d in deps)}


def _within(prefix: str) -> set[str]:
    return {m for m in MODULES if m == prefix or m.startswith(prefix + ".")}


@pytest.mark.parametrize(
    ("importer", "imported"),
    [
        ("bot", "adapters"),  # the core knows no platform (`python -m bot`, which runs them, is exempt)
        ("bot.providers", "bot.ledger"),  # providers never import the ledger ...
        ("bot.ledger", "bot.providers"),  # ... and the ledger knows no provider
        ("bot.storage", "bot.ledger"),
        ("bot.storage", "bot.conversation"),
    ],
)
def test_parts_that_must_not_know_each_other(importer: str, imported: str) -> None:
    assert _within(importer) & _importers(imported) - {"bot.__main__"} == set()


@pytest.mark.parametrize("package", ["bot.ledger", "bot.storage"])
def test_other_packages_use_the_front_door(package: str) -> None:
    inside = _within(package)
    reaching_in = {m for m in MODULES if m not in inside and IMPORTS[m] & (inside - {package})}
    assert reaching_in == set()


def _strings(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def test_access_and_adapters_name_no_command() -> None:
    """The access stage and the adapters decide from traits (streams, owner_only, ...), never by name."""
    names = {name for command in ALL for name in (command.name, *command.aliases)}
    readers = [MODULES["bot.access"], *(MODULES[m] for m in _within("adapters"))]
    found = {
        str(path.relative_to(ROOT)): _strings(path) & (names | {f"/{n}" for n in names}) for path in readers
    }
    assert {path: words for path, words in found.items() if words} == {}


def test_each_summary_is_written_once_in_its_declaration() -> None:
    summaries = {command.summary for command in ALL}
    declared = _within("bot.commands")
    found = {m: _strings(MODULES[m]) & summaries for m in MODULES if m not in declared}
    assert {m: words for m, words in found.items() if words} == {}
    written = [s for m in declared for s in _strings(MODULES[m]) if s in summaries]
    assert sorted(written) == sorted(summaries)  # each exactly once
