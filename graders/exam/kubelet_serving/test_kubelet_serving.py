"""Graders of the exam task kubelet-serving: the forged request denied, the kubelet's own issued and served.

The node's requests are told apart as the node-certificates lab's graders do (``is_nodes_own``:
requested by system:node:NODE for that CN). The served certificate is read from a TLS handshake with
the kubelet and must be the very certificate the signer issued for one of the node's own CSRs;
once the csrcleaner has deleted that CSR (an hour after issuing), the certificate the kubelet saved
in kubelet-server-current.pem (which it writes only from an issued CSR) stands in for it.
"""

from __future__ import annotations

from typing import Callable

import pytest
from cryptography import x509
from kubernetes import client

from cluster import pki
from cluster.backends.node import Node
from graders import audit, kube
from graders.context import GradingContext
from graders.exam import kubelet, look
from graders.exam.inputs import TaskInput
from graders.expect import brief, expect, fail
from graders.node_certificates import node as node_files
from graders.node_certificates.lab import SERVER_CURRENT, SERVING_SIGNER, Csr, NodeLab, certificate_of, describe, \
    is_nodes_own, name_of

Observe = Callable[[object, object], None]


@pytest.fixture(scope="module")
def lab(context: GradingContext, node: Node) -> NodeLab:
    return NodeLab(context.workspace, context.user, context.root, kubelet.kubelet_node(node))


@pytest.fixture(scope="module")
def own_csrs(admin_api: client.ApiClient, lab: NodeLab) -> list[Csr]:
    """The node's own kubelet-serving CSRs, oldest first."""
    try:
        listed = client.CertificatesV1Api(admin_api).list_certificate_signing_request(
            field_selector=f"spec.signerName={SERVING_SIGNER}", _request_timeout=kube.REQUEST_TIMEOUT)
    except Exception as err:
        fail(f"could not check: the cluster did not answer when listing the CSRs ({brief(err)}).")
    own = [c for c in listed.items or [] if is_nodes_own(c, lab)]
    return sorted(own, key=lambda c: (str(c.metadata.creation_timestamp if c.metadata else ""), name_of(c)))


@pytest.fixture(scope="module")
def saved(lab: NodeLab, cluster_ca: x509.Certificate) -> x509.Certificate | None:
    """The serving certificate the kubelet saved from an issued CSR, when the cluster CA signed it."""
    found = node_files.certificate(lab, SERVER_CURRENT)
    return found.certificate if found is not None and pki.chains_to(found.certificate, cluster_ca) else None


def _state(seen: look.CsrSeen) -> str:
    if not seen.exists:
        return "missing"
    if seen.denied:
        return "denied"
    if seen.approved:
        return "approved and issued" if seen.certificate else "approved, not issued"
    return "pending"


@pytest.mark.step("forged-denied")
def test_forged_denied(task: TaskInput, admin_api: client.ApiClient, trail: audit.Trail | audit.Unavailable,
                       lab: NodeLab, observe: Observe) -> None:
    name = f"csr-{task['forged']}"
    seen = look.csr(admin_api, trail, name)
    state = _state(seen)
    observe(f"{name}: denied", f"{name}: {state}")
    expect(seen.exists, f"there is no CSR {name} in this cluster.")
    expect(state == "denied" and seen.certificate is None,
           f"{name} is {state}: it was requested by system:serviceaccount:{task['forger_ns']}:{task['forger']}, "
           f"not by the node ({lab.identity}), and asks for an address that is not the node's.")


@pytest.mark.step("own-approved")
def test_own_approved(own_csrs: list[Csr], saved: x509.Certificate | None, lab: NodeLab, observe: Observe) -> None:
    issued = [c for c in own_csrs if "Approved" in kube.true_conditions(c) and certificate_of(c) is not None]
    states = [f"{name_of(c)}: {', '.join(kube.true_conditions(c)) or 'Pending'}"
              + (", issued" if certificate_of(c) is not None else "") for c in own_csrs]
    seen = "; ".join(states) or "no kubelet-serving CSR of the node"
    if not issued and saved is not None:
        seen += f" (the kubelet holds a CA-signed {SERVER_CURRENT}: its CSR was issued, then cleaned up)"
    observe(f"a kubelet-serving CSR of {lab.identity}: Approved, issued", seen)
    expect(issued or saved is not None,
           f"no kubelet-serving CSR requested by {lab.identity} was approved and issued ({seen}). "
           "Is serverTLSBootstrap: true in /var/lib/kubelet/config.yaml, and the kubelet restarted?")


@pytest.mark.step("serving-certificate")
def test_serving_certificate(lab: NodeLab, own_csrs: list[Csr], saved: x509.Certificate | None,
                             cluster_ca: x509.Certificate, observe: Observe) -> None:
    served = kubelet.served_certificate(lab.cluster_node)
    ours = [c for c in own_csrs if certificate_of(c) is not None]
    from_csr = served is not None and (any(certificate_of(c) == served for c in ours) or
                                       (not ours and served == saved))
    shown = kubelet.describe(served, cluster_ca)
    if served is not None and from_csr:
        shown += ", the one issued for the node's own CSR"
    observe(f"port {kubelet.KUBELET_PORT}: the certificate the cluster CA issued for {lab.identity}'s own CSR",
            f"port {kubelet.KUBELET_PORT}: {shown}")
    expect(served is not None and from_csr and pki.chains_to(served, cluster_ca),
           f"the kubelet of {lab.node} serves {shown}"
           + ("" if served is None or from_csr else f", not one issued for {describe(ours[-1]) if ours else 'a CSR of the node'}")
           + ".")
