"""Step no-privileged-certificate: no certificate exists, or can still appear, for a privileged identity.

A Kubernetes client certificate cannot be revoked: once issued, it is valid until it expires. So
the privileged requests must be decided (a pending one can still be approved by anyone allowed
to), none of the lab's refused requests may carry a certificate, and no other CSR in the cluster,
whatever its name, may have been issued for the ops-admins group or with the key of a privileged
request (the same request submitted again under another name).
"""

from __future__ import annotations

import pytest
from cryptography import x509

from cluster import pki
from graders.csr_review.decisions import existing
from graders.csr_review.lab import (CONTROLLER_MANAGER, Csr, ReviewLab, asks_for, certificate_of,
                                    name_of, public_key_der, request_of, subject_text)
from graders.expect import expect, fail
from graders.kube import true_conditions

pytestmark = pytest.mark.step("no-privileged-certificate")


def _what_it_grants(lab: ReviewLab, cert: x509.Certificate) -> str:
    if lab.admin_group in pki.organizations(cert.subject):
        return (f"its holder is cluster-admin through the ClusterRoleBinding {lab.admin_group} until it "
                "expires (a client certificate cannot be revoked)")
    if pki.common_name(cert.subject) == CONTROLLER_MANAGER:
        return ("its holder is the controller manager, with every Secret and every service account's "
                "token, until it expires (a client certificate cannot be revoked)")
    return "it was issued for a privileged request's key, which should have been refused"


def _privileged_keys(lab: ReviewLab, lab_csrs: dict[str, Csr | None]) -> dict[bytes, str]:
    """The public keys of the privileged requests (DER), from the cluster and from requests/."""
    keys: dict[bytes, str] = {}
    for name in lab.privileged:
        csr = lab_csrs.get(name)
        request = request_of(csr) if csr is not None else None
        if request is None:
            try:
                request = x509.load_pem_x509_csr(lab.request_file(name).read_bytes())
            except (OSError, ValueError):
                continue
        keys[public_key_der(request.public_key())] = name
    return keys


@pytest.mark.parametrize("who", ("carol", "dave"))
def test_privileged_request_is_decided(lab: ReviewLab, lab_csrs: dict[str, Csr | None], who: str) -> None:
    name = lab.csr(who)
    if lab_csrs.get(name) is None and any(lab_csrs.values()):  # none at all: existing() says why
        fail(f"There is no CSR {name} any more, so nothing shows that no certificate was issued for it; "
             "a privileged request must be denied, not deleted.", lab.resubmit)
    csr = existing(lab, lab_csrs, name)
    expect(true_conditions(csr),
           f"The CSR {name} is still Pending: until it is denied, anyone allowed to approve can still "
           f"issue its certificate, for {asks_for(csr)}.", lab.deny(name))


@pytest.mark.parametrize("who", ("carol", "dave", "erin"))
def test_refused_request_has_no_certificate(lab: ReviewLab, lab_csrs: dict[str, Csr | None],
                                            who: str) -> None:
    csr = lab_csrs.get(lab.csr(who))
    cert = certificate_of(csr) if csr is not None else None
    if cert is not None:
        fail(f"The CSR {lab.csr(who)} has an issued certificate, for {subject_text(cert.subject)}: "
             f"{_what_it_grants(lab, cert)}.",
             lab.revoke_hint)


def test_no_other_csr_issued_a_privileged_certificate(lab: ReviewLab, lab_csrs: dict[str, Csr | None],
                                                      client_csrs: list[Csr]) -> None:
    keys = _privileged_keys(lab, lab_csrs)
    for csr in client_csrs:
        name = name_of(csr)
        cert = certificate_of(csr)
        if name in lab.to_deny or cert is None:
            continue
        same_key = keys.get(public_key_der(cert.public_key()))
        if same_key is None and lab.admin_group not in pki.organizations(cert.subject):
            continue
        source = f" with the key of the request {same_key}" if same_key else ""
        fail(f"The CSR {name} (requested by {csr.spec.username}) has an issued certificate{source}, for "
             f"{subject_text(cert.subject)}: {_what_it_grants(lab, cert)}.",
             f"kubectl delete csr {name}  (that hides the record, not the certificate); "
             f"{lab.revoke_hint}")
