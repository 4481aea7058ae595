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


def test_building_ckslab_prints_no_setuptools_warning(tmp_path: Path) -> None:
    """`make setup` installs ckslab with pip: setuptools must not warn about data folders.

    ckslab/jupyterlab/settings and cluster/audit hold data files; setuptools warned "Package would
    be ignored" for each (40-95 lines on a first `make`). The wheel still ships every data file.
    """
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
