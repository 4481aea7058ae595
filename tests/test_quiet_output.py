"""What a learner sees on a first run and in a terminal: no noise that is not about their lab.

Each test runs the real command in a subprocess (pip building ckslab, make, the ckslab CLI) and
reads its output, as a learner would.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_installing_ckslab_as_make_setup_does_prints_nothing(tmp_path: Path) -> None:
    """`make setup` runs `pip install --quiet -e .`: setuptools must not warn on a first `make`.

    It warned "Package would be ignored" for each data folder (ckslab/jupyterlab/settings,
    cluster/audit) and "Editable installation... be careful with folders" for its import hook.
    """
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--quiet",
         "--no-deps", "--disable-pip-version-check", "-e", str(ROOT)],
        capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout + done.stderr == ""
    # The editable install imports the checkout's packages (without their dependencies: no import).
    found = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import importlib.util as u; "
         "print(*(u.find_spec(p).origin for p in ('ckslab', 'cluster', 'labs', 'graders')))"],
        capture_output=True, text=True, timeout=60, check=True, cwd=tmp_path)
    assert found.stdout.split() == [str(ROOT / p / "__init__.py") for p in ("ckslab", "cluster", "labs", "graders")]


def test_the_wheel_ships_every_data_file_without_a_warning(tmp_path: Path) -> None:
    """A wheel has every data file, and building it warns about none of their folders."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True, timeout=300, check=False)
    said = done.stdout + done.stderr
    assert done.returncode == 0, said
    assert "Warning" not in said and "would be ignored" not in said, said
    wheel = next(tmp_path.glob("ckslab-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for data in ("ckslab/jupyterlab/settings/overrides.json", "cluster/audit/audit-policy.yaml",
                 "graders/pytest.ini", "labs/certificates-api/lab.yaml", "labs/certificates-api/setup.sh"):
        assert data in names, f"{data} is missing from the wheel: {sorted(names)}"
