"""What exam graders read from the cluster: CSRs (live, or through the audit trail), access reviews.

Read only: a SubjectAccessReview, like ``kubectl auth can-i --as``, asks the authorizer and
stores nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import NameOID
from kubernetes import client

from graders import audit, kube
from graders.expect import brief, fail


def subject(name: x509.Name) -> str:
    """``CN=kim, O=web`` (CN first, then every O in order)."""
    cn = [str(a.value) for a in name.get_attributes_for_oid(NameOID.COMMON_NAME)]
    orgs = [str(a.value) for a in name.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    return ", ".join([f"CN={c}" for c in cn] + [f"O={o}" for o in orgs]) or "(empty subject)"


@dataclass(frozen=True)
class CsrSeen:
    """A CSR as the cluster shows it now, or as its audit trail shows it after it was deleted."""

    name: str
    exists: bool
    subject: str = ""
    signer: str = ""
    usages: tuple[str, ...] = ()
    expiration_seconds: int | None = None
    approved: bool = False
    denied: bool = False
    certificate: bytes | None = None
    #: "the cluster" or "the audit log (...)": where it was seen.
    source: str = "the cluster"


def csr(api: client.ApiClient, trail: audit.Trail | audit.Unavailable, name: str) -> CsrSeen:
    """The CSR ``name``; from the audit trail when the cluster no longer has it (approved ones go after 1 h)."""
    try:
        obj = kube.read_csr(api, name)
    except Exception as err:
        fail(f"could not check: the cluster did not answer when reading the CSR {name} ({brief(err)}).")
    if obj is not None:
        conditions = kube.true_conditions(obj)
        try:
            request_subject = subject(x509.load_pem_x509_csr(kube.request_of(obj)).subject)
        except ValueError:
            request_subject = "(spec.request is not a PEM request)"
        return CsrSeen(name, True, request_subject, obj.spec.signer_name or "", tuple(obj.spec.usages or ()),
                       obj.spec.expiration_seconds, "Approved" in conditions, "Denied" in conditions,
                       kube.issued_certificate(obj))
    if isinstance(trail, audit.Unavailable) or not trail.of(name):
        return CsrSeen(name, False)
    issued = trail.last(name, audit.ISSUED)
    cert = issued.issued_certificate() if issued else None
    return CsrSeen(name, True, subject(cert.subject) if cert else "", "kubernetes.io/kube-apiserver-client"
                   if cert else "", ("client auth",) if cert else (), None,
                   trail.last(name, audit.APPROVED) is not None, trail.last(name, audit.DENIED) is not None,
                   issued.certificate if issued else None, f"the audit log ({trail.source}), the CSR being deleted")


def can(api: client.ApiClient, user: str, groups: list[str], verb: str, resource: str, *, group: str = "",
        namespace: str = "", name: str = "", subresource: str = "") -> bool:
    """Whether ``user`` in ``groups`` may ``verb`` the resource (a SubjectAccessReview)."""
    review = client.V1SubjectAccessReview(spec=client.V1SubjectAccessReviewSpec(
        user=user, groups=groups, resource_attributes=client.V1ResourceAttributes(
            group=group, resource=resource, verb=verb, namespace=namespace or None, name=name or None,
            subresource=subresource or None)))
    try:
        answer = client.AuthorizationV1Api(api).create_subject_access_review(
            review, _request_timeout=kube.REQUEST_TIMEOUT)
    except Exception as err:
        fail(f"could not check: the cluster did not answer a SubjectAccessReview ({brief(err)}).")
    return bool(answer.status and answer.status.allowed)
