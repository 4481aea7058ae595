"""The Certificates API on the real local control plane: no mock of the API server.

A user key and CSR made with ``cryptography`` go through certificates.k8s.io/v1, are approved
(by the approval subresource, and by the real ``kubectl certificate approve``), signed by the
controller manager with the cluster CA, and the certificate then authenticates to the API
server, which RBAC still forbids everything.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from kubernetes import client

from cluster import binaries, csr, kubeconfig, pki
from cluster.backends.local import LocalBackend
from cluster.versions import KUBERNETES_VERSION

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def api(kubeconfig: Path) -> client.ApiClient:
    return csr.api_client(kubeconfig)


@pytest.fixture(scope="module")
def ca_cert(local_cluster: LocalBackend) -> x509.Certificate:
    return x509.load_pem_x509_certificate(local_cluster.ca_certificate())


def kubectl(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(binaries.cached().kubectl), *args], capture_output=True, text=True,
                          env={**os.environ, "KUBECONFIG": str(kubeconfig)}, timeout=60, check=False)


def issue(api: client.ApiClient, name: str, user: str, groups: tuple[str, ...] = ()) -> tuple[pki.PrivateKey, x509.Certificate]:
    key = pki.new_rsa_key()
    csr.submit(api, name, pki.csr_pem(pki.new_csr(key, user, groups)))
    csr.approve(api, name)
    result = csr.wait_for_outcome(api, name)
    assert result.certificate is not None, (result.condition, result.message)
    return key, x509.load_pem_x509_certificate(result.certificate)


def test_approved_csr_is_signed_by_the_cluster_ca(api: client.ApiClient, ca_cert: x509.Certificate) -> None:
    key, cert = issue(api, "alice", "alice", ("developers",))
    assert pki.chains_to(cert, ca_cert)
    assert pki.common_name(cert.subject) == "alice"
    assert pki.organizations(cert.subject) == ["developers"]
    assert pki.extended_usages(cert) == [pki.CLIENT_AUTH]
    assert pki.same_public_key(cert.public_key(), key.public_key())
    stored = client.CertificatesV1Api(api).read_certificate_signing_request("alice")
    assert stored.spec.signer_name == "kubernetes.io/kube-apiserver-client"
    assert stored.spec.username == "kubernetes-admin"  # the requester, taken from the admin cert


def test_kubectl_certificate_approve_gets_it_signed(api: client.ApiClient, kubeconfig: Path,
                                                    ca_cert: x509.Certificate) -> None:
    key = pki.new_ec_key()
    csr.submit(api, "bob", pki.csr_pem(pki.new_csr(key, "bob")))
    pending = kubectl(kubeconfig, "get", "csr", "bob")
    assert pending.returncode == 0 and "Pending" in pending.stdout, pending
    approved = kubectl(kubeconfig, "certificate", "approve", "bob")
    assert approved.returncode == 0, approved.stderr
    assert "approved" in approved.stdout
    result = csr.wait_for_outcome(api, "bob")
    assert result.certificate is not None
    cert = x509.load_pem_x509_certificate(result.certificate)
    assert pki.chains_to(cert, ca_cert) and pki.common_name(cert.subject) == "bob"
    listed = kubectl(kubeconfig, "get", "csr", "bob")
    assert "Approved,Issued" in listed.stdout


def test_the_certificate_authenticates_and_rbac_forbids_the_rest(api: client.ApiClient, local_cluster: LocalBackend,
                                                                 tmp_path: Path) -> None:
    key, cert = issue(api, "carol", "carol", ("team-a",))
    config = kubeconfig.build(server=api.configuration.host, ca_pem=local_cluster.ca_certificate(), user="carol",
                              client_cert_pem=pki.cert_pem(cert), client_key_pem=pki.key_pem(key))
    path = tmp_path / "carol.kubeconfig"
    path.write_bytes(kubeconfig.dump(config))
    carol = csr.api_client(path)
    review = client.AuthenticationV1Api(carol).create_self_subject_review(
        client.V1SelfSubjectReview(api_version="authentication.k8s.io/v1", kind="SelfSubjectReview"))
    assert review.status.user_info.username == "carol"
    assert "team-a" in review.status.user_info.groups
    with pytest.raises(client.ApiException) as denied:
        client.CoreV1Api(carol).list_namespaced_pod("default")
    assert denied.value.status == 403
    whoami = kubectl(path, "auth", "whoami", "-o", "json")
    assert json.loads(whoami.stdout)["status"]["userInfo"]["username"] == "carol"


def test_server_auth_from_the_client_signer_fails_without_a_certificate(api: client.ApiClient) -> None:
    key = pki.new_rsa_key()
    csr.submit(api, "web", pki.csr_pem(pki.new_csr(key, "web")),
               usages=("digital signature", "key encipherment", "server auth"))
    csr.approve(api, "web")
    result = csr.wait_for_outcome(api, "web")
    assert result.certificate is None
    assert result.condition == "Failed"
    assert "server auth" in result.message or "usage" in result.message.lower()


def test_binaries_report_the_pinned_release(kubeconfig: Path, local_cluster: LocalBackend) -> None:
    version = json.loads(kubectl(kubeconfig, "version", "-o", "json").stdout)
    assert version["clientVersion"]["gitVersion"] == KUBERNETES_VERSION
    assert version["serverVersion"]["gitVersion"] == KUBERNETES_VERSION
    status = local_cluster.status()
    assert status is not None and status.healthy
    ctx = ssl.create_default_context(cafile=str(local_cluster.layout.pki / "ca.crt"))
    with urllib.request.urlopen(f"{status.server}/version", context=ctx, timeout=10) as resp:
        assert json.load(resp)["gitVersion"] == KUBERNETES_VERSION
