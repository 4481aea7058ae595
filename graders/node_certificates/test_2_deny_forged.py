"""Step deny-forged: the kubelet-serving CSR that the node did not ask for is denied.

It asks for the node's subject (CN=system:node:<node>, O=system:nodes), which is all the
kubelet-serving signer checks (``ValidateKubeletServingCSR``: the subject, DNS/IP SANs only, the
usages), so the signer would sign it. Two things give it away to a reviewer: its requestor is a
service account, not the node, and one of its SANs is not an address of the node. Nothing in
Kubernetes approves kubelet-serving CSRs on its own: the reviewer is the only check.
"""

from __future__ import annotations

import pytest

from graders.expect import expect, fail
from graders.kube import true_conditions
from graders.node_certificates.lab import RESET_REVIEW, Csr, NodeLab, certificate_of, describe, name_of, node_names, \
    request_of, sans_of

pytestmark = pytest.mark.step("deny-forged")


def _forged(serving_csrs: list[Csr], name: str) -> Csr:
    found = [c for c in serving_csrs if name_of(c) == name]
    if not found:
        fail(f"There is no CSR {name} in the cluster: it was deleted (a refusal is a denial, not a deletion), or "
             "the controller manager removed it an hour after it was decided, so its review cannot be checked.",
             f"{RESET_REVIEW}  (submits the forged request again; kubelet-client.yaml stays)")
    return found[0]


def _why_forged(lab: NodeLab, csr: Csr, addresses: list[str]) -> str:
    request = request_of(csr)
    foreign = [s for s in sans_of(request) if s not in node_names(lab.node, addresses)] if request else []
    reasons = []
    if csr.spec.username != lab.identity:
        reasons.append(f"its requestor is {csr.spec.username}, not the node ({lab.identity})")
    if foreign:
        reasons.append(f"it asks for {', '.join(foreign)}, which is not an address of {lab.node}")
    return " and ".join(reasons) or "it was not made by the kubelet"


def test_forged_request_exists(serving_csrs: list[Csr], forged_name: str) -> None:
    _forged(serving_csrs, forged_name)


def test_forged_request_is_not_approved(lab: NodeLab, serving_csrs: list[Csr], forged_name: str,
                                        addresses: list[str]) -> None:
    csr = _forged(serving_csrs, forged_name)
    if "Approved" not in true_conditions(csr):
        return
    issued = certificate_of(csr) is not None
    fail(f"The CSR {forged_name} was approved{' and the cluster issued its certificate' if issued else ''}: "
         f"{_why_forged(lab, csr, addresses)}. Whoever holds its key can serve TLS as the node and as that "
         "address, with a certificate the cluster CA signed; it cannot be revoked.",
         f"{RESET_REVIEW} deletes it here and submits a new request (kubelet-client.yaml stays); on a real cluster, replace the cluster CA "
         "(kubeadm certs renew does not revoke anything)")


def test_forged_request_is_denied(lab: NodeLab, serving_csrs: list[Csr], forged_name: str,
                                  addresses: list[str]) -> None:
    csr = _forged(serving_csrs, forged_name)
    expect("Denied" in true_conditions(csr),
           f"The CSR {forged_name} is still Pending: {describe(csr)}; {_why_forged(lab, csr, addresses)}. Until it "
           "is denied, anyone allowed to approve can still issue it.",
           f"{lab.decode(forged_name)}; then kubectl certificate deny {forged_name}")
