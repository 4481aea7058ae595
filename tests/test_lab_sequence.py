"""All five labs on one cluster through their notebooks, in order and then in reverse: full marks every time.

Each lab changes the cluster the next one finds (the signing-config lab leaves the controller
manager signing for 720h; the CSR jane of the first lab is still there when it runs again), so
every lab's start must establish the state it assumes or adapt to the state it finds, and every
grader and notebook must read the configuration the cluster runs, never a default. One cluster of
this module's own, as a learner's: ``CKSLAB_ROOT`` is its root and the user is each lab's own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import nbformat
import pytest
import yaml
from nbclient import NotebookClient

from cluster.backends.local import LocalBackend
from cluster.paths import LabPaths, checkout

pytestmark = pytest.mark.cluster

LABS = [("certificates-api", "01-certificates-api"), ("csr-review", "02-csr-review"),
        ("jane-access", "03-jane-access"), ("signing-config", "04-signing-config"),
        ("expiry-rotation", "05-expiry-rotation")]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, binaries_built: None) -> Iterator[LocalBackend]:
    """A control plane for this module only: the signing-config lab restarts its controller manager."""
    backend = LocalBackend(LabPaths(tmp_path_factory.mktemp("sequence")))
    backend.up(lambda _msg: None)
    try:
        yield backend
    finally:
        backend.down(lambda _msg: None)


def run_notebook(name: str, tmp_path: Path) -> str:
    """Execute notebooks/<name>.ipynb top to bottom; the text of its outputs."""
    nb = nbformat.read(checkout() / "notebooks" / f"{name}.ipynb", as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)


def grade(lab: str, tmp_path: Path) -> dict[str, Any]:
    report_file = tmp_path / f"{lab}.json"
    done = subprocess.run([sys.executable, "-m", "ckslab", "grade", lab, "--json", str(report_file)],
                          capture_output=True, text=True, env=os.environ.copy(), timeout=300, check=False)
    assert report_file.exists(), done.stdout + done.stderr
    report: dict[str, Any] = json.loads(report_file.read_text())
    failing = {s["id"]: s["message"] for s in report["steps"] if not s["passed"]}
    assert done.returncode == 0 and not failing, f"{lab}: {failing}\n{done.stdout}{done.stderr}"
    return report


def test_five_labs_in_order_then_in_reverse_earn_full_marks(cluster: LocalBackend, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CKSLAB_ROOT", str(cluster.lab.root))
    monkeypatch.delenv("CKSLAB_USER", raising=False)
    workspace = cluster.lab.root / "workspace"
    for round_, order in (("forward", LABS), ("reverse", LABS[::-1])):
        for lab, notebook in order:
            outputs = run_notebook(notebook, tmp_path)
            assert "[FAIL]" not in outputs, f"{round_} {notebook}:\n{outputs[-3000:]}"
            report = grade(lab, tmp_path)
            assert report["score"] == report["max_score"], (round_, lab, report)
            if lab == "expiry-rotation":
                # After signing-config the signer gives 720h: the notebook measured it, and the grader read it.
                answers = yaml.safe_load((workspace / "expiry-rotation" / "expiry.yaml").read_text())
                assert answers["signing_duration_hours"] == 720, (round_, answers)
    # The old hard-coded answer, the default's 8760, is now wrong, and the message says what runs.
    (workspace / "expiry-rotation" / "expiry.yaml").write_text(
        "minimum_expiration_seconds: 600\nsetup_validity_seconds: 900\nsigning_duration_hours: 8760\n")
    report_file = tmp_path / "wrong.json"
    subprocess.run([sys.executable, "-m", "ckslab", "grade", "expiry-rotation", "--step", "expiration-facts",
                    "--json", str(report_file)], capture_output=True, text=True, env=os.environ.copy(), timeout=300,
                   check=False)
    step = json.loads(report_file.read_text())["steps"][0]
    assert not step["passed"]
    assert step["message"].startswith("signing_duration_hours is 8760; the signer gives at most 720 hours: the running "
                                      "controller manager (pid ")
    assert "signs for 720h (30 days; --cluster-signing-duration=720h)" in step["message"]
