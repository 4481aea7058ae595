"""``ckslab doctor``'s security checks: each passes on the local plane, and each mistake is named
with its fix. etcd is checked on real etcd processes (the cluster's, and one started here without
client-certificate authentication); the API server is the session's real one."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest
from kubernetes import client

from cluster import binaries, controlplane, csr, ports, preflight, process, security
from cluster.backends.local import LocalBackend
from cluster.backends.local_pki import ensure_pki
from cluster.controlplane import Layout


def doctor(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ckslab", "doctor"], capture_output=True, text=True,
                          env={**{k: v for k, v in os.environ.items() if k != "COLUMNS"}, "CKSLAB_ROOT": str(root)},
                          timeout=120,
                          check=False)


# --- files (no cluster) ------------------------------------------------------------------------

def test_a_key_readable_by_others_is_named_with_chmod(tmp_path: Path) -> None:
    good, bad = tmp_path / "a.key", tmp_path / "b.key"
    for path in (good, bad):
        path.write_text("key")
        path.chmod(0o600)
    assert security.private_files([good, bad]).ok
    bad.chmod(0o644)
    finding = security.private_files([good, bad])
    assert not finding.ok
    assert f"{bad} (mode 0644)" in finding.detail and str(good) not in finding.detail
    assert finding.fix.startswith(f"chmod 600 {bad}")


def test_a_key_owned_by_someone_else_is_named_with_chown(tmp_path: Path) -> None:
    key = tmp_path / "a.key"
    key.write_text("key")
    key.chmod(0o600)
    finding = security.private_files([key], uid=os.getuid() + 1)
    assert not finding.ok and f"owner uid {os.getuid()}" in finding.detail
    assert f"chown {os.getuid() + 1}" in finding.fix


def test_a_ca_key_readable_by_its_group_is_a_finding(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    ensure_pki(layout)
    ca_keys = [layout.pki / "ca.key", layout.pki / "front-proxy-ca.key", layout.etcd_pki / "ca.key"]
    assert security.ca_keys_owner_only(ca_keys).ok
    (layout.etcd_pki / "ca.key").chmod(0o640)
    finding = security.ca_keys_owner_only(ca_keys)
    assert not finding.ok and "etcd/ca.key (mode 0640)" in finding.detail
    assert "sign a certificate for any user" in finding.detail
    assert finding.fix.startswith(f"chmod 600 {layout.etcd_pki / 'ca.key'}")


# --- etcd, real processes ------------------------------------------------------------------------

@pytest.fixture
def etcd_without_client_auth(tmp_path: Path, binaries_built: None) -> Iterator[str]:
    """A real etcd serving TLS with the etcd server certificate but no --client-cert-auth."""
    layout = Layout(tmp_path)
    ensure_pki(layout)
    client_port = ports.pick(0, {0})  # 0 in avoid: any free port
    peer_port = ports.pick(0, {0, client_port})
    url = f"https://127.0.0.1:{client_port}"
    etcd = layout.etcd_pki
    proc = process.Process(
        name="etcd",
        command=[str(binaries.cached().etcd), "--name=doctor-test", f"--data-dir={tmp_path / 'data'}",
                 f"--listen-client-urls={url}", f"--advertise-client-urls={url}",
                 f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
                 f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
                 f"--initial-cluster=doctor-test=http://127.0.0.1:{peer_port}",
                 f"--cert-file={etcd / 'server.crt'}", f"--key-file={etcd / 'server.key'}", "--log-level=warn"],
        log_file=tmp_path / "etcd.log", health_url=f"{url}/health", health_ca=etcd / "ca.crt")
    pid = proc.start()
    try:
        yield url
    finally:
        process.stop_pid(pid, "etcd")


@pytest.mark.cluster
def test_etcd_without_client_certificate_auth_is_a_finding(etcd_without_client_auth: str, tmp_path: Path) -> None:
    finding = security.etcd_requires_client_certificates(etcd_without_client_auth, tmp_path / "etcd.yaml")
    assert not finding.ok
    assert "answers a client without a certificate" in finding.detail
    assert "--client-cert-auth=true" in finding.fix and "ckslab controlplane restart etcd" in finding.fix


@pytest.mark.cluster
def test_the_local_planes_etcd_passes(local_cluster: LocalBackend) -> None:
    findings = {f.check: f for f in local_cluster.security_findings()}
    assert findings["etcd client certificates"].ok, findings["etcd client certificates"]


# --- the whole doctor on the real cluster ----------------------------------------------------------

@pytest.mark.cluster
def test_doctor_passes_then_names_a_0644_key_with_its_fix(local_cluster: LocalBackend) -> None:
    root = local_cluster.lab.root
    clean = doctor(root)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    for check in ("etcd client certificates", "private keys 0600", "CA keys owner-only", "anonymous auth"):
        assert check in clean.stdout
    key = local_cluster.layout.pki / "apiserver-etcd-client.key"
    ca_key = local_cluster.layout.pki / "ca.key"
    key.chmod(0o644)
    ca_key.chmod(0o640)
    try:
        found = doctor(root)
    finally:
        key.chmod(0o600)
        ca_key.chmod(0o600)
    assert found.returncode == 1
    assert f"{key} (mode 0644)" in found.stdout
    assert f"chmod 600 {ca_key} {key}" in found.stdout or f"chmod 600 {key}" in found.stdout
    assert f"{ca_key} (mode 0640)" in found.stdout and "system:masters included" in found.stdout
    assert doctor(root).returncode == 0


@pytest.mark.cluster
def test_a_binding_for_anonymous_is_a_finding_with_its_delete(local_cluster: LocalBackend) -> None:
    name = "ckslab-test-anonymous-view"
    with csr.api_client(local_cluster.layout.admin_conf) as api:
        rbac = client.RbacAuthorizationV1Api(api)
        rbac.create_cluster_role_binding(client.V1ClusterRoleBinding(
            metadata=client.V1ObjectMeta(name=name),
            role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="view"),
            subjects=[client.RbacV1Subject(api_group="rbac.authorization.k8s.io", kind="User",
                                           name="system:anonymous")]))
        try:
            finding = {f.check: f for f in local_cluster.security_findings()}["anonymous auth"]
        finally:
            rbac.delete_cluster_role_binding(name)
    assert not finding.ok
    assert f"ClusterRoleBinding {name} names system:anonymous" in finding.detail
    assert finding.fix == f"kubectl delete clusterrolebinding {name}"
    assert {f.check: f for f in local_cluster.security_findings()}["anonymous auth"].ok


def test_anonymous_auth_off_is_not_what_kubeadm_sets(tmp_path: Path) -> None:
    command = [*controlplane.apiserver_command(Layout(tmp_path), controlplane.Ports(1, 2, 3, 4, 5)),
               "--anonymous-auth=false"]
    finding = security.anonymous_as_kubeadm("https://127.0.0.1:1", tmp_path / "ca.crt", tmp_path / "admin.conf",
                                            command, tmp_path / "kube-apiserver.yaml")
    assert not finding.ok and "--anonymous-auth=false" in finding.detail
    assert "Remove --anonymous-auth=false" in finding.fix


def test_certificate_expiry_reads_the_served_and_the_kubeconfigs_certificates(local_cluster: LocalBackend) -> None:
    """A new cluster's certificates last kubeadm's year; 340 days later the same ones are a finding."""
    fresh = preflight.certificate_expiry(local_cluster.kubeconfig())
    assert fresh.ok, fresh
    assert fresh.detail.count("(36") == 2, fresh.detail  # 364 or 365 days left, served and client
    late = preflight.certificate_expiry(local_cluster.kubeconfig(),
                                        dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=340))
    assert not late.ok and "API server's serving certificate expires" in late.detail, late
    assert "kubeadm certs renew all" in late.fix


def test_certificate_expiry_of_a_server_that_does_not_answer_says_so(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(f"clusters:\n- cluster:\n    server: https://127.0.0.1:{ports.pick(47000, set())}\n")
    found = preflight.certificate_expiry(kubeconfig)
    assert not found.ok and found.detail.startswith("could not read the certificates"), found
