"""What the expiry-rotation graders look at: the learner's workspace and the cluster, read once.

The workspace and the user come from the grading context (``graders/context.py``). The cluster is only read (reviews store nothing).
"""

from __future__ import annotations


import pytest
from cryptography import x509
from kubernetes import client

from graders import audit, files, issuance, kube, signing_duration
from graders.expect import StepFailure, fail
from graders.expiry_rotation.lab import LabFiles
from graders.context import GradingContext


@pytest.fixture(scope="session")
def lab(context: GradingContext) -> LabFiles:
    return LabFiles(context.workspace, context.user)


@pytest.fixture(scope="session")
def original(lab: LabFiles) -> x509.Certificate:
    """The certificate setup.sh issued: the original key is its public key."""
    try:
        return files.load_certificate(lab.original_crt, lab.start)
    except StepFailure:
        fail(f"The lab's record of the original certificate, {lab.original_crt.relative_to(lab.workspace)}, "
             "is missing or damaged: the lab was not started here.", lab.start)


@pytest.fixture(scope="session")
def renewed_csr(admin_api: client.ApiClient, lab: LabFiles) -> client.V1CertificateSigningRequest | None:
    """The CSR <user>-renewed, or None when the cluster has none."""
    return kube.csr_or_fail(admin_api, lab.renewed)


@pytest.fixture(scope="session")
def missing(renewed_csr: client.V1CertificateSigningRequest | None, lab: LabFiles, cluster_ca: x509.Certificate,
            trail: audit.Trail | audit.Unavailable) -> issuance.MissingCsr | None:
    """When the renewal CSR is gone: whether jane-renewed.crt still earns its credit, and on what evidence."""
    if renewed_csr is not None:
        return None
    return issuance.missing_csr(lab.renewed, lab.new_key, lab.renewed_crt, cluster_ca, lab.user, trail)


@pytest.fixture(scope="session")
def collected(missing: issuance.MissingCsr | None) -> str | None:
    """Why a missing renewal CSR is fine (deleted after issuing), or None."""
    return missing.credited if missing is not None else None


@pytest.fixture(scope="session")
def signing(lab: LabFiles, admin_api: client.ApiClient, context: GradingContext) -> signing_duration.SigningDuration | None:
    """The --cluster-signing-duration in force, read from the cluster (None when nothing tells)."""
    try:
        leaked: x509.Certificate | None = files.load_certificate(lab.leaked_crt, "")
    except StepFailure:
        leaked = None
    return signing_duration.read(context.root, admin_api, leaked, str(lab.leaked_crt.relative_to(lab.workspace)))
