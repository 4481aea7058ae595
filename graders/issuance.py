"""Did the cluster issue this certificate? What proves it once its CSR is gone. Pure code.

A CSR disappears: the controller manager's csrcleaner deletes approved CSRs an hour after
approval, and learners delete them by hand. The API server's audit log (``graders.audit``) then
says whether the cluster issued the certificate through the Certificates API: a certificate
signed offline with the CA key is not in it. Where no log can be read (an existing cluster), a
certificate that chains to the cluster CA, is for the user's key, names the user, allows client
auth and was issued over an hour ago is credited; a recent one is not.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from cluster import pki
from graders import audit, files
from graders.audit import Unavailable
from graders.expect import StepFailure

#: How long the csrcleaner keeps an approved CSR (kube-controller-manager, approvedExpiration).
CSR_GC_AFTER = dt.timedelta(hours=1)
#: The kube-apiserver-client signer backdates NotBefore by 5 minutes against clock skew.
SIGNER_BACKDATE = dt.timedelta(minutes=5)


def issued_minutes_ago(cert: x509.Certificate, now: dt.datetime | None = None) -> int:
    """Minutes since the signer issued ``cert`` (its NotBefore plus the signer's backdating)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    return int((now - (cert.not_valid_before_utc + SIGNER_BACKDATE)).total_seconds() // 60)


def old_enough_to_be_collected(cert: x509.Certificate, now: dt.datetime | None = None) -> bool:
    """True when ``cert`` was issued long enough ago for its CSR to be garbage-collected."""
    now = now or dt.datetime.now(dt.timezone.utc)
    return now - cert.not_valid_before_utc >= CSR_GC_AFTER - SIGNER_BACKDATE


def is_users_client_certificate(cert: x509.Certificate, key: object, ca: x509.Certificate,
                                user: str) -> bool:
    """``cert`` chains to ``ca``, is for ``key``, has CN=``user`` and allows client auth."""
    return (pki.chains_to(cert, ca)
            and pki.same_public_key(cert.public_key(), getattr(key, "public_key")())
            and pki.common_name(cert.subject) == user
            and pki.CLIENT_AUTH in pki.extended_usages(cert))


def origin(cert: x509.Certificate, ca: x509.Certificate) -> str:
    """Who signed ``cert``, as a clause: "it is self-signed", "it is signed by the cluster CA"..."""
    if cert.issuer == cert.subject and pki.chains_to(cert, cert):
        return "it is self-signed"
    if pki.chains_to(cert, ca):
        return "it is signed by the cluster CA"
    return f"it is issued by {cert.issuer.rfc4514_string() or 'an unnamed issuer'}, not by the cluster CA"


#: How soon after the cluster CA was made its API server must have started writing the audit log
#: for the log to cover every certificate the cluster issued (kubeadm and ckslab start the API
#: server within minutes of making the CA; the CA's NotBefore is backdated 5 minutes).
LOG_FROM_THE_START = dt.timedelta(minutes=30)


@dataclass(frozen=True)
class MissingCsr:
    """What the evidence says about a certificate whose CSR the cluster no longer has."""

    #: The note of a step that passes all the same, or None when the certificate is not credited.
    credited: str | None
    #: Why it is not credited (a sentence), "" when credited or when the files say it already.
    reason: str = ""


def log_covers_the_cluster(trail: audit.Trail, ca: x509.Certificate) -> bool:
    """True when ``trail`` began with the cluster, so every certificate issued through the API is in it."""
    return trail.starts is not None and trail.starts <= ca.not_valid_before_utc + LOG_FROM_THE_START


def missing_csr(csr_name: str, key_path: Path, crt_path: Path, ca: x509.Certificate, user: str,
                trail: audit.Trail | Unavailable, now: dt.datetime | None = None) -> MissingCsr:
    """Whether ``crt_path`` still earns the credit of the CSR ``csr_name``, which is gone, and why.

    Evidence first: the API server's audit log, when it covers the cluster's life, says whether the
    cluster issued this very certificate through that CSR (then a CSR deleted by hand still counts,
    and a certificate signed offline with the CA key does not). Without such a log (an existing
    cluster): the csrcleaner deletes approved CSRs an hour after issuing, so a certificate for
    ``user`` that matches ``key_path``, chains to ``ca`` and is over an hour old is credited.
    """
    try:
        key = files.load_private_key(key_path, "")
        cert = files.load_certificate(crt_path, "")
    except StepFailure:
        return MissingCsr(None)
    if not is_users_client_certificate(cert, key, ca, user):
        return MissingCsr(None)
    crt, key_name = crt_path.name, key_path.name
    if isinstance(trail, audit.Trail) and log_covers_the_cluster(trail, ca):
        issued = trail.issuance_of(cert)
        if issued is None:
            return MissingCsr(None, f"{crt} chains to the cluster CA, but the API server's audit log "
                                    f"({trail.source}) shows no CSR through which the cluster issued it: it was "
                                    "signed offline with the CA key, not through the Certificates API.")
        if issued.csr != csr_name:
            return MissingCsr(None, f"{crt} was issued through the CSR {issued.csr} "
                                    f"({issued.time:%Y-%m-%d %H:%M:%S} UTC, audit log), not through the CSR "
                                    f"{csr_name}.")
        return MissingCsr(f"The CSR {csr_name} is gone{_gone(trail, csr_name)}; the API server's audit log "
                          f"shows the cluster issued {crt} through it{_approved(trail, csr_name)} at "
                          f"{issued.time:%Y-%m-%d %H:%M:%S} UTC, so this step counts "
                          f"(evidence: the audit log {trail.source}).")
    why = (trail.reason if isinstance(trail, Unavailable)
           else f"the audit log {trail.source} begins after the cluster was made, so it may miss the issuing")
    minutes = issued_minutes_ago(cert, now)
    if not old_enough_to_be_collected(cert, now):
        return MissingCsr(None, f"{crt} was not issued through a CSR of this cluster (signed offline with the "
                                f"CA key?): there is no CSR named {csr_name}, the certificate is {minutes} "
                                f"minutes old, and no audit log can tell ({why}).")
    return MissingCsr(f"The CSR {csr_name} is gone: the controller manager deletes approved CSRs after 1 hour, "
                      f"which is normal; {crt} still chains to the cluster CA and matches {key_name}, so this "
                      f"step counts (evidence: the certificate's age, {minutes} minutes, as no audit log can "
                      f"tell: {why}).")


def _gone(trail: audit.Trail, csr_name: str) -> str:
    deleted = trail.last(csr_name, audit.DELETED)
    if deleted is None:
        return ""
    return f" (deleted by {deleted.user} at {deleted.time:%Y-%m-%d %H:%M:%S} UTC)"


def _approved(trail: audit.Trail, csr_name: str) -> str:
    approved = trail.last(csr_name, audit.APPROVED)
    return f" (approved by {approved.user})" if approved is not None else ""
