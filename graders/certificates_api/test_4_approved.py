"""Step approved: the CSR jane is Approved, and neither Denied nor Failed."""

from __future__ import annotations

from typing import Callable

import pytest
from kubernetes import client

from graders import kube
from graders.certificates_api.lab import LabFiles
from graders.expect import expect

pytestmark = pytest.mark.step("approved")

CsrObject = client.V1CertificateSigningRequest


def _in_cluster(lab: LabFiles, csr: CsrObject | None, collected: str | None,
                note: Callable[[str], None]) -> CsrObject | None:
    if csr is None:
        if lab.manifest.exists():
            expect(collected, f"There is no CertificateSigningRequest named {lab.user} in the cluster, "
                              "so nothing is approved.", f"{lab.apply} && {lab.approve}")
        else:  # a reset of csr-object moved it to workspace/.backup/: `apply -f` of it would fail
            expect(collected, f"There is no CertificateSigningRequest named {lab.user} in the cluster, so nothing "
                              f"is approved, and {lab.manifest.name} is not in the workspace (step csr-object).",
                   f"Write the CertificateSigningRequest for {lab.user} to {lab.manifest.name} (step csr-object), "
                   f"then {lab.apply} && {lab.approve}")
        note(str(collected))
    return csr


def _why(condition: client.V1CertificateSigningRequestCondition) -> str:
    parts = [p.rstrip(". ") for p in (condition.reason, condition.message) if p]
    return ": ".join(parts) or "no reason given"


def test_csr_is_not_denied(lab: LabFiles, cluster_csr: CsrObject | None, collected: str | None,
                           note: Callable[[str], None]) -> None:
    csr = _in_cluster(lab, cluster_csr, collected, note)
    denied = kube.true_conditions(csr).get("Denied") if csr is not None else None
    expect(denied is None,
           f"The CSR {lab.user} was denied ({_why(denied) if denied else ''}); a denied CSR stays "
           "denied, so submit it again and approve it.", f"{lab.resubmit} && {lab.approve}")


def test_csr_has_not_failed(lab: LabFiles, cluster_csr: CsrObject | None, collected: str | None,
                            note: Callable[[str], None]) -> None:
    csr = _in_cluster(lab, cluster_csr, collected, note)
    failed = kube.true_conditions(csr).get("Failed") if csr is not None else None
    expect(failed is None,
           f"The CSR {lab.user} is Failed: the signer refused it ({_why(failed) if failed else ''}); "
           "ask only for client auth (with digital signature, key encipherment) and submit it again.",
           f"Set spec.usages to [client auth] in {lab.manifest.name}, then {lab.resubmit} && {lab.approve}")


def test_csr_is_approved(lab: LabFiles, cluster_csr: CsrObject | None, collected: str | None,
                         note: Callable[[str], None]) -> None:
    csr = _in_cluster(lab, cluster_csr, collected, note)
    if csr is not None:
        expect("Approved" in kube.true_conditions(csr),
               f"The CSR {lab.user} is still Pending: it has no Approved condition.", lab.approve)
