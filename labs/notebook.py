"""What the lab notebooks call, so that they stay prose and the commands a learner types.

``setup()`` points the kernel (and every ``%%bash`` cell it runs) at the lab's cluster and
workspace; ``check()`` runs one step's graders in a separate process (``ckslab grade``), so
nothing done in the notebook can change how it is graded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from cluster import paths
from cluster.errors import CkslabError
from labs import catalog, engine


def setup(lab_id: str) -> Path:
    """Export KUBECONFIG and the pinned kubectl, create the workspace and work in it."""
    lab = catalog.load(lab_id)
    lab_paths = paths.lab_paths()
    if not lab_paths.kubeconfig.exists():
        raise CkslabError("no cluster is up.", "Run `make up` in a terminal, then run this cell again.")
    os.environ["KUBECONFIG"] = str(lab_paths.kubeconfig)
    # The pinned kubectl first, then this environment's `ckslab`, for every %%bash cell.
    for bin_dir in (str(Path(sys.executable).parent), str(paths.kubernetes_bin_dir())):
        if bin_dir not in os.environ.get("PATH", "").split(os.pathsep)[:2]:
            os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    user = os.environ.get("CKSLAB_USER") or lab.user
    os.environ["CKSLAB_USER"] = user
    workspace = engine.workspace_for(lab, user, lab_paths.root)
    workspace.mkdir(parents=True, exist_ok=True)
    os.chdir(workspace)
    print(f"lab:        {lab.title}")
    print(f"user:       {user}")
    print(f"workspace:  {workspace}  (the current directory of every cell)")
    print(f"KUBECONFIG: {lab_paths.kubeconfig}")
    return workspace


def check(lab_id: str, step: str) -> bool:
    """Grade one step in a separate process and print the verdict, its reason and a hint."""
    with tempfile.TemporaryDirectory() as tmp:
        report_path = Path(tmp) / "report.json"
        result = subprocess.run(
            [sys.executable, "-m", "ckslab", "grade", lab_id, "--step", step, "--json", str(report_path)],
            capture_output=True, text=True, check=False,
        )
        if not report_path.exists():
            print(f"could not grade {step}: {(result.stderr or result.stdout).strip()}")
            return False
        report = json.loads(report_path.read_text())
    passed = True
    for s in report["steps"]:
        mark = "PASS" if s["passed"] else "FAIL"
        print(f"[{mark}] {s['id']} ({s['points']}/{s['max_points']}): {s['message']}")
        if not s["passed"]:
            print(f"       hint: {s['hint']}")
            passed = False
    return passed
