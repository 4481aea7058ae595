"""``BACKEND=existing`` on the real local control plane (the kind backend: tests/test_kind.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cluster.backends.local import LocalBackend

pytestmark = pytest.mark.cluster


def ckslab(root: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "CKSLAB_ROOT": str(root), **(env or {})}
    return subprocess.run([sys.executable, "-m", "ckslab", *args], capture_output=True, text=True,
                          env=full, timeout=timeout, check=False)


def test_existing_backend_uses_a_cluster_and_never_deletes_it(local_cluster: LocalBackend, tmp_path: Path) -> None:
    env = {"KUBECONFIG": str(local_cluster.kubeconfig())}
    up = ckslab(tmp_path, "up", "--backend", "existing", env=env)
    assert up.returncode == 0, up.stderr
    assert "The existing cluster is up" in up.stdout
    assert (tmp_path / ".lab" / "kubeconfig").stat().st_mode & 0o777 == 0o600
    assert ckslab(tmp_path, "status").returncode == 0
    ca = ckslab(tmp_path, "controlplane", "ca")
    assert ca.stdout.encode() == local_cluster.ca_certificate()
    shown = ckslab(tmp_path, "controlplane", "show", "controller-manager")
    assert shown.returncode == 1
    assert "cannot be read from here" in shown.stderr and "/etc/kubernetes/manifests" in shown.stderr
    doctor = ckslab(tmp_path, "doctor")
    assert doctor.returncode == 0, doctor.stdout
    down = ckslab(tmp_path, "down")
    assert down.returncode == 0 and "never deletes it" in down.stderr
    assert not (tmp_path / ".lab" / "kubeconfig").exists()
    status = local_cluster.status()
    assert status is not None and status.healthy  # the cluster itself is untouched


def test_existing_backend_with_an_unreachable_cluster_says_so(local_cluster: LocalBackend, tmp_path: Path) -> None:
    text = local_cluster.kubeconfig().read_text()
    server = local_cluster.status().server  # type: ignore[union-attr]
    broken = tmp_path / "broken.kubeconfig"
    broken.write_text(text.replace(server, "https://127.0.0.1:1"))
    up = ckslab(tmp_path, "up", "--backend", "existing", env={"KUBECONFIG": str(broken)})
    assert up.returncode == 1
    assert "does not answer" in up.stderr and "Traceback" not in up.stderr
    assert not (tmp_path / ".lab" / "state.json").exists()
