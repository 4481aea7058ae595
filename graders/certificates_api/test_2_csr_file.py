"""Step csr-file: jane.csr is a PEM signing request for CN=jane, made with jane.key.

Results over files: when jane.csr is gone but the cluster's CSR jane holds a request for CN=jane
made with jane.key (``openssl req ... | base64 -w0`` straight into the manifest), the step
counts and says the file was not kept. A jane.csr that is there is judged as it is.
"""

from __future__ import annotations

import pytest
from cryptography import x509

from typing import Callable

from kubernetes import client

from cluster import pki
from graders import files, kube
from graders.certificates_api.lab import LabFiles
from graders.expect import StepFailure, because, expect, fail

pytestmark = pytest.mark.step("csr-file")


@pytest.fixture(scope="module")
def not_kept(lab: LabFiles, cluster_csr: client.V1CertificateSigningRequest | None) -> str | None:
    """A note when jane.csr is gone and the cluster's CSR holds a request for CN=jane made with jane.key."""
    if lab.csr.exists() or cluster_csr is None:
        return None
    try:
        request = x509.load_pem_x509_csr(kube.request_of(cluster_csr))
        key = files.load_private_key(lab.key, "")
    except (ValueError, StepFailure):
        return None
    if pki.common_name(request.subject) != lab.user or not pki.same_public_key(request.public_key(), key.public_key()):
        return None
    return (f"{lab.csr.name} was not kept; the CSR {lab.user} in the cluster holds a request for CN={lab.user} "
            f"made with {lab.key.name}, so this step counts.")


def _absent_but_right(lab: LabFiles, not_kept: str | None, note: Callable[[str], None]) -> bool:
    if not_kept and not lab.csr.exists():
        note(not_kept)
        return True
    return False


def test_csr_file_exists(lab: LabFiles, not_kept: str | None, note: Callable[[str], None]) -> None:
    if not _absent_but_right(lab, not_kept, note):
        files.read_bytes(lab.csr, lab.make_csr)


def test_csr_file_holds_a_pem_request(lab: LabFiles, not_kept: str | None, note: Callable[[str], None]) -> None:
    if _absent_but_right(lab, not_kept, note):
        return
    block, _ = files.load_csr(lab.csr, lab.make_csr)
    # Kubernetes decodes the first PEM block and requires this exact label (older openssl
    # versions wrote NEW CERTIFICATE REQUEST).
    expect(block.label == "CERTIFICATE REQUEST",
           f"{lab.csr.name} is labelled {block.label}; the Kubernetes API accepts only "
           "-----BEGIN CERTIFICATE REQUEST-----.", lab.make_csr)


def test_csr_names_the_user(lab: LabFiles, not_kept: str | None, note: Callable[[str], None]) -> None:
    if _absent_but_right(lab, not_kept, note):
        return
    _, csr = files.load_csr(lab.csr, lab.make_csr)
    cn = pki.common_name(csr.subject)
    found = f"CN={cn}" if cn is not None else f"no CN (subject: {csr.subject.rfc4514_string() or 'empty'})"
    expect(cn == lab.user,
           f"{lab.csr.name} has {found}; the request must name the user: CN={lab.user}.", lab.make_csr)


def test_csr_is_signed_by_the_key(lab: LabFiles, not_kept: str | None, note: Callable[[str], None]) -> None:
    if _absent_but_right(lab, not_kept, note):
        return
    _, csr = files.load_csr(lab.csr, lab.make_csr)
    expect(csr.is_signature_valid,
           f"{lab.csr.name}'s signature does not verify; the file is damaged.", lab.make_csr)
    try:
        key = files.load_private_key(lab.key, lab.make_key)
    except StepFailure as err:
        fail(f"{lab.csr.name} cannot be checked against {lab.key.name}, because {because(err)}.",
             err.hint)
    expect(pki.same_public_key(csr.public_key(), key.public_key()),
           f"{lab.csr.name} was not made with {lab.key.name} (it holds another key's public key), so "
           f"its certificate would not work with {lab.key.name}.", lab.make_csr)
