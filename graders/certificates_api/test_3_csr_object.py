"""Step csr-object: the cluster holds the CSR jane, a v1 request for jane.key, from jane-csr.yaml.

Results over files: a learner who applies the CSR through a pipe (``cat <<EOF | kubectl apply
-f -``, as the Kubernetes docs do) keeps no jane-csr.yaml; when the cluster holds the right CSR
the step counts, and says the file was not kept. A jane-csr.yaml that is there and wrong is
still diagnosed. When the CSR is missing, the API server itself says why: a server-side dry run
of jane-csr.yaml, and the audit log's record of a refused create or of a deletion.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest
from kubernetes import client

from cluster import pki
from graders import absent, audit, files, issuance, kube, manifest, request
from graders.certificates_api.lab import LabFiles
from graders.expect import StepFailure, because, fail
from labs.resets import ResetStep

pytestmark = pytest.mark.step("csr-object")

CsrObject = client.V1CertificateSigningRequest
Trail = audit.Trail | audit.Unavailable


@pytest.fixture(scope="module")
def cluster_is_right(lab: LabFiles, cluster_csr: CsrObject | None, collected: str | None) -> str | None:
    """A note when the cluster holds the right CSR (or issued through it) and jane-csr.yaml is gone."""
    if lab.manifest.exists():
        return None
    if cluster_csr is None:
        return collected
    try:
        _check_cluster_csr(lab, cluster_csr)
    except StepFailure:
        return None
    return (f"{lab.manifest.name} was not kept (applied through a pipe?); the CSR {lab.user} in the cluster "
            f"is right, so this step counts.")


@pytest.fixture(scope="module")
def told_by_the_log(lab: LabFiles, cluster_csr: CsrObject | None, collected: str | None, admin_api: client.ApiClient,
                    trail: Trail, missing: issuance.MissingCsr | None,
                    resets: list[ResetStep]) -> tuple[str, str] | None:
    """Why the CSR is missing when there is no jane-csr.yaml but the audit log saw it (refused, deleted)."""
    if lab.manifest.exists() or cluster_csr is not None or collected or not isinstance(trail, audit.Trail):
        return None
    if not trail.of(lab.user):
        return None  # never tried: "jane-csr.yaml does not exist" says what to do next
    want = absent.CsrFiles(lab.user, lab.user, lab.manifest, lab.key, lab.csr)
    return absent.why_missing(want, admin_api, trail, missing, lab.apply, resets)


def _doc(lab: LabFiles, cluster_is_right: str | None, note: Callable[[str], None],
         told: tuple[str, str] | None = None) -> dict[str, Any] | None:
    """jane-csr.yaml's CSR; None (noted) when the file is gone and the cluster's CSR is right."""
    if cluster_is_right and not lab.manifest.exists():
        note(cluster_is_right)
        return None
    if told is not None:
        fail(*told)
    return manifest.load(lab.manifest, lab.user)


def _then_recreate(lab: LabFiles, fix: str, csr: CsrObject | None) -> str:
    """``fix``, then re-create the CSR when the cluster holds one: a CSR's spec cannot be changed."""
    if csr is None:
        return f"{fix}, then {lab.apply}"
    return f"{fix}, then {lab.resubmit}  (a CSR's spec cannot be changed: delete it and create it again)"


def test_manifest_holds_a_csr(lab: LabFiles, cluster_is_right: str | None, note: Callable[[str], None],
                              told_by_the_log: tuple[str, str] | None) -> None:
    _doc(lab, cluster_is_right, note, told_by_the_log)


def test_manifest_is_certificates_v1(lab: LabFiles, cluster_is_right: str | None,
                                     note: Callable[[str], None]) -> None:
    doc = _doc(lab, cluster_is_right, note)
    if doc is not None:
        manifest.check_api_version(doc, lab.manifest.name)


def test_manifest_names_the_csr_after_the_user(lab: LabFiles, cluster_is_right: str | None,
                                               note: Callable[[str], None]) -> None:
    doc = _doc(lab, cluster_is_right, note)
    if doc is not None:
        manifest.check_name(doc, lab.manifest.name, lab.user)


def test_manifest_request_is_for_the_key(lab: LabFiles, cluster_is_right: str | None, cluster_csr: CsrObject | None,
                                         note: Callable[[str], None]) -> None:
    doc = _doc(lab, cluster_is_right, note)
    if doc is None:
        return
    try:
        manifest.check_request(doc, lab.manifest.name, lab.csr, lab.key, lab.user)
    except StepFailure as err:
        fail(err.message, _then_recreate(lab, err.hint, cluster_csr) if cluster_csr is not None else err.hint)


