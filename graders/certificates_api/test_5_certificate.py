"""Step certificate: jane.crt is the certificate the cluster issued for jane's CSR."""

from __future__ import annotations

import datetime as dt
from typing import Callable

import pytest
from cryptography import x509
from kubernetes import client

from cluster import pki
from graders import files, issuance, kube, manifest, unsigned
from graders.certificates_api.lab import LabFiles
from graders.expect import StepFailure, because, expect, fail
from graders.context import GradingContext

pytestmark = pytest.mark.step("certificate")

CsrObject = client.V1CertificateSigningRequest


def _crt(lab: LabFiles) -> x509.Certificate:
    return files.load_certificate(lab.crt, lab.save_crt)


def test_csr_was_signed(lab: LabFiles, cluster_csr: CsrObject | None, admin_api: client.ApiClient, context: GradingContext) -> None:
    """The CSR, when the cluster still has it, carries the certificate to save."""
    if cluster_csr is None:  # gone: the tests below judge jane.crt on its own
        return
    user, conditions = lab.user, kube.true_conditions(cluster_csr)
    expect("Denied" not in conditions, f"The CSR {user} was denied, so the cluster issued no certificate.",
           f"{lab.resubmit} && {lab.approve}")
    expect("Failed" not in conditions, f"The CSR {user} is Failed, so the cluster issued no certificate.",
           f"{lab.resubmit} && {lab.approve}")
    expect("Approved" in conditions,
           f"The CSR {user} is not approved yet, so the cluster has issued no certificate.", lab.approve)
    if kube.issued_certificate(cluster_csr) is None:
        signer = cluster_csr.spec.signer_name
        if signer != manifest.KUBE_APISERVER_CLIENT:
            fail(f"The CSR {user} is approved but not yet signed: its status.certificate is empty; no signer of "
                 f"this cluster signs for signerName {signer}.", "ckslab status")
        fail(*unsigned.cause(user, admin_api, context.root))


def test_crt_file_exists(lab: LabFiles) -> None:
    files.read_bytes(lab.crt, lab.save_crt)


def test_crt_file_holds_a_certificate(lab: LabFiles) -> None:
    _crt(lab)


def test_crt_is_the_certificate_the_cluster_issued(lab: LabFiles, cluster_csr: CsrObject | None,
                                                   cluster_ca: x509.Certificate,
                                                   missing: issuance.MissingCsr | None,
                                                   note: Callable[[str], None]) -> None:
    cert, user = _crt(lab), lab.user
    if cluster_csr is None:
        if missing is not None and missing.credited:
            note(missing.credited)
            return
        if missing is not None and missing.reason:
            fail(missing.reason, f"{lab.apply} && {lab.approve}, then {lab.save_crt}")
        fail(f"{lab.crt.name} was not issued by this cluster for {lab.key.name} "
             f"({issuance.origin(cert, cluster_ca)}), and there is no CSR named {user}.",
             f"{lab.apply} && {lab.approve}")
    issued = kube.issued_certificate(cluster_csr)
    expect(issued is not None and x509.load_pem_x509_certificate(issued) == cert,
           f"{lab.crt.name} is not the certificate the cluster issued for the CSR {user}: "
           f"{issuance.origin(cert, cluster_ca)}" + (", but not through this CSR (signed offline "
           "with the CA key?)." if pki.chains_to(cert, cluster_ca) else "."), lab.save_crt)


def test_crt_matches_the_key(lab: LabFiles) -> None:
    cert = _crt(lab)
    try:
        key = files.load_private_key(lab.key, lab.make_key)
    except StepFailure as err:
        fail(f"{lab.crt.name} cannot be checked against {lab.key.name}, because {because(err)}.", err.hint)
    expect(pki.same_public_key(cert.public_key(), key.public_key()),
           f"{lab.crt.name} is for another key than {lab.key.name}; the certificate must be issued "
           f"for {lab.csr.name}, made with {lab.key.name}.", lab.save_crt)


def test_crt_names_the_user(lab: LabFiles) -> None:
    cn = pki.common_name(_crt(lab).subject)
    expect(cn == lab.user, f"{lab.crt.name} has CN={cn}; it must be CN={lab.user}.", lab.save_crt)


def test_crt_allows_client_auth(lab: LabFiles) -> None:
    expect(pki.CLIENT_AUTH in pki.extended_usages(_crt(lab)),
           f"{lab.crt.name} does not allow client authentication (no clientAuth extended key usage).",
           lab.save_crt)


def test_crt_is_valid_now(lab: LabFiles) -> None:
    cert, now = _crt(lab), dt.datetime.now(dt.timezone.utc)
    expect(cert.not_valid_after_utc > now,
           f"{lab.crt.name} expired at {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC.",
           f"{lab.resubmit} && {lab.approve}, then save the new certificate")
    expect(cert.not_valid_before_utc <= now,
           f"{lab.crt.name} is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC.",
           lab.save_crt)


def test_crt_chains_to_the_cluster_ca(lab: LabFiles, cluster_ca: x509.Certificate) -> None:
    cert = _crt(lab)
    expect(pki.chains_to(cert, cluster_ca),
           f"{lab.crt.name} does not chain to the cluster CA: {issuance.origin(cert, cluster_ca)}.",
           lab.save_crt)
