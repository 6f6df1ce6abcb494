"""The layering rule of DESIGN.md: imports point inward (infrastructure -> application -> domain).

The domain may use only the standard library and ``eventsourcing.domain``; the application layer
may use the domain and the event-sourcing library, never the infrastructure. Every layer is
imported under the one root ``extask``, never as a top-level package of its own.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def imported_modules(package: str) -> list[tuple[str, str]]:
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                found += [(str(path.relative_to(ROOT)), alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.append((str(path.relative_to(ROOT)), node.module))
    return found


LAYERS = ("domain", "application", "infrastructure")


def layer(module: str) -> str | None:
    """The layer an import names (``extask.application.dto`` -> ``application``), or None."""
    parts = module.split(".")
    return parts[1] if parts[0] == "extask" and len(parts) > 1 else None


def is_stdlib(module: str) -> bool:
    return module.split(".")[0] in sys.stdlib_module_names or module == "__future__"


def test_the_domain_depends_only_on_the_standard_library_and_eventsourcing_domain():
    offending = [
        (path, module)
        for path, module in imported_modules("domain")
        if not (is_stdlib(module) or module == "eventsourcing.domain" or layer(module) == "domain")
    ]
    assert offending == []


@pytest.mark.parametrize("package", ["domain", "application"])
def test_inner_layers_never_import_the_infrastructure(package):
    assert [(p, m) for p, m in imported_modules(package) if layer(m) == "infrastructure"] == []


def test_the_domain_never_imports_the_application_layer():
    assert [(p, m) for p, m in imported_modules("domain") if layer(m) == "application"] == []


@pytest.mark.parametrize("folder", [*LAYERS, "tests", "scripts"])
def test_the_layers_are_imported_under_the_extask_root_only(folder):
    """A bare ``import domain`` would find an embedding application's package of that name."""
    assert [(p, m) for p, m in imported_modules(folder) if m.split(".")[0] in LAYERS] == []


def test_every_module_starts_with_a_docstring():
    missing = [
        str(path.relative_to(ROOT))
        for package in ("domain", "application", "infrastructure")
        for path in sorted((ROOT / package).rglob("*.py"))
        if path.stat().st_size and ast.get_docstring(ast.parse(path.read_text())) is None
    ]
    assert missing == []


def test_the_scripts_need_nothing_the_install_does_not_bring():
    """``pip install -e .`` is all a benchmark needs: the test extra is not there."""
    installed = {"extask", "scripts", "psycopg", "eventsourcing", "pydantic", "fastapi", "uvicorn", "click", "orjson"}
    assert [(p, m) for p, m in imported_modules("scripts") if not is_stdlib(m) and m.split(".")[0] not in installed] == []
