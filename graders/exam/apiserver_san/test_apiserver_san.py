"""Graders of the exam task apiserver-san: the certificate the running API server serves (a TLS
handshake), its SANs against setup's record (graders.exam.pki_record), and the other files untouched."""

from __future__ import annotations

import pytest
from cryptography import x509
from kubernetes import client

from cluster import pki as cluster_pki
from graders import kube
from graders.context import GradingContext
from graders.control_plane_certificates import node_pki
from graders.control_plane_certificates.serving import served_certificate
from graders.exam import pki_look
from graders.exam.inputs import TaskInput
from graders.exam.pki_look import Observe
from graders.exam.pki_record import sans
from graders.expect import brief, expect, fail


def _served(admin_api: client.ApiClient, wanted: str, observe: Observe) -> x509.Certificate:
    try:
        return served_certificate(kube.server_of(admin_api))
    except AssertionError as err:
        observe(wanted, f"no TLS handshake with the API server ({brief(err)})")
        raise


@pytest.mark.step("san")
def test_san(task: TaskInput, admin_api: client.ApiClient, observe: Observe) -> None:
    # No record needed: the same certificate served by another context's API server is found there.
    wanted = [f"DNS:{task['dns']}", f"IP:{task['ip']}"]
    served = sans(_served(admin_api, ", ".join(wanted), observe))
    missing = [s for s in wanted if s not in served]
    observe(", ".join(wanted) + " among its SANs", ", ".join(served) or "no SAN")
    expect(not missing, f"the API server serves a certificate without {', '.join(missing)} (its SANs: "
                        f"{', '.join(served)}).")


@pytest.mark.step("kept")
def test_kept(task: TaskInput, context: GradingContext, admin_api: client.ApiClient, observe: Observe) -> None:
    wanted = "a new certificate from the cluster CA with every old SAN; the admin kubeconfig works"
    rec = pki_look.setup_record(context.root, task, wanted, observe)
    served = _served(admin_api, wanted, observe)
    ca = pki_look.current(context.root, wanted, observe).get("ca").cert
    said = []
    if served.serial_number == rec.certificates["apiserver"].serial:
        said.append("the API server still serves the old certificate")
    lost = [s for s in rec.apiserver_sans if s not in sans(served)]
    if lost:
        said.append(f"the served certificate lost {', '.join(lost)}")
    if ca is None or not cluster_pki.chains_to(served, ca):
        said.append("the served certificate is not signed by the cluster CA (/etc/kubernetes/pki/ca.crt)")
    try:
        user = kube.whoami(admin_api)  # verifies the server's certificate with the kubeconfig's CA
    except Exception as err:
        said.append(f"the admin kubeconfig no longer works ({brief(err)})")
        user = ""
    observe(wanted, "; ".join(said) or f"a new certificate with every old SAN; the admin kubeconfig works as {user}")
    expect(not said, "; ".join(said) + ".")


@pytest.mark.step("only-apiserver")
def test_only_apiserver(task: TaskInput, context: GradingContext, observe: Observe) -> None:
    wanted = "apiserver.crt re-issued; every other certificate, CA and kubeconfig as before"
    rec = pki_look.setup_record(context.root, task, wanted, observe)
    now = pki_look.current(context.root, wanted, observe)
    before = {**rec.certificates, **rec.cas}
    changed = [n for n in [*node_pki.RENEWED, *node_pki.CAS] if n != "apiserver"
               and ((c := now.get(n).cert) is None or c.serial_number != before[n].serial)]
    apiserver = now.get("apiserver").cert
    same = apiserver is not None and apiserver.serial_number == rec.certificates["apiserver"].serial
    found = ("apiserver.crt " + ("not re-issued" if same else "missing or unreadable" if apiserver is None
                                 else "re-issued")
             + (f"; also changed: {', '.join(changed)}" if changed else "; every other file as before"))
    observe(wanted, found)
    if changed:
        fail(f"{', '.join(changed)} changed too: `kubeadm certs renew all` (or a renewal of each) re-issues more than "
             "the API server's certificate.")
    expect(not same and apiserver is not None, f"{found}.")
