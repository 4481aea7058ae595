"""The csr-review lab's requests, the identities they ask for, and the commands that fix things.

Every name derives from the user (``reviewer`` unless ``CKSLAB_USER`` says otherwise), so
several learners' graders can run side by side on one cluster. What a request asks for is read
from the request itself (its subject and usages), never assumed, so the messages say what the
learner would have seen by decoding it. No I/O: it only reads CSR objects the conftest fetched.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from kubernetes import client

from cluster import pki

Csr = client.V1CertificateSigningRequest

#: The controller manager's own user name: its ClusterRole can read every Secret and create a
#: token for any service account, so a certificate with this CN is as good as cluster-admin.
CONTROLLER_MANAGER = "system:kube-controller-manager"
KUBE_APISERVER_CLIENT = "kubernetes.io/kube-apiserver-client"


@dataclass(frozen=True)
class ReviewLab:
    """One learner's copy of the lab: the five requests and what the reviewer must do with each."""

    workspace: Path
    user: str

    def csr(self, who: str) -> str:
        """The CSR (and requester) name of ``who``: csr("alice") is reviewer-alice."""
        return f"{self.user}-{who}"

    @property
    def legitimate(self) -> tuple[str, ...]:
        return (self.csr("alice"), self.csr("bob"))

    @property
    def cluster_admin_request(self) -> str:
        return self.csr("carol")

    @property
    def control_plane_request(self) -> str:
        return self.csr("dave")

    @property
    def server_auth_request(self) -> str:
        return self.csr("erin")

    @property
    def privileged(self) -> tuple[str, ...]:
        """The requests whose certificate would hold a privileged identity."""
        return (self.cluster_admin_request, self.control_plane_request)

    @property
    def to_deny(self) -> tuple[str, ...]:
        return (*self.privileged, self.server_auth_request)

    @property
    def admin_group(self) -> str:
        """The group the ClusterRoleBinding of the same name makes cluster-admin."""
        return f"{self.user}-ops-admins"

    def request_file(self, name: str) -> Path:
        """The request setup.sh made for ``name`` (requests/NAME.csr)."""
        return self.workspace / "requests" / f"{name}.csr"

    # --- hints ------------------------------------------------------------------------------

    @property
    def restart(self) -> str:
        return "ckslab reset csr-review"

    @property
    def resubmit(self) -> str:
        return f"{self.restart}  (a decision cannot be withdrawn: this submits every request again)"

    @property
    def revoke_hint(self) -> str:
        return (f"{self.restart}; on a real cluster, remove the bindings that make the identity "
                "privileged, or replace the CA: a client certificate cannot be revoked")

    def approve(self, name: str) -> str:
        return f"kubectl certificate approve {name}"

    def deny(self, name: str) -> str:
        return f"kubectl certificate deny {name}"

    def decode(self, name: str) -> str:
        return (f"kubectl get csr {name} -o jsonpath='{{.spec.request}}' | base64 -d "
                "| openssl req -noout -subject")


def name_of(csr: Csr) -> str:
    return str(csr.metadata.name) if csr.metadata else ""


def request_of(csr: Csr) -> x509.CertificateSigningRequest | None:
    """The PKCS#10 request in ``csr``'s spec.request, or None when it cannot be read."""
    try:
        return x509.load_pem_x509_csr(base64.b64decode(csr.spec.request or ""))
    except ValueError:
        return None


def certificate_of(csr: Csr) -> x509.Certificate | None:
    """The certificate the signer issued for ``csr``, or None (not issued, or unreadable)."""
    encoded = csr.status.certificate if csr.status else None
    if not encoded:
        return None
    try:
        return x509.load_pem_x509_certificate(base64.b64decode(encoded))
    except ValueError:
        return None


def subject_text(name: x509.Name) -> str:
    """``CN=alice, O=developers``: the user and groups Kubernetes reads from a subject."""
    parts = [f"CN={pki.common_name(name) or '(none)'}"]
    parts += [f"O={o}" for o in pki.organizations(name)]
    return ", ".join(parts)


def asks_for(csr: Csr) -> str:
    """What ``csr`` asks for, as read by a reviewer: its subject and usages."""
    request = request_of(csr)
    subject = subject_text(request.subject) if request is not None else "an unreadable request"
    usages = ", ".join(csr.spec.usages or []) or "no usages"
    return f"{subject} ({usages})"


def public_key_der(key: object) -> bytes:
    """A public key as DER SubjectPublicKeyInfo, to compare keys across requests and certificates."""
    return bytes(key.public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))


def why(condition: client.V1CertificateSigningRequestCondition) -> str:
    """A condition's reason and message: "KubectlDeny: This CSR was denied by kubectl ..."."""
    parts = [p.rstrip(". ") for p in (condition.reason, condition.message) if p]
    return ": ".join(parts) or "no reason given"
