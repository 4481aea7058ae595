"""kubeadm's PKI on the real local control plane: etcd's TLS, the front proxy, kubeadm reading it.

Every test talks to the running processes (etcd's client port, the API server, the real
``kubeadm`` binary); nothing is mocked.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from cluster import binaries, certlist, controlplane, process, state
from cluster.backends.local import LocalBackend
from cluster.controlplane import Layout
from conftest import cannot_run

pytestmark = pytest.mark.cluster

DAY = 86400


def _ports(backend: LocalBackend) -> dict[str, int]:
    current = state.read(backend.lab.state_file)
    assert current is not None
    return dict(current.details["ports"])


def _etcd_get(layout: Layout, port: int, cert: tuple[Path, Path] | None) -> str:
    """GET /health on etcd's client port, verifying etcd with the etcd CA; the body, or the error."""
    context = ssl.create_default_context(cafile=str(layout.etcd_pki / "ca.crt"))
    if cert is not None:
        context.load_cert_chain(str(cert[0]), str(cert[1]))
    try:
        with urllib.request.urlopen(f"https://127.0.0.1:{port}/health", context=context, timeout=5) as resp:
            return str(resp.read().decode())
    except (urllib.error.URLError, OSError, ssl.SSLError) as err:
        return f"refused: {err!r}"


def test_etcd_refuses_a_client_without_a_certificate(local_cluster: LocalBackend) -> None:
    layout, port = local_cluster.layout, _ports(local_cluster)["etcd"]
    assert _etcd_get(layout, port, None).startswith("refused")
    # Plain HTTP on the client port gets no etcd answer either.
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /v3/kv/range HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        answer = sock.recv(4096)
    assert b'"header"' not in answer and b"cluster_id" not in answer
    # A certificate from the cluster CA (not the etcd CA) is refused too.
    kubelet_client = (layout.pki / "apiserver-kubelet-client.crt", layout.pki / "apiserver-kubelet-client.key")
    assert _etcd_get(layout, port, kubelet_client).startswith("refused")
    # kubeadm's healthcheck client certificate, signed by the etcd CA, is answered.
    healthcheck = controlplane.health_client_cert(layout, controlplane.ETCD)
    assert '"health":"true"' in _etcd_get(layout, port, healthcheck)


def test_etcd_listens_on_loopback_only(local_cluster: LocalBackend) -> None:
    command = local_cluster.running_command(controlplane.ETCD)
    urls = [arg.split("=", 1)[1] for arg in command if arg.startswith("--listen-")]
    assert urls and all(url.startswith("https://127.0.0.1:") for url in urls), urls


def test_kubeadm_reads_every_certificate_and_kubeconfig(local_cluster: LocalBackend) -> None:
    """`kubeadm certs check-expiration` of v1.37.0 reads kubeconfigs from /etc/kubernetes only
    (no --kubeconfig-dir flag): --rootfs chroots into the local backend's tree, which is laid out
    from / as a kubeadm node."""
    if os.geteuid() != 0:
        cannot_run("kubeadm --rootfs needs root (chroot)")
    result = subprocess.run(
        [str(binaries.cached().kubeadm), "certs", "check-expiration", "--rootfs", str(local_cluster.layout.base),
         "-o", "json"], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout[result.stdout.index("{"):])
    leaves = {c["name"]: c for c in info["certificates"]}
    cas = {c["name"]: c for c in info["certificateAuthorities"]}
    assert set(leaves) == ({s.name for s in certlist.CERTIFICATES if not s.is_ca}
                           | {k.file_name for k in certlist.KUBECONFIGS})
    assert set(cas) == {s.name for s in certlist.CERTIFICATES if s.is_ca}
    for name, entry in leaves.items():
        assert not entry["missing"] and not entry["externallyManaged"], entry
        assert 364 * DAY <= entry["residualTime"] <= 365 * DAY, entry
        expected_ca = certlist.BY_NAME[name].ca if name in certlist.BY_NAME else "ca"
        assert entry["caName"] == expected_ca, entry
    for entry in cas.values():
        assert not entry["missing"] and not entry["externallyManaged"], entry
        assert 3649 * DAY <= entry["residualTime"] <= 3650 * DAY, entry


