"""The tree's layout rules that import-linter cannot state.

* No module imports another module's private names (``from x import _y``), nor a
  private module of another package (``core.providers._aiohttp`` is for
  ``core.providers`` alone); what is shared gets a public name.
* No module reads a private attribute of another library's module (``httpx._client``).
* ``core/`` and ``app/`` keep at most 12 loose modules each: the rest lives in folders.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "app")
MAX_LOOSE = 12


def _modules() -> list[tuple[str, Path]]:
    out = []
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out.append((".".join(parts), path))
    return out


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _package_of(module: str, path: Path) -> str:
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def private_imports(module: str, path: Path) -> list[str]:
    """Every import in ``path`` that reaches past another module's public surface."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    here = _package_of(module, path)
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            target = node.module
            parts = target.split(".")
            for i, part in enumerate(parts):
                if _private(part):
                    owner = ".".join(parts[:i])  # the package the private module belongs to
                    if not (here == owner or here.startswith(owner + ".")):
                        bad.append(f"{module}:{node.lineno} imports private module {target}")
                    break
            for alias in node.names:
                if _private(alias.name) and target != module:
                    bad.append(f"{module}:{node.lineno} imports {alias.name} from {target}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if any(_private(p) for p in alias.name.split(".")):
                    bad.append(f"{module}:{node.lineno} imports private module {alias.name}")
    return bad


def foreign_private_attributes(module: str, path: Path) -> list[str]:
    """``lib._name`` where ``lib`` is another library's module imported by name."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                root = alias.name.split(".")[0]
                if root not in PACKAGES:
                    imported.add(alias.asname or root)
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            base = node.value
            while isinstance(base, ast.Attribute):
                base = base.value
            if isinstance(base, ast.Name) and base.id in imported:
                bad.append(f"{module}:{node.lineno} reads {ast.unparse(node)}")
    return bad


def test_no_module_imports_private_names() -> None:
    bad = [line for module, path in _modules() for line in private_imports(module, path)]
    assert bad == []


def test_no_private_attributes_of_other_libraries() -> None:
    bad = [line for module, path in _modules() for line in foreign_private_attributes(module, path)]
    assert bad == []


@pytest.mark.parametrize("package", PACKAGES)
def test_few_loose_modules(package: str) -> None:
    loose = sorted(p.name for p in (ROOT / package).glob("*.py"))
    assert len(loose) <= MAX_LOOSE, loose


def test_the_checks_catch_what_they_are_for(tmp_path: Path) -> None:
    """Guard the guards: each rule flags a file that breaks it."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import httpx\n"
        "from core.keys import _secret_values\n"
        "from core.providers._aiohttp import AiohttpClient\n"
        "x = httpx._client.BoundAsyncStream\n"
    )
    assert len(private_imports("core.gateway.logs", sample)) == 2
    assert foreign_private_attributes("core.gateway.logs", sample) == [
        "core.gateway.logs:4 reads httpx._client"
    ]
    # Inside its own package a private module is fair game.
    inside = tmp_path / "inside.py"
    inside.write_text("from core.providers._aiohttp import AiohttpClient\n")
    assert private_imports("core.providers.client", inside) == []
