"""What the node-certificates graders look at: the node, its kubelet's files, the serving CSRs.

The workspace, user and project root come from the grading context; the node is the cluster's own
(``Backend.node()``), which must run a kubelet. Everything is read once per session and only read.
"""

from __future__ import annotations

import pytest
from kubernetes import client

from graders import kube
from cluster.backends.node import Node
from graders.context import GradingContext
from graders.expect import brief, fail
from graders.node_certificates import node
from graders.node_certificates.lab import CLIENT_CURRENT, SERVER_CURRENT, SERVING_SIGNER, Csr, NodeLab, name_of

_UNREACHABLE = "Run `ckslab status`; `make up` restarts what is down."


@pytest.fixture(scope="session")
def lab(context: GradingContext, node: Node) -> NodeLab:
    if not node.runs_kubelet:
        fail("This lab is done on the kind backend only: ckslab reads the kubelet's files inside the node.",
             "make down && make up BACKEND=kind")
    return NodeLab(context.workspace, context.user, context.root, node)


@pytest.fixture(scope="session")
def addresses(admin_api: client.ApiClient, lab: NodeLab) -> list[str]:
    """The addresses of the node's Node object (InternalIP, Hostname, ...)."""
    try:
        found = client.CoreV1Api(admin_api).read_node(lab.node, _request_timeout=kube.REQUEST_TIMEOUT)
    except Exception as err:
        fail(f"could not check: the cluster did not answer when reading the node {lab.node} ({brief(err)}).",
             _UNREACHABLE)
    return [a.address for a in (found.status.addresses or [])] if found.status else []


@pytest.fixture(scope="session")
def serving_csrs(admin_api: client.ApiClient) -> list[Csr]:
    """Every CSR for the kubelet-serving signer, oldest first."""
    try:
        listed = client.CertificatesV1Api(admin_api).list_certificate_signing_request(
            field_selector=f"spec.signerName={SERVING_SIGNER}", _request_timeout=kube.REQUEST_TIMEOUT)
    except Exception as err:
        fail(f"could not check: the cluster did not answer when listing the CSRs ({brief(err)}).", _UNREACHABLE)
    return sorted(listed.items or [], key=lambda c: (str(c.metadata.creation_timestamp if c.metadata else ""),
                                                     name_of(c)))


@pytest.fixture(scope="session")
def client_csrs(admin_api: client.ApiClient) -> list[Csr]:
    """Every CSR for the kube-apiserver-client-kubelet signer (the csrcleaner removes them an hour after issuing)."""
    try:
        listed = client.CertificatesV1Api(admin_api).list_certificate_signing_request(
            field_selector="spec.signerName=kubernetes.io/kube-apiserver-client-kubelet",
            _request_timeout=kube.REQUEST_TIMEOUT)
    except Exception as err:
        fail(f"could not check: the cluster did not answer when listing the CSRs ({brief(err)}).", _UNREACHABLE)
    return list(listed.items or [])


@pytest.fixture(scope="session")
def forged_name(lab: NodeLab) -> str:
    """The name of the forged CSR setup.sh submitted."""
    try:
        name = lab.forged_record.read_text().strip()
    except OSError:
        name = ""
    if not name:
        fail("The lab has not been started on this cluster: there is no forged CSR to review.",
             "ckslab start node-certificates")
    return name


@pytest.fixture(scope="session")
def client_cert(lab: NodeLab) -> node.NodeCertificate:
    found = node.certificate(lab, CLIENT_CURRENT)
    if found is None:
        fail(f"could not check: {lab.node} has no {CLIENT_CURRENT}: the kubelet has no client certificate.",
             _UNREACHABLE)
    return found


@pytest.fixture(scope="session")
def server_cert(lab: NodeLab) -> node.NodeCertificate | None:
    return node.certificate(lab, SERVER_CURRENT)


@pytest.fixture(scope="session")
def kubelet_config(lab: NodeLab, admin_api: client.ApiClient) -> node.KubeletConfig:
    return node.kubelet_config(lab, admin_api)
