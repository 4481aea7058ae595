"""The suite's own scheduling (tests/conftest.py): `make test` runs two pytest-xdist workers, and the modules that use
what this machine has once (its container engine, its Unix accounts) must stay in one group each, or two workers
would run them at once (two kind clusters of one image, a second dockerd beside kind, two classes' accounts)."""

from __future__ import annotations

import re
from pathlib import Path

import conftest

#: What a module that drives the real container engine says: kind's own check, or why it cannot run without one.
ENGINE = re.compile(r"kind_available\(|cannot_run\([^\n]*(kind|podman|dockerd|docker)|_cannot_run_for_real")
#: What a module that makes or runs as learners' Unix accounts types.
ACCOUNTS = re.compile(r"runuser|useradd")


def test_every_module_that_uses_the_engine_or_unix_accounts_is_in_its_group() -> None:
    here = Path(conftest.__file__).parent
    for path in sorted(p for p in here.glob("test_*.py") if p.name != Path(__file__).name):
        text = path.read_text()
        if ENGINE.search(text):
            assert path.stem in conftest.MACHINE_GROUPS["engine"], f"{path.name} uses the container engine"
        if ACCOUNTS.search(text):
            assert path.stem in conftest.MACHINE_GROUPS["accounts"], f"{path.name} uses Unix accounts"
    named = [m for modules in conftest.MACHINE_GROUPS.values() for m in modules]
    assert len(named) == len(set(named)) and all((here / f"{m}.py").is_file() for m in named), named


def test_a_groups_modules_are_one_unit_of_work_and_others_each_their_own() -> None:
    assert conftest.work_unit("tests/test_kind.py::test_up[a::b]") == "engine"
    assert conftest.work_unit("tests/test_exam_tasks_kind.py::test_x") == "engine"
    assert conftest.work_unit("tests/test_class_host.py::test_y") == "accounts"
    assert conftest.work_unit("tests/test_ports.py::test_z") == "tests/test_ports.py"
