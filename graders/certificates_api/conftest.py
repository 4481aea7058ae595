"""What the certificates-api graders look at: the learner's workspace and the cluster, read once.

The workspace and the user come from the grading context (``graders/context.py``). The cluster is read once per session and only read.
"""

from __future__ import annotations


import pytest
from cryptography import x509
from kubernetes import client

from graders import audit, issuance, kube
from graders.certificates_api.lab import LabFiles
from graders.context import GradingContext


@pytest.fixture(scope="session")
def lab(context: GradingContext) -> LabFiles:
    return LabFiles(context.workspace, context.user)


@pytest.fixture(scope="session")
def cluster_csr(admin_api: client.ApiClient, lab: LabFiles) -> client.V1CertificateSigningRequest | None:
    """The CSR named after the user, or None when the cluster has none."""
    return kube.csr_or_fail(admin_api, lab.user)


@pytest.fixture(scope="session")
def missing(cluster_csr: client.V1CertificateSigningRequest | None, lab: LabFiles, cluster_ca: x509.Certificate,
            trail: audit.Trail | audit.Unavailable) -> issuance.MissingCsr | None:
    """When the CSR is gone: whether jane.crt still earns its credit, and on what evidence."""
    if cluster_csr is not None:
        return None
    return issuance.missing_csr(lab.user, lab.key, lab.crt, cluster_ca, lab.user, trail)


@pytest.fixture(scope="session")
def collected(missing: issuance.MissingCsr | None) -> str | None:
    """Why a missing CSR is fine (deleted after issuing jane.crt), or None."""
    return missing.credited if missing is not None else None
