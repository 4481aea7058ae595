"""Step renewed-certificate: jane-renewed.crt, issued for the new key through the CSR jane-renewed, for one day."""

from __future__ import annotations

import datetime as dt
from typing import Callable

import pytest
from cryptography import x509
from kubernetes import client

from cluster import pki
from graders import absent, audit, files, issuance, kube, unsigned
from graders.expect import StepFailure, because, expect, fail
from graders.signing_duration import SigningDuration
from graders.context import GradingContext
from graders.expiry_rotation.lab import (RENEWED_EXPIRATION_SECONDS, TOLERANCE, LabFiles, issued_validity,
                                         spoken, validity_of)
from labs.resets import ResetStep

pytestmark = pytest.mark.step("renewed-certificate")

CsrObject = client.V1CertificateSigningRequest


def _crt(lab: LabFiles) -> x509.Certificate:
    return files.load_certificate(lab.renewed_crt, lab.save_crt)


def _in_cluster(lab: LabFiles, csr: CsrObject | None, collected: str | None,
                note: Callable[[str], None]) -> CsrObject | None:
    if csr is None:
        expect(collected, f"There is no CertificateSigningRequest named {lab.renewed} in the cluster.",
               f"{lab.make_csr}, then {lab.resubmit}")
        note(str(collected))
    return csr


def test_renewed_csr_exists(lab: LabFiles, renewed_csr: CsrObject | None, collected: str | None,
                            note: Callable[[str], None], admin_api: client.ApiClient,
                            trail: audit.Trail | audit.Unavailable, missing: issuance.MissingCsr | None,
                            resets: list[ResetStep]) -> None:
    if renewed_csr is None and not collected:
        want = absent.CsrFiles(lab.renewed, lab.user, lab.renewed_manifest, lab.new_key, lab.renewed_csr)
        fail(*absent.why_missing(want, admin_api, trail, missing, f"{lab.make_csr}, then {lab.resubmit}", resets))
    _in_cluster(lab, renewed_csr, collected, note)


def _duration(signing: SigningDuration | None) -> str:
    if signing is None:
        return "which this cluster does not let ckslab read"
    return f"{spoken(signing.value)}: {signing.evidence}"


def test_renewed_csr_asks_for_one_day(lab: LabFiles, renewed_csr: CsrObject | None, collected: str | None,
                                      note: Callable[[str], None], signing: SigningDuration | None) -> None:
    csr = _in_cluster(lab, renewed_csr, collected, note)
    if csr is None:
        return
    asked = csr.spec.expiration_seconds
    expect(asked is not None,
           f"The CSR {lab.renewed} has no spec.expirationSeconds, so the signer gives it its whole "
           f"--cluster-signing-duration ({_duration(signing)}); ask for one day: "
           f"expirationSeconds: {RENEWED_EXPIRATION_SECONDS}.", lab.resubmit)
    expect(asked == RENEWED_EXPIRATION_SECONDS,
           f"The CSR {lab.renewed} asks for expirationSeconds: {asked} ({spoken(dt.timedelta(seconds=asked or 0))}); "
           f"the lab asks for one day, {RENEWED_EXPIRATION_SECONDS}.", lab.resubmit)


def test_renewed_csr_was_signed(lab: LabFiles, renewed_csr: CsrObject | None, collected: str | None,
                                note: Callable[[str], None], admin_api: client.ApiClient,
                                context: GradingContext) -> None:
    csr = _in_cluster(lab, renewed_csr, collected, note)
    if csr is None:
        return
    conditions = kube.true_conditions(csr)
    expect("Denied" not in conditions, f"The CSR {lab.renewed} was denied; submit it again and approve it.",
           f"{lab.resubmit} && {lab.approve}")
    expect("Failed" not in conditions, f"The CSR {lab.renewed} is Failed: the signer refused it; ask for "
           "client auth only (with digital signature, key encipherment).", f"{lab.resubmit} && {lab.approve}")
    expect("Approved" in conditions, f"The CSR {lab.renewed} is still Pending: it has no Approved condition.",
           lab.approve)
    if kube.issued_certificate(csr) is None:
        fail(*unsigned.cause(lab.renewed, admin_api, context.root))


