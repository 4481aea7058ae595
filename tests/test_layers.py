"""The layers contract (pyproject.toml, import-linter) holds, is active, and names every module.

`make lint` runs `lint-imports`; these tests prove it would fail on an upward import (a cycle
between layers is one), so the contract cannot silently stop checking.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=root, capture_output=True, text=True, timeout=300,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root)}, check=False)


def test_the_tree_keeps_its_layers() -> None:
    done = lint_imports(CHECKOUT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 kept, 0 broken" in done.stdout


def test_an_upward_import_breaks_the_contract(tmp_path: Path) -> None:
    for package in ("ckslab", "cluster", "labs", "graders", "exam"):
        shutil.copytree(CHECKOUT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(CHECKOUT / "pyproject.toml", tmp_path)
    with open(tmp_path / "cluster" / "paths.py", "a") as fh:  # the cluster reaching up into grading
        fh.write("\nfrom graders import runner as _upward  # noqa: E402,F401\n")
    with open(tmp_path / "graders" / "classroom.py", "a") as fh:  # the old circle: classroom -> cli
        fh.write("\nfrom graders import cli as _circle  # noqa: E402,F401\n")
    done = lint_imports(tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "cluster.paths -> graders.runner" in done.stdout and "graders.classroom -> graders.cli" in done.stdout


def test_every_module_of_graders_and_labs_is_in_a_layer() -> None:
    config = tomllib.loads((CHECKOUT / "pyproject.toml").read_text())["tool"]["importlinter"]
    layers = config["contracts"][0]["layers"]
    named = {m.strip() for layer in layers for m in layer.replace("|", ":").split(":")}
    for package in ("graders", "labs"):
        found = {f"{package}.{p.stem}" for p in (CHECKOUT / package).glob("*.py") if p.stem != "__init__"}
        found |= {f"{package}.{p.parent.name}" for p in (CHECKOUT / package).glob("*/__init__.py")}
        assert found <= named, f"not in any layer of pyproject.toml: {sorted(found - named)}"
