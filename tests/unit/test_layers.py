"""The package's layering (DESIGN.md "Layout"): a module imports only from its own layer or below.

Lowest first: model, transport, metrics, settings → config, queue, state → providers → ingress, delivery → ops.
Lazy imports inside functions count too: a cycle through a function body is still a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "layers" / "notify" / "fluxnotify"
RANK = {
    "model": 0, "transport": 0, "metrics": 0, "_version": 0, "errors": 0,
    "settings": 0,
    "config": 1, "queue": 1, "state": 1,
    "providers": 2,
    "ingress": 3, "delivery": 3,
    "ops": 4,
}  # fmt: skip


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            assert node.level == 0, f"{path}: relative import (use fluxnotify.<layer>...)"
            if node.module == "fluxnotify":
                found |= {f"fluxnotify.{alias.name}" for alias in node.names}
            elif node.module.startswith("fluxnotify."):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("fluxnotify.")}
    return found


def test_every_module_belongs_to_a_known_layer():
    top_level = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir() if p.name != "__pycache__"}
    assert top_level - {"__init__"} <= set(RANK), top_level - set(RANK)


def test_no_module_imports_from_a_higher_layer():
    violations = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative.name == "__init__.py" and len(relative.parts) == 1:
            continue  # the package root only re-exports the version
        own = relative.parts[0].removesuffix(".py")
        for imported in _imports(path):
            other = _layer(imported)
            if RANK[other] > RANK[own]:
                violations.append(f"{relative} ({own}) imports {imported} ({other})")
    assert violations == []


def test_the_version_is_single_sourced():
    import fluxnotify
    from fluxnotify._version import VERSION

    pyproject = (PACKAGE.parents[2] / "pyproject.toml").read_text()
    assert 'version = {attr = "fluxnotify._version.VERSION"}' in pyproject
    assert fluxnotify.__version__ == VERSION and VERSION.count(".") == 2