def test_renewed_crt_holds_a_certificate(lab: LabFiles) -> None:
    _crt(lab)


def test_renewed_crt_is_the_certificate_the_cluster_issued(lab: LabFiles, renewed_csr: CsrObject | None,
                                                           cluster_ca: x509.Certificate) -> None:
    cert = _crt(lab)
    issued = kube.issued_certificate(renewed_csr) if renewed_csr is not None else None
    if renewed_csr is None or issued is None:  # judged by the other tests (collected, or not signed)
        return
    expect(x509.load_pem_x509_certificate(issued) == cert,
           f"{lab.renewed_crt.name} is not the certificate the cluster issued for the CSR {lab.renewed}: "
           f"{issuance.origin(cert, cluster_ca)}" + (", but not through this CSR." if pki.chains_to(cert, cluster_ca)
                                                    else "."), lab.save_crt)


def test_renewed_crt_is_not_for_the_original_key(lab: LabFiles, original: x509.Certificate) -> None:
    expect(not pki.same_public_key(_crt(lab).public_key(), original.public_key()),
           f"{lab.renewed_crt.name} is for the original key, {lab.key.name}: the renewal must be requested "
           f"with the new key, {lab.new_key.name}.", f"{lab.make_csr}, then {lab.resubmit}")


def test_renewed_crt_matches_the_new_key(lab: LabFiles) -> None:
    cert = _crt(lab)
    try:
        key = files.load_private_key(lab.new_key, lab.make_key)
    except StepFailure as err:
        fail(f"{lab.renewed_crt.name} cannot be checked against {lab.new_key.name}, because {because(err)}.",
             err.hint)
    expect(pki.same_public_key(cert.public_key(), key.public_key()),
           f"{lab.renewed_crt.name} is for another key than {lab.new_key.name}; make "
           f"{lab.renewed_csr.name} with {lab.new_key.name}.", f"{lab.make_csr}, then {lab.resubmit}")


def test_renewed_crt_names_the_user_for_client_auth(lab: LabFiles, cluster_ca: x509.Certificate) -> None:
    cert = _crt(lab)
    cn = pki.common_name(cert.subject)
    expect(cn == lab.user, f"{lab.renewed_crt.name} has CN={cn}; a renewal keeps the identity: CN={lab.user}.",
           lab.make_csr)
    expect(pki.CLIENT_AUTH in pki.extended_usages(cert),
           f"{lab.renewed_crt.name} does not allow client authentication (no clientAuth extended key usage).",
           lab.resubmit)
    expect(pki.chains_to(cert, cluster_ca),
           f"{lab.renewed_crt.name} does not chain to the cluster CA: {issuance.origin(cert, cluster_ca)}.",
           lab.save_crt)


def test_renewed_crt_is_valid_for_one_day(lab: LabFiles, signing: SigningDuration | None) -> None:
    cert = _crt(lab)
    got = validity_of(cert.not_valid_before_utc, cert.not_valid_after_utc)
    want = issued_validity(RENEWED_EXPIRATION_SECONDS, *([signing.value] if signing is not None else []))
    expect(abs(got - want) <= TOLERANCE,
           f"{lab.renewed_crt.name} is valid for {spoken(got)} (notBefore {cert.not_valid_before_utc:%Y-%m-%d %H:%M}, "
           f"notAfter {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC); the lab asks for one day, which the "
           f"signer gives a CSR with expirationSeconds: {RENEWED_EXPIRATION_SECONDS}.", lab.resubmit)


def test_renewed_crt_is_valid_now(lab: LabFiles) -> None:
    cert, now = _crt(lab), dt.datetime.now(dt.timezone.utc)
    expect(cert.not_valid_before_utc <= now < cert.not_valid_after_utc,
           f"{lab.renewed_crt.name} is not valid now (notBefore {cert.not_valid_before_utc:%Y-%m-%d %H:%M}, "
           f"notAfter {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC).", f"{lab.resubmit} && {lab.approve}")
