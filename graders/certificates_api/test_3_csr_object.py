"""Step csr-object: jane-csr.yaml is a v1 CSR for jane.csr, and the cluster holds that CSR."""

from __future__ import annotations

from typing import Any, Callable

import pytest
from kubernetes import client

from graders import files, kube, manifest
from graders.certificates_api.lab import LabFiles
from graders.expect import StepFailure, because, expect, fail

pytestmark = pytest.mark.step("csr-object")

CsrObject = client.V1CertificateSigningRequest


def _doc(lab: LabFiles) -> dict[str, Any]:
    return manifest.load(lab.manifest, lab.user)


def test_manifest_holds_a_csr(lab: LabFiles) -> None:
    _doc(lab)


def test_manifest_is_certificates_v1(lab: LabFiles) -> None:
    manifest.check_api_version(_doc(lab), lab.manifest.name)


def test_manifest_names_the_csr_after_the_user(lab: LabFiles) -> None:
    manifest.check_name(_doc(lab), lab.manifest.name, lab.user)


def test_manifest_request_is_the_csr_file(lab: LabFiles) -> None:
    manifest.check_request(_doc(lab), lab.manifest.name, lab.csr)


def test_manifest_signer_is_kube_apiserver_client(lab: LabFiles) -> None:
    name = lab.manifest.name
    manifest.check_signer(manifest.signer_of(_doc(lab)), name,
                          f"Set spec.signerName: {manifest.KUBE_APISERVER_CLIENT} in {name}")


def test_manifest_usages_are_for_a_client(lab: LabFiles) -> None:
    name = lab.manifest.name
    manifest.check_usages(manifest.usages_of(_doc(lab)), name,
                          f"Set spec.usages to [client auth] in {name}")


def _in_cluster(lab: LabFiles, csr: CsrObject | None, collected: str | None,
                note: Callable[[str], None]) -> CsrObject | None:
    """The CSR object; None when it was garbage-collected (noted); a failure when it is missing."""
    if csr is None:
        expect(collected, f"There is no CertificateSigningRequest named {lab.user} in the cluster.",
               lab.apply)
        note(str(collected))
    return csr


def test_csr_exists_in_the_cluster(lab: LabFiles, cluster_csr: CsrObject | None, collected: str | None,
                                   note: Callable[[str], None]) -> None:
    _in_cluster(lab, cluster_csr, collected, note)


def test_csr_in_the_cluster_holds_the_csr_file(lab: LabFiles, cluster_csr: CsrObject | None,
                                               collected: str | None, note: Callable[[str], None]) -> None:
    csr = _in_cluster(lab, cluster_csr, collected, note)
    if csr is None:
        return
    try:
        expected = files.read_bytes(lab.csr, lab.make_csr)
    except StepFailure as err:
        fail(f"The CSR {lab.user} in the cluster cannot be compared with {lab.csr.name}, because "
             f"{because(err)}.", err.hint)
    expect(kube.request_of(csr) == expected,
           f"The CSR {lab.user} in the cluster holds another request than {lab.csr.name} "
           f"(made from another file, or {lab.csr.name} changed since).", lab.resubmit)


def test_csr_in_the_cluster_is_for_kube_apiserver_client(lab: LabFiles, cluster_csr: CsrObject | None,
                                                         collected: str | None,
                                                         note: Callable[[str], None]) -> None:
    csr = _in_cluster(lab, cluster_csr, collected, note)
    if csr is not None:
        manifest.check_signer(csr.spec.signer_name, f"The CSR {lab.user} in the cluster", lab.resubmit)


def test_csr_in_the_cluster_asks_for_client_auth(lab: LabFiles, cluster_csr: CsrObject | None,
                                                 collected: str | None,
                                                 note: Callable[[str], None]) -> None:
    csr = _in_cluster(lab, cluster_csr, collected, note)
    if csr is not None:
        manifest.check_usages(csr.spec.usages, f"The CSR {lab.user} in the cluster", lab.resubmit)