def test_manifest_signer_is_kube_apiserver_client(lab: LabFiles, cluster_is_right: str | None,
                                                  cluster_csr: CsrObject | None, note: Callable[[str], None]) -> None:
    doc = _doc(lab, cluster_is_right, note)
    if doc is not None:
        name = lab.manifest.name
        manifest.check_signer(manifest.signer_of(doc), name, _then_recreate(
            lab, f"Set spec.signerName: {manifest.KUBE_APISERVER_CLIENT} in {name}", cluster_csr))


def test_manifest_usages_are_for_a_client(lab: LabFiles, cluster_is_right: str | None,
                                          cluster_csr: CsrObject | None, note: Callable[[str], None]) -> None:
    doc = _doc(lab, cluster_is_right, note)
    if doc is not None:
        name = lab.manifest.name
        manifest.check_usages(manifest.usages_of(doc), name, _then_recreate(
            lab, f"Set spec.usages to [client auth] in {name}", cluster_csr))


# --- the object in the cluster ----------------------------------------------------------------

def _in_cluster(lab: LabFiles, csr: CsrObject | None, collected: str | None, note: Callable[[str], None],
                api: client.ApiClient, trail: Trail, missing: issuance.MissingCsr | None,
                resets: list[ResetStep]) -> CsrObject | None:
    """The CSR object; None when it is gone but its certificate was issued (noted); else a failure."""
    if csr is None:
        if not collected:
            want = absent.CsrFiles(lab.user, lab.user, lab.manifest, lab.key, lab.csr)
            fail(*absent.why_missing(want, api, trail, missing, lab.apply, resets))
        note(str(collected))
    return csr


def _check_cluster_csr(lab: LabFiles, csr: CsrObject) -> None:
    _check_cluster_request(lab, csr)
    manifest.check_signer(csr.spec.signer_name, f"The CSR {lab.user} in the cluster", lab.resubmit)
    manifest.check_usages(csr.spec.usages, f"The CSR {lab.user} in the cluster", lab.resubmit)


def _check_cluster_request(lab: LabFiles, csr: CsrObject) -> None:
    """The cluster's spec.request is a request for jane.key with CN=jane (jane.csr itself is not needed)."""
    src = request.RequestSource(f"The CSR {lab.user} in the cluster", lab.csr.name, lab.key.name,
                                f"{lab.make_csr}, then {lab.resubmit}")
    parsed = request.load_request(kube.request_of(csr), src)
    try:
        key = files.load_private_key(lab.key, lab.make_key)
    except StepFailure as err:
        fail(f"The CSR {lab.user} in the cluster cannot be checked against {lab.key.name}, because "
             f"{because(err)}.", err.hint)
    request.check_key(parsed, key, src, f"{lab.make_csr}, then {lab.resubmit}  (a CSR's spec cannot be "
                                        "changed: delete it and create it again)")
    cn = pki.common_name(parsed.subject)
    if cn != lab.user:
        fail(f"The CSR {lab.user} in the cluster requests CN={cn}; it must be CN={lab.user}.",
             f"{lab.make_csr}, then {lab.resubmit}")


def test_csr_exists_in_the_cluster(lab: LabFiles, cluster_csr: CsrObject | None, collected: str | None,
                                   note: Callable[[str], None], admin_api: client.ApiClient, trail: Trail,
                                   missing: issuance.MissingCsr | None, resets: list[ResetStep]) -> None:
    _in_cluster(lab, cluster_csr, collected, note, admin_api, trail, missing, resets)


def test_csr_in_the_cluster_is_for_the_key(lab: LabFiles, cluster_csr: CsrObject | None, collected: str | None,
                                           note: Callable[[str], None], admin_api: client.ApiClient, trail: Trail,
                                           missing: issuance.MissingCsr | None, resets: list[ResetStep]) -> None:
    csr = _in_cluster(lab, cluster_csr, collected, note, admin_api, trail, missing, resets)
    if csr is not None:
        _check_cluster_request(lab, csr)


def test_csr_in_the_cluster_is_for_kube_apiserver_client(lab: LabFiles, cluster_csr: CsrObject | None,
                                                         collected: str | None, note: Callable[[str], None],
                                                         admin_api: client.ApiClient, trail: Trail,
                                                         missing: issuance.MissingCsr | None, resets: list[ResetStep]) -> None:
    csr = _in_cluster(lab, cluster_csr, collected, note, admin_api, trail, missing, resets)
    if csr is not None:
        manifest.check_signer(csr.spec.signer_name, f"The CSR {lab.user} in the cluster", lab.resubmit)


def test_csr_in_the_cluster_asks_for_client_auth(lab: LabFiles, cluster_csr: CsrObject | None,
                                                 collected: str | None, note: Callable[[str], None],
                                                 admin_api: client.ApiClient, trail: Trail,
                                                 missing: issuance.MissingCsr | None, resets: list[ResetStep]) -> None:
    csr = _in_cluster(lab, cluster_csr, collected, note, admin_api, trail, missing, resets)
    if csr is not None:
        manifest.check_usages(csr.spec.usages, f"The CSR {lab.user} in the cluster", lab.resubmit)
