"""The domain core imports nothing but the standard library and itself."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

DOMAIN = Path(__file__).resolve().parents[2] / "subgraph" / "domain"


def imported_modules(source: Path) -> set[str]:
    """Top-level names of every module `source` imports (relative imports are the package's)."""
    tree = ast.parse(source.read_text(encoding="utf-8"), filename=str(source))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_the_domain_imports_only_the_standard_library_and_itself() -> None:
    outside = {
        f"{path.name}: {name}"
        for path in sorted(DOMAIN.rglob("*.py"))
        for name in imported_modules(path)
        if name.split(".")[0] not in sys.stdlib_module_names
        and not name.startswith("subgraph.domain")
    }
    assert outside == set()


def test_the_check_sees_an_import_from_outside(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import json\nfrom pydantic import BaseModel\nfrom subgraph import app\n")
    found = imported_modules(module)
    assert {"json", "pydantic", "subgraph"} <= found
