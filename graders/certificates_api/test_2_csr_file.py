"""Step csr-file: jane.csr is a PEM signing request for CN=jane, made with jane.key."""

from __future__ import annotations

import pytest

from cluster import pki
from graders import files
from graders.certificates_api.lab import LabFiles
from graders.expect import StepFailure, because, expect, fail

pytestmark = pytest.mark.step("csr-file")


def test_csr_file_exists(lab: LabFiles) -> None:
    files.read_bytes(lab.csr, lab.make_csr)


def test_csr_file_holds_a_pem_request(lab: LabFiles) -> None:
    block, _ = files.load_csr(lab.csr, lab.make_csr)
    # Kubernetes decodes the first PEM block and requires this exact label (older openssl
    # versions wrote NEW CERTIFICATE REQUEST).
    expect(block.label == "CERTIFICATE REQUEST",
           f"{lab.csr.name} is labelled {block.label}; the Kubernetes API accepts only "
           "-----BEGIN CERTIFICATE REQUEST-----.", lab.make_csr)


def test_csr_names_the_user(lab: LabFiles) -> None:
    _, csr = files.load_csr(lab.csr, lab.make_csr)
    cn = pki.common_name(csr.subject)
    found = f"CN={cn}" if cn is not None else f"no CN (subject: {csr.subject.rfc4514_string() or 'empty'})"
    expect(cn == lab.user,
           f"{lab.csr.name} has {found}; the request must name the user: CN={lab.user}.", lab.make_csr)


def test_csr_is_signed_by_the_key(lab: LabFiles) -> None:
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
