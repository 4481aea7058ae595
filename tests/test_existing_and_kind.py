"""``BACKEND=existing`` on the real local control plane, and the kind backend end to end.

The kind test runs for real wherever Docker can run kind's privileged node containers; on
machines where it cannot (this project's CI among them) it is skipped with Docker's own reason.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from cluster import binaries, docker
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


@pytest.fixture(scope="module")
def kind_usable() -> None:
    found = docker.check()
    if not found.usable:
        pytest.skip(f"kind cannot run here: {found.reason}")
    if not found.image_present:
        # docker.check() no longer pulls; until the kind backend pulls with progress or builds the local
        # node image (issue 9, item 1 and 3), an absent image is a reason not to try.
        pytest.skip(f"kind cannot run here yet: {found.reason}")


@pytest.fixture
def kind_cluster(kind_usable: None, tmp_path: Path) -> Iterator[Path]:
    binaries.ensure("auto", lambda _m: None, names=("kind", "kubectl"))
    up = ckslab(tmp_path, "up", "--backend", "kind", timeout=900)
    assert up.returncode == 0, up.stderr
    yield tmp_path
    assert ckslab(tmp_path, "down", timeout=300).returncode == 0


def test_kind_backend_end_to_end(kind_cluster: Path) -> None:
    assert ckslab(kind_cluster, "status").returncode == 0
    shown = ckslab(kind_cluster, "controlplane", "show", "controller-manager")
    assert "--cluster-signing-cert-file=/etc/kubernetes/pki/ca.crt" in shown.stdout
    ca = ckslab(kind_cluster, "controlplane", "ca")
    assert ca.stdout.startswith("-----BEGIN CERTIFICATE-----")
    assert ckslab(kind_cluster, "doctor").returncode == 0
