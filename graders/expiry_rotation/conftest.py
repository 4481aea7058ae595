"""What the expiry-rotation graders look at: the learner's workspace and the cluster, read once.

The runner (``ckslab grade``) sets ``CKSLAB_WORKSPACE`` (the lab's folder), ``KUBECONFIG`` (the
admin kubeconfig) and ``CKSLAB_USER``. The cluster is only read (reviews store nothing).
"""

from __future__ import annotations


import pytest
from cryptography import x509
from kubernetes import client

from graders import files, issuance, kube
from graders.expect import StepFailure, brief, fail
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
    try:
        return kube.read_csr(admin_api, lab.renewed)
    except Exception as err:
        fail(f"could not check: the cluster did not answer when reading the CSR {lab.renewed} ({brief(err)}).",
             "Run `ckslab status`; `make up` restarts what is down.")


@pytest.fixture(scope="session")
def collected(renewed_csr: client.V1CertificateSigningRequest | None, lab: LabFiles,
              cluster_ca: x509.Certificate) -> str | None:
    """Why a missing renewal CSR is fine (garbage-collected an hour after approval), or None."""
    if renewed_csr is not None:
        return None
    try:
        key = files.load_private_key(lab.new_key, "")
        cert = files.load_certificate(lab.renewed_crt, "")
    except StepFailure:
        return None
    if not (issuance.is_users_client_certificate(cert, key, cluster_ca, lab.user)
            and issuance.old_enough_to_be_collected(cert)):
        return None
    return (f"The CSR {lab.renewed} is gone: the controller manager deletes approved CSRs after 1 hour, "
            f"which is normal; {lab.renewed_crt.name} still chains to the cluster CA and matches "
            f"{lab.new_key.name}, so this step counts.")
