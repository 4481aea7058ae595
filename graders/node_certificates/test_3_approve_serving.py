"""Step approve-serving: the kubelet's own serving CSR is approved, issued, and the kubelet serves with it.

The kubelet (``serverTLSBootstrap: true``) asks ``kubernetes.io/kubelet-serving`` for a certificate as
``system:node:<node>``, for its node name and the addresses of its Node object, and waits: until the
certificate is issued it has none to serve TLS with, and the API server cannot reach it. When the
signer issues it, the kubelet writes ``kubelet-server-<date>.pem`` and points
``kubelet-server-current.pem`` at it. A denied request is not retried as such: the kubelet submits a
new CSR a few seconds later.
"""

from __future__ import annotations

from typing import Callable

import pytest
from kubernetes import client

from cluster import pki
from graders import kube, unsigned
from graders.expect import fail
from graders.kube import true_conditions
from graders.node_certificates.lab import (SERVER_CURRENT, SERVING_SIGNER, Csr, NodeLab, certificate_of, describe,
                                           is_nodes_own, name_of)
from graders.node_certificates.node import NodeCertificate
from graders.context import GradingContext

pytestmark = pytest.mark.step("approve-serving")


def _own(lab: NodeLab, serving_csrs: list[Csr]) -> list[Csr]:
    return [c for c in serving_csrs if is_nodes_own(c, lab)]


def test_the_kubelet_has_a_serving_certificate(lab: NodeLab, serving_csrs: list[Csr],
                                               server_cert: NodeCertificate | None,
                                               admin_api: client.ApiClient, context: GradingContext) -> None:
    if server_cert is not None:
        return
    own = _own(lab, serving_csrs)
    pending = [c for c in own if not true_conditions(c)]
    denied = [c for c in own if "Denied" in true_conditions(c)]
    stuck = [c for c in own if "Approved" in true_conditions(c) and certificate_of(c) is None]
    mistake = (f"You denied {', '.join(name_of(c) for c in denied)}, the kubelet's own request "
               f"({describe(denied[-1])}). ") if denied else ""
    if pending:
        newest = pending[-1]
        fail(f"{mistake}The kubelet of {lab.node} has no serving certificate: its CSR {name_of(newest)} "
             f"({describe(newest)}) is still Pending, so the API server cannot reach it over TLS.",
             f"kubectl certificate approve {name_of(newest)}")
    if stuck:
        fail(*unsigned.cause(name_of(stuck[-1]), admin_api, context.root))
    if denied:
        fail(f"{mistake}The kubelet of {lab.node} has no serving certificate; it submits a new CSR a few seconds "
             "after a denial.", f"{lab.list_serving}; approve the node's new request")
    if not lab.forged_record.exists():  # setup.sh writes it: serverTLSBootstrap was never turned on here
        fail("The lab has not been started on this cluster: the kubelet requests no serving certificate yet.",
             "ckslab start node-certificates")
    fail(f"The kubelet of {lab.node} has no serving certificate and no kubelet-serving CSR of its own is in the "
         "cluster: is serverTLSBootstrap on?",
         "ckslab reset node-certificates  (turns it on and restarts the kubelet)")


def test_its_certificate_is_the_one_the_cluster_issued(lab: NodeLab, serving_csrs: list[Csr],
                                                       server_cert: NodeCertificate | None,
                                                       admin_api: client.ApiClient, note: Callable[[str], None]) -> None:
    if server_cert is None:
        return  # the test above says why
    cert = server_cert.certificate
    issued = [c for c in serving_csrs if certificate_of(c) == cert]
    if issued:
        csr = issued[0]
        if not is_nodes_own(csr, lab):
            fail(f"The kubelet serves with the certificate of the CSR {name_of(csr)}, {describe(csr)}: not the "
                 "kubelet's own request.", "ckslab reset node-certificates")
        return
    ca = kube.ca_certificate(admin_api)
    cn = pki.common_name(cert.subject)
    if not pki.chains_to(cert, ca):
        fail(f"{SERVER_CURRENT} in {lab.node} (-> {server_cert.target}) was not signed by the cluster CA "
             f"(issuer {cert.issuer.rfc4514_string()}): it did not come from {SERVING_SIGNER}.",
             "ckslab reset node-certificates")
    if cn != lab.identity:
        fail(f"{SERVER_CURRENT} in {lab.node} is for CN={cn}, not {lab.identity}.", "ckslab reset node-certificates")
    note(f"The kubelet serves with a certificate the cluster CA signed for {lab.identity}; its CSR is gone (the "
         "csrcleaner deletes an issued CSR an hour later).")
