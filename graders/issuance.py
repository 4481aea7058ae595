"""Did the cluster issue this certificate? What a certificate proves once its CSR is gone. Pure code.

The controller manager's csrcleaner deletes approved CSRs an hour after approval, so a learner
who comes back later has a good ``jane.crt`` and no CSR object. A certificate that chains to
the cluster CA, is for jane's key, names jane and allows client auth, and was issued over an
hour ago is then credited. A recent one with no CSR was not issued through the Certificates API
(most likely signed offline with the CA key).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509

from cluster import pki
from graders import files
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


def collected_note(csr_name: str, key_path: Path, crt_path: Path, ca: x509.Certificate,
                   user: str) -> str | None:
    """Why the missing CSR ``csr_name`` is fine, or None.

    The csrcleaner deletes approved CSRs an hour after approval: a certificate in ``crt_path`` for
    ``user`` that matches ``key_path``, chains to ``ca`` and is old enough still earns the credit.
    """
    try:
        key = files.load_private_key(key_path, "")
        cert = files.load_certificate(crt_path, "")
    except StepFailure:
        return None
    if not (is_users_client_certificate(cert, key, ca, user) and old_enough_to_be_collected(cert)):
        return None
    return (f"The CSR {csr_name} is gone: the controller manager deletes approved CSRs after 1 hour, "
            f"which is normal; {crt_path.name} still chains to the cluster CA and matches "
            f"{key_path.name}, so this step counts.")
