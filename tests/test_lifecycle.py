"""Lifecycle of the local control plane through the real ``ckslab`` command.

Each test brings up its own cluster in its own project root, so killing components never
disturbs the session's shared cluster.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from cluster import binaries, ports, process
from cluster.backends import local_kubelet
from cluster.backends.local import LocalBackend
from cluster.controlplane import COMPONENTS
from cluster.paths import LabPaths
from cluster.waiting import wait_until

pytestmark = pytest.mark.cluster


def ckslab(root: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CKSLAB_ROOT": str(root)}
    return subprocess.run([sys.executable, "-m", "ckslab", *args], capture_output=True, text=True,
                          env=env, timeout=timeout, check=False)


def our_processes(root: Path) -> list[int]:
    return process.processes_with(str(root / ".lab" / "local"), COMPONENTS)


@pytest.fixture
def cluster_root(lab_root: Path, binaries_built: None) -> Iterator[Path]:
    up = ckslab(lab_root, "up", "--backend", "local")
    assert up.returncode == 0, up.stderr
    yield lab_root
    ckslab(lab_root, "down")
    for pid in our_processes(lab_root):  # never leak processes, even when a test failed
        os.kill(pid, signal.SIGKILL)


def pids(root: Path) -> dict[str, int]:
    return json.loads((root / ".lab" / "state.json").read_text())["details"]["pids"]


def test_up_twice_changes_nothing_and_down_leaves_no_process(cluster_root: Path) -> None:
    before = pids(cluster_root)
    (cluster_root / ".lab" / "kubeconfig").unlink()  # a learner deleted it: `up` puts it back
    again = ckslab(cluster_root, "up")
    assert again.returncode == 0
    assert "already up" in again.stdout
    assert pids(cluster_root) == before
    assert (cluster_root / ".lab" / "kubeconfig").read_bytes() == (
        cluster_root / ".lab/local/etc/kubernetes/admin.conf").read_bytes()
    status = ckslab(cluster_root, "status")
    assert status.returncode == 0
    assert status.stdout.count("yes") == 2 * len(COMPONENTS)  # running and healthy
    assert sorted(our_processes(cluster_root)) == sorted(before.values())
    down = ckslab(cluster_root, "down")
    assert down.returncode == 0
    assert our_processes(cluster_root) == []
    assert not (cluster_root / ".lab" / "kubeconfig").exists()
    assert ckslab(cluster_root, "down").returncode == 0


def test_stop_leaves_no_process_not_even_the_kubelet_loop_and_up_brings_it_all_back(cluster_root: Path) -> None:
    """What a hosted class does at a learner's logout (``LocalBackend.stop``): data kept, nothing left running."""
    backend = LocalBackend(LabPaths(cluster_root))
    assert local_kubelet.find(backend.layout.base)
    assert backend.stop(lambda _m: None)
    assert our_processes(cluster_root) == [] and local_kubelet.find(backend.layout.base) == []
    assert (cluster_root / ".lab" / "state.json").exists()  # the cluster is kept
    again = ckslab(cluster_root, "up")
    assert again.returncode == 0 and "recovered" in again.stdout, again.stdout + again.stderr
    assert len(local_kubelet.find(backend.layout.base)) == 1
    problems = json.loads((cluster_root / ".lab" / "state.json").read_text())["details"].get("problems", {})
    assert not any("exited by itself" in p for p in problems.values()), problems


def test_killed_component_shows_in_status_and_up_recovers(cluster_root: Path) -> None:
    os.kill(pids(cluster_root)["kube-controller-manager"], signal.SIGKILL)
    status = ckslab(cluster_root, "status")
    assert status.returncode == 1
    assert "not running" in status.stdout and "make up" in status.stdout
    up = ckslab(cluster_root, "up")
    assert up.returncode == 0, up.stderr
    assert "recovered" in up.stdout
    assert ckslab(cluster_root, "status").returncode == 0


def _kcm_manifest(root: Path) -> Path:
    return root / ".lab/local/etc/kubernetes/manifests/kube-controller-manager.yaml"


def _add_flag(manifest: Path, flag: str) -> None:
    text = manifest.read_text()
    anchor = "    - --cluster-signing-cert-file="
    assert anchor in text
    manifest.write_text(text.replace(anchor, f"    - {flag}\n{anchor}", 1))


def _running_flags(root: Path, component: str) -> list[bytes]:
    return Path(f"/proc/{pids(root)[component]}/cmdline").read_bytes().split(b"\0")


def test_up_after_a_crash_keeps_the_learners_manifest_edit(cluster_root: Path) -> None:
    """A learner's flag survives `make up` after the component died: it starts from its manifest."""
    manifest = _kcm_manifest(cluster_root)
    _add_flag(manifest, "--cluster-signing-duration=720h")
    edited = manifest.read_text()
    # The kubelet loop applies the edit (as a kubelet restarts a changed static pod); then a crash.
    wait_until(lambda: b"--cluster-signing-duration=720h" in _running_flags(cluster_root, "kube-controller-manager"),
               30, 0.5, "the controller manager to run the edit")
    os.kill(pids(cluster_root)["kube-controller-manager"], signal.SIGKILL)
    up = ckslab(cluster_root, "up")
    assert up.returncode == 0, up.stdout + up.stderr
    assert "your edits kept" in up.stderr and "recovered" in up.stdout
    assert manifest.read_text() == edited
    assert b"--cluster-signing-duration=720h" in _running_flags(cluster_root, "kube-controller-manager")
    assert ckslab(cluster_root, "status").returncode == 0


