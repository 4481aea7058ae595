"""Step new-certificate: a certificate issued after the change lasts the new duration.

The CSR <user>-short must not set spec.expirationSeconds (the signer would honour it, and the
certificate would show the request, not the flag). The kube-apiserver-client signer (v1.37,
pkg/controller/certificates/authority/policies.go) backdates NotBefore by 5 minutes and, for a
duration of 8 hours or more, NotAfter too, so NotAfter - NotBefore is exactly the duration,
unless the CA expires sooner. The csrcleaner deletes an issued CSR after an hour: then the saved
certificate is judged on its own.
"""

from __future__ import annotations

import datetime as dt
from typing import Callable

import pytest
from cryptography import x509
from kubernetes import client

from cluster import pki
from graders import absent, audit, files, issuance, kube
from graders.expect import StepFailure, expect, fail
from graders.signing_config import flags
from graders.signing_config.controller import ControllerManager
from graders.signing_config.lab import TARGET, TARGET_TEXT, SigningLab
from labs.resets import ResetStep

pytestmark = pytest.mark.step("new-certificate")

Csr = client.V1CertificateSigningRequest
#: How far the validity may be from the duration: the signer truncates times to the second.
TOLERANCE = dt.timedelta(minutes=2)


def _issued(lab: SigningLab, csr: Csr | None, missing: issuance.MissingCsr | None) -> x509.Certificate:
    """The certificate to judge: the CSR's, or the saved one when the evidence says the CSR issued it."""
    if csr is None:
        if missing is None or not missing.credited:
            fail(f"There is no CSR {lab.csr_name} in the cluster." + (f" {missing.reason}" if missing and missing.reason
                                                                       else ""),
                 f"Make a key and a request, submit them as the CSR {lab.csr_name} (no expirationSeconds) "
                 f"and kubectl certificate approve {lab.csr_name}")
        return files.load_certificate(lab.crt, lab.save_crt)
    pem = kube.issued_certificate(csr)
    expect(pem is not None, f"The CSR {lab.csr_name} has no certificate yet.",
           f"kubectl certificate approve {lab.csr_name}")
    return x509.load_pem_x509_certificate(pem or b"")


def test_csr_was_submitted(lab: SigningLab, short_csr: Csr | None, missing: issuance.MissingCsr | None,
                           note: Callable[[str], None], admin_api: client.ApiClient,
                           trail: audit.Trail | audit.Unavailable, resets: list[ResetStep]) -> None:
    if short_csr is None:
        if missing is None or not missing.credited:
            want = absent.CsrFiles(lab.csr_name, lab.user, lab.manifest, lab.key, lab.csr)
            fail(*absent.why_missing(want, admin_api, trail, missing,
                                     f"Make a key and a request, submit them as the CSR {lab.csr_name} (no "
                                     f"expirationSeconds) and kubectl certificate approve {lab.csr_name}", resets))
        note(missing.credited)


def test_csr_sets_no_expiration_seconds(lab: SigningLab, short_csr: Csr | None) -> None:
    seconds = short_csr.spec.expiration_seconds if short_csr is not None else None
    expect(seconds is None,
           f"The CSR {lab.csr_name} sets spec.expirationSeconds: {seconds}, so its certificate lasts what it asked "
           f"for, which proves nothing about {flags.SIGNING_DURATION}; submit it without expirationSeconds.",
           lab.resubmit)


def test_csr_is_approved_and_signed(lab: SigningLab, short_csr: Csr | None, cm: ControllerManager) -> None:
    if short_csr is None:  # collected: test_csr_was_submitted judged it
        return
    conditions = kube.true_conditions(short_csr)
    for bad in ("Denied", "Failed"):
        reason = conditions[bad].reason if bad in conditions else ""
        expect(bad not in conditions, f"The CSR {lab.csr_name} is {bad} ({reason}), so no certificate was issued.",
               lab.resubmit)
    expect("Approved" in conditions, f"The CSR {lab.csr_name} is not approved yet.",
           f"kubectl certificate approve {lab.csr_name}")
    if kube.issued_certificate(short_csr) is not None:
        return
    if flags.SIGNER not in cm.running.enabled_csr_controllers():
        fail(f"The CSR {lab.csr_name} is approved but has no certificate: the controller manager runs without its "
             f"CSR signer ({flags.CONTROLLERS}={','.join(cm.running.controllers)} turns csrsigning off).",
             f"Remove -csrsigning from --controllers in {cm.manifest_path}, then "
             "ckslab controlplane restart controller-manager")
    fail(f"The CSR {lab.csr_name} is approved but has no certificate yet: is the controller manager running?",
         "ckslab status")


def test_certificate_lasts_the_new_duration(lab: SigningLab, short_csr: Csr | None, cluster_ca: x509.Certificate,
                                            missing: issuance.MissingCsr | None,
                                            cm: ControllerManager) -> None:
    cert = _issued(lab, short_csr, missing)
    before, after = cert.not_valid_before_utc, cert.not_valid_after_utc
    validity = after - before
    expected = min(TARGET, cluster_ca.not_valid_after_utc - before)  # never past the CA's own end
    if abs(validity - expected) <= TOLERANCE:
        return
    lasts = flags.show_duration(validity)
    issued = before + issuance.SIGNER_BACKDATE
    if cm.running.duration != TARGET:
        fail(f"The certificate of the CSR {lab.csr_name} is valid for {lasts}, not {TARGET_TEXT}: the controller "
             f"manager does not sign for {TARGET_TEXT} yet (it runs with {cm.running.describe_duration()}).",
             f"Set {flags.SIGNING_DURATION}={TARGET_TEXT} first, then {lab.resubmit}")
    if cm.started_at is not None and issued < cm.started_at - dt.timedelta(seconds=2):
        fail(f"The certificate of the CSR {lab.csr_name} was issued at {issued:%Y-%m-%d %H:%M:%S} UTC, before the "
             f"change (the controller manager signing for {TARGET_TEXT} started at "
             f"{cm.started_at:%Y-%m-%d %H:%M:%S} UTC): it is valid for {lasts}. A new CSR gets the new duration.",
             lab.resubmit)
    fail(f"The certificate of the CSR {lab.csr_name} is valid for {lasts}, not {TARGET_TEXT}: the controller "
         f"manager that signed it ran with another {flags.SIGNING_DURATION}.", lab.resubmit)


def test_crt_file_is_the_issued_certificate(lab: SigningLab, short_csr: Csr | None,
                                            missing: issuance.MissingCsr | None) -> None:
    saved = files.load_certificate(lab.crt, lab.save_crt)
    expect(saved == _issued(lab, short_csr, missing),
           f"{lab.crt.name} is not the certificate the cluster issued for the CSR {lab.csr_name}.", lab.save_crt)
