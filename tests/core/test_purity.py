"""The core stays pure: no I/O modules, no wall clock (ARCHITECTURE.md, "Layers and the rules")."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "chargepoint" / "core"
FORBIDDEN_MODULES = {"asyncio", "socket", "sqlite3", "time", "websockets", "serial", "pymodbus", "threading",
                     "subprocess", "os", "random"}
FORBIDDEN_CALLS = {("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"), ("date", "today")}


def core_modules() -> list[Path]:
    return sorted(CORE.rglob("*.py"))


@pytest.mark.parametrize("path", core_modules(), ids=lambda p: str(p.relative_to(CORE)))
def test_core_module_imports_no_io_and_reads_no_clock(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                assert alias.name.split(".")[0] not in FORBIDDEN_MODULES, f"{path}: import {alias.name}"
        elif isinstance(node, ast.ImportFrom) and node.module:
            root = node.module.split(".")[0]
            assert root not in FORBIDDEN_MODULES, f"{path}: from {node.module} import ..."
            assert not node.module.startswith(("chargepoint.service", "drivers", "hal.sim")), path
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            assert (node.value.id, node.attr) not in FORBIDDEN_CALLS, f"{path}: {node.value.id}.{node.attr}"


def test_the_scan_sees_the_core() -> None:
    names = {p.name for p in core_modules()}
    assert {"endpoint.py", "station.py", "transactions.py"} <= names
