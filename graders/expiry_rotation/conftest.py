"""What the expiry-rotation graders look at: the learner's workspace and the cluster, read once.

The runner (``ckslab grade``) sets ``CKSLAB_WORKSPACE`` (the lab's folder), ``KUBECONFIG`` (the
admin kubeconfig) and ``CKSLAB_USER``. The cluster is only read (reviews store nothing).
"""

from __future__ import annotations


import pytest
from cryptography import x509
from kubernetes import client

from graders import files, issuance, kube
from graders.expect import StepFailure, fail
from graders.expiry_rotation.lab import LabFiles

DEFAULT_USER = "jane"


@pytest.fixture(scope="session")
def lab() -> LabFiles:
    return LabFiles(*kube.lab_context("expiry-rotation", DEFAULT_USER))


@pytest.fixture(scope="session")
def admin_api() -> client.ApiClient:
    """A client with the admin kubeconfig the runner passes as $KUBECONFIG."""
    return kube.admin_client()


@pytest.fixture(scope="session")
def cluster_ca(admin_api: client.ApiClient) -> x509.Certificate:
    return kube.ca_certificate(admin_api)


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
def collected(renewed_csr: client.V1CertificateSigningRequest | None, lab: LabFiles,
              cluster_ca: x509.Certificate) -> str | None:
    """Why a missing renewal CSR is fine (garbage-collected an hour after approval), or None."""
    if renewed_csr is not None:
        return None
    return issuance.collected_note(lab.renewed, lab.new_key, lab.renewed_crt, cluster_ca, lab.user)
