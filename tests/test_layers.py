"""Imports against docs/DESIGN.md: each package of lstmkit imports only the packages §1's table allows, and test
modules import helper modules of tests/, never each other (§6). Parsed from the source with ``ast``, so imports
inside functions count too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
# DESIGN §1: package -> the lstmkit packages it may import; entry points (lstmkit/*.py) may import anything
ALLOWED = {
    "kernels": set(),
    "ops": {"kernels"},
    "nn": {"ops"},
    "forecast": set(),
    "data": {"forecast", "utils"},
    "models": {"nn", "data"},
    "tasks": {"models", "data", "forecast", "utils"},
    "utils": set(),
}


def package_of(module: str) -> str | None:
    """``lstmkit.ops.reference`` -> ``ops``; ``lstmkit.kernels…`` and the source folder ``kernels…`` -> ``kernels``;
    ``None`` for modules outside lstmkit and for the entry points."""
    parts = module.split(".")
    if parts[0] == "kernels":
        return "kernels"
    if parts[0] != "lstmkit" or len(parts) < 2:
        return None
    return parts[1] if (ROOT / "lstmkit" / parts[1]).is_dir() or parts[1] == "kernels" else None


def imported_modules(path: Path, module: str) -> list[str]:
    """Absolute names of every module ``path`` (the source of ``module``) imports."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolved against the importing module's package
                package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
                base = ".".join(package[: len(package) - (node.level - 1)])
                found.append(f"{base}.{node.module}" if node.module else base)
            else:
                found.append(node.module)
    return found


def violations(package: str) -> list[str]:
    folder = ROOT / "kernels" if package == "kernels" else ROOT / "lstmkit" / package
    wrong = []
    for path in sorted(folder.rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for name in imported_modules(path, module):
            other = package_of(name)
            if other not in (None, package) and other not in ALLOWED[package]:
                wrong.append(f"{path.relative_to(ROOT)} imports {name}")
            if package == "kernels" and (name == "torch.nn" or name.startswith("torch.nn.")):
                wrong.append(f"{path.relative_to(ROOT)} imports {name}")
    return wrong


def test_the_import_reader_on_hand_made_modules(tmp_path):
    source = tmp_path / "x.py"
    source.write_text("import torch\nfrom lstmkit.data.windowing import SplitPoints\nfrom . import cell\n"
                      "def f():\n    from .step import k\n")
    assert imported_modules(source, "kernels.launch") == ["torch", "lstmkit.data.windowing", "kernels",
                                                          "kernels.step"]
    assert package_of("lstmkit.kernels.launch") == package_of("kernels.step") == "kernels"
    assert package_of("lstmkit.train") is None and package_of("numpy") is None


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_follow_the_layer_table(package):
    assert not violations(package), f"imports outside DESIGN §1's table: {violations(package)}"


def test_test_modules_import_helpers_not_each_other():
    """What several test modules share lives in helper modules of tests/ (DESIGN §6), not in a test module."""
    wrong = [f"{path.name} imports {name}" for path in sorted((ROOT / "tests").glob("test_*.py"))
             for name in imported_modules(path, f"tests.{path.stem}") if name.split(".")[0].startswith("test_")]
    assert not wrong, wrong
