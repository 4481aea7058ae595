"""What the expiry-rotation graders look at: the learner's workspace and the cluster, read once.

The runner (``ckslab grade``) sets ``CKSLAB_WORKSPACE`` (the lab's folder), ``KUBECONFIG`` (the
admin kubeconfig) and ``CKSLAB_USER``. The cluster is only read (reviews store nothing).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography import x509
from kubernetes import client

from graders import files, issuance, kube
from graders.expect import StepFailure, fail
from graders.expiry_rotation.lab import LabFiles, brief

DEFAULT_USER = "jane"


@pytest.fixture(scope="session")
def lab() -> LabFiles:
    workspace = os.environ.get("CKSLAB_WORKSPACE")
    if not workspace:
        fail("could not check: CKSLAB_WORKSPACE is not set.", "Grade with: ckslab grade expiry-rotation")
    return LabFiles(Path(workspace), os.environ.get("CKSLAB_USER") or DEFAULT_USER)


@pytest.fixture(scope="session")
def admin_api() -> client.ApiClient:
    """A client with the admin kubeconfig the runner passes as $KUBECONFIG."""
    path = os.environ.get("KUBECONFIG")
    if not path or not Path(path).is_file():
        fail(f"could not check: the admin kubeconfig {path or '($KUBECONFIG unset)'} does not exist.",
             "Run `make up`, then grade again.")
    try:
        return kube.client_for(Path(path))
    except Exception as err:
        fail(f"could not check: the admin kubeconfig {path} cannot be loaded ({brief(err)}).",
             "Run `make up`, then grade again.")


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
