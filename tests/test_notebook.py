"""The lab notebook, executed top to bottom by nbclient on a real kernel and a real cluster."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from cluster.backends.local import LocalBackend
from cluster.paths import checkout

NOTEBOOKS = sorted((checkout() / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebooks_are_stored_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, cell.source[:60]


@pytest.mark.cluster
def test_certificates_api_notebook_runs_and_earns_full_marks(
    local_cluster: LocalBackend, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CKSLAB_ROOT", str(local_cluster.lab.root))
    monkeypatch.delenv("CKSLAB_USER", raising=False)
    nb = nbformat.read(checkout() / "notebooks" / "01-certificates-api.ipynb", as_version=4)
    NotebookClient(nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "[FAIL]" not in outputs
    report_file = tmp_path / "report.json"
    result = subprocess.run([sys.executable, "-m", "ckslab", "grade", "certificates-api", "--json", str(report_file)],
                            capture_output=True, text=True, env=os.environ.copy(), timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(report_file.read_text())
    assert report["score"] == report["max_score"] == 100 and report["passed"] is True
    workspace = local_cluster.lab.root / "workspace" / "certificates-api"
    assert oct((workspace / "jane.key").stat().st_mode & 0o777) == "0o600"