def test_up_after_a_crash_names_a_manifest_the_component_refuses(cluster_root: Path) -> None:
    """A flag the controller manager refuses: it stops (the kubelet loop tried the edit), and `make up`
    says so with the fix; the manifest is left as it is."""
    manifest = _kcm_manifest(cluster_root)
    first = pids(cluster_root)["kube-controller-manager"]
    _add_flag(manifest, "--cluster-signing-duration=30d")
    edited = manifest.read_text()
    wait_until(lambda: not process.is_running(pids(cluster_root)["kube-controller-manager"], str(cluster_root))
               and pids(cluster_root)["kube-controller-manager"] != first, 30, 0.5, "the refused edit to be tried")
    up = ckslab(cluster_root, "up")
    assert up.returncode != 0 and "Traceback" not in up.stdout + up.stderr
    said = up.stdout + up.stderr
    assert "does not start from its manifest" in said and "ckslab controlplane restart kube-controller-manager" in said
    assert manifest.read_text() == edited


def test_stale_state_after_everything_died_is_recovered(cluster_root: Path) -> None:
    ca = (cluster_root / ".lab/local/etc/kubernetes/pki/ca.crt").read_bytes()
    for pid in our_processes(cluster_root):
        os.kill(pid, signal.SIGKILL)
    up = ckslab(cluster_root, "up")
    assert up.returncode == 0, up.stderr
    assert ckslab(cluster_root, "status").returncode == 0
    assert (cluster_root / ".lab/local/etc/kubernetes/pki/ca.crt").read_bytes() == ca  # same cluster


def test_a_cluster_an_older_ckslab_started_is_upgraded_by_up(cluster_root: Path) -> None:
    """Before kubeadm's whole PKI, a cluster had no etcd TLS, no front proxy and no scheduler: its
    state names three components and its PKI has ca, apiserver and sa only. `make up` restarts it
    with the missing files made, keeping the CA and the data."""
    pki_dir = cluster_root / ".lab/local/etc/kubernetes/pki"
    ca = (pki_dir / "ca.crt").read_bytes()
    for loop in local_kubelet.find(cluster_root / ".lab" / "local"):  # an older ckslab ran no kubelet loop
        process.stop_pid(loop, "kubelet")
    kubectl = [str(binaries.cached().kubectl), "--kubeconfig", str(cluster_root / ".lab/kubeconfig")]
    subprocess.run([*kubectl, "create", "namespace", "kept"], check=True, capture_output=True, timeout=60)
    for pid in our_processes(cluster_root):
        os.kill(pid, signal.SIGKILL)
    shutil.rmtree(pki_dir / "etcd")
    for stale in pki_dir.glob("front-proxy-*"):
        stale.unlink()
    state_file = cluster_root / ".lab" / "state.json"
    old = json.loads(state_file.read_text())
    del old["details"]["ports"]["scheduler"], old["details"]["pids"]["kube-scheduler"]
    for newer in ("kubelet", "applied", "problems"):
        old["details"].pop(newer, None)
    state_file.write_text(json.dumps(old))
    status = ckslab(cluster_root, "status")
    assert status.returncode == 1 and "older ckslab" in status.stdout, status.stdout + status.stderr
    up = ckslab(cluster_root, "up")
    assert up.returncode == 0, up.stdout + up.stderr
    assert "started by an older ckslab" in up.stderr
    assert ckslab(cluster_root, "status").returncode == 0
    assert (pki_dir / "ca.crt").read_bytes() == ca
    assert (pki_dir / "etcd" / "server.crt").exists() and (pki_dir / "front-proxy-ca.crt").exists()
    got = subprocess.run([*kubectl, "get", "namespace", "kept"], capture_output=True, text=True, timeout=60)
    assert got.returncode == 0, got.stderr


def test_controlplane_show_and_ca_and_env(cluster_root: Path) -> None:
    shown = ckslab(cluster_root, "controlplane", "show", "controller-manager")
    assert shown.returncode == 0
    assert "kube-controller-manager.yaml" in shown.stdout
    assert "--cluster-signing-cert-file=" in shown.stdout and "--cluster-signing-key-file=" in shown.stdout
    flags = ckslab(cluster_root, "controlplane", "flags", "controller-manager")
    pid = pids(cluster_root)["kube-controller-manager"]
    assert flags.stdout.splitlines() == Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").decode().split("\0")
    ca = ckslab(cluster_root, "controlplane", "ca")
    assert ca.stdout == (cluster_root / ".lab/local/etc/kubernetes/pki/ca.crt").read_text()
    env = ckslab(cluster_root, "env").stdout
    result = subprocess.run(["bash", "-c", f"{env}\nkubeadm version -o short && kubectl get csr -o name && kubectl version -o json"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert '"gitVersion": "v1.37.0"' in result.stdout
    assert result.stdout.startswith("v1.37.0\n")  # kubeadm, from the same cache, on PATH


def test_port_in_use_is_replaced_by_another(lab_root: Path, binaries_built: None) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        assert ports.pick(taken, set()) != taken
        squatted = []
        for preferred in (2379, 2380, 6443, 10257, 10259):  # squat the well-known ports that are free
            if ports.is_free(preferred):
                sock = socket.socket()
                sock.bind(("127.0.0.1", preferred))
                sock.listen()
                squatted.append(sock)
        try:
            up = ckslab(lab_root, "up", "--backend", "local")  # not auto: the host may have Docker
            assert up.returncode == 0, up.stderr
            state = json.loads((lab_root / ".lab" / "state.json").read_text())
            assert not set(state["details"]["ports"].values()) & {2379, 2380, 6443, 10257}
            assert ckslab(lab_root, "status").returncode == 0
        finally:
            for sock in squatted:
                sock.close()
            ckslab(lab_root, "down")
    assert our_processes(lab_root) == []
