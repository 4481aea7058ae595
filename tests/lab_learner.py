"""A learner of one lab, as the lab tests drive it: ``ckslab`` commands, kubectl and bash as the admin.

Each test works as its own user (``--user``) in a shared project root, so its workspace
(``workspace/<lab>-<user>``) and cluster objects are its own. Every ``ckslab`` call is checked for
a traceback, which no learner may ever see.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cluster import binaries


@dataclass
class LabLearner:
    """``user`` working through ``lab`` in the project root ``root``."""

    root: Path
    user: str
    lab: str

    @property
    def workspace(self) -> Path:
        return self.root / "workspace" / f"{self.lab}-{self.user}"

    @property
    def kubeconfig(self) -> Path:
        return self.root / ".lab" / "kubeconfig"

    def ckslab(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``ckslab ARGS --user USER`` in the root, with no traceback in its output."""
        env = {**os.environ, "CKSLAB_ROOT": str(self.root)}
        env.pop("CKSLAB_USER", None)
        done = subprocess.run([sys.executable, "-m", "ckslab", *args, "--user", self.user], capture_output=True,
                              text=True, env=env, timeout=300, check=False)
        assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
        return done

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """The pinned kubectl as the admin, in the workspace; ``check``: it must succeed."""
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
        done = subprocess.run([str(binaries.cached().kubectl), *args], cwd=self.workspace, env=env,
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0 or not check, done.stderr
        return done

    def bash(self, script: str) -> None:
        """Run ``script`` in the workspace as the admin, with the pinned kubectl and CKSLAB_USER."""
        path = f"{binaries.cached().kubectl.parent}{os.pathsep}{os.environ['PATH']}"
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), "PATH": path, "CKSLAB_USER": self.user}
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=self.workspace, env=env,
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stdout + done.stderr

    def start(self) -> None:
        done = self.ckslab("start", self.lab)
        assert done.returncode == 0, done.stderr

    def solve(self) -> None:
        done = self.ckslab("solve", self.lab, "--yes")
        assert done.returncode == 0, done.stderr

    def steps(self) -> dict[str, dict[str, Any]]:
        """``ckslab grade LAB --json``: the steps by id; the exit code agrees with the report."""
        report = self.root / f"report-{self.user}.json"
        report.unlink(missing_ok=True)
        done = self.ckslab("grade", self.lab, "--json", str(report))
        data = json.loads(report.read_text())
        assert done.returncode == (0 if data["passed"] else 1), done.stdout
        return {s["id"]: s for s in data["steps"]}

    def failing(self) -> dict[str, str]:
        """The failing steps' messages, by id."""
        return {i: s["message"] for i, s in self.steps().items() if not s["passed"]}