def _self_subject_review(local_cluster: LocalBackend, cert: tuple[Path, Path], headers: dict[str, str]) -> str:
    """The user name the API server sees for a request with ``cert`` and ``headers``."""
    context = ssl.create_default_context(cafile=str(local_cluster.layout.pki / "ca.crt"))
    context.load_cert_chain(str(cert[0]), str(cert[1]))
    body = json.dumps({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}).encode()
    port = _ports(local_cluster)["apiserver"]
    request = urllib.request.Request(
        f"https://127.0.0.1:{port}/apis/authentication.k8s.io/v1/selfsubjectreviews", data=body,
        headers={"Content-Type": "application/json", **headers}, method="POST")
    with urllib.request.urlopen(request, context=context, timeout=10) as resp:
        return str(json.loads(resp.read())["status"]["userInfo"]["username"])


def test_the_front_proxy_client_may_assert_users_and_nobody_else(local_cluster: LocalBackend) -> None:
    """--requestheader-client-ca-file is the front-proxy CA, and --requestheader-allowed-names is
    front-proxy-client: only that certificate makes the API server believe X-Remote-User."""
    pki_dir = local_cluster.layout.pki
    front_proxy = (pki_dir / "front-proxy-client.crt", pki_dir / "front-proxy-client.key")
    kubelet_client = (pki_dir / "apiserver-kubelet-client.crt", pki_dir / "apiserver-kubelet-client.key")
    asserted = {"X-Remote-User": "jane", "X-Remote-Group": "developers"}
    assert _self_subject_review(local_cluster, front_proxy, asserted) == "jane"
    assert _self_subject_review(local_cluster, kubelet_client, asserted) == "kube-apiserver-kubelet-client"


def test_the_controller_manager_has_the_request_header_ca(local_cluster: LocalBackend) -> None:
    log = local_cluster.layout.log(controlplane.CONTROLLER_MANAGER).read_text(errors="replace")
    assert "starting kube-controller-manager" in log  # the right log
    assert "missing content for CA bundle" not in log
    assert "requestheader-client-ca-file" not in log.split("--- ckslab starting")[-1].split("\n", 1)[1]


def test_the_scheduler_is_the_fourth_healthy_component(local_cluster: LocalBackend) -> None:
    status = local_cluster.status()
    assert status is not None
    assert [c.name for c in status.components] == list(controlplane.COMPONENTS)
    scheduler = status.components[-1]
    assert scheduler.name == "kube-scheduler" and scheduler.running and scheduler.healthy, scheduler
    url = controlplane.health_url(controlplane.SCHEDULER, controlplane.Ports(**_ports(local_cluster)))
    assert process.probe(url, text="ok")
    assert "--kubeconfig=" + str(local_cluster.layout.scheduler_conf) in local_cluster.running_command(
        controlplane.SCHEDULER)


def test_admin_conf_is_a_cluster_admin_through_kubeadms_binding(local_cluster: LocalBackend) -> None:
    from kubernetes import client

    from cluster import csr

    with csr.api_client(local_cluster.layout.admin_conf) as api:
        binding = client.RbacAuthorizationV1Api(api).read_cluster_role_binding(certlist.CLUSTER_ADMINS)
        assert binding.role_ref.name == "cluster-admin"
        assert [s.name for s in binding.subjects or []] == [certlist.CLUSTER_ADMINS]
        assert client.CoreV1Api(api).list_namespace().items  # admin.conf works through that binding


def test_every_key_is_0600(local_cluster: LocalBackend) -> None:
    etc = local_cluster.layout.etc
    keys = [p for p in etc.rglob("*.key")] + [etc / k.file_name for k in certlist.KUBECONFIGS]
    assert len(keys) == len(certlist.CERTIFICATES) + 1 + len(certlist.KUBECONFIGS)
    for key in keys:
        assert key.stat().st_mode & 0o777 == 0o600, key
