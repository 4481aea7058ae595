"""What the signing-config graders look at: the answers file, the controller manager, the CSR.

The workspace, the user and the project root (where the cluster's state and the original manifest
are kept) come from the grading context. Everything is read once per session and only read.
"""

from __future__ import annotations

import pytest
from cryptography import x509
from kubernetes import client

from cluster import controlplane
from graders import audit, audit_source, issuance, kube
from graders.context import GradingContext
from graders.expect import fail
from graders.signing_config import controller
from graders.signing_config.controller import ControllerManager
from graders.signing_config.flags import SigningConfig
from graders.signing_config.lab import SigningLab

@pytest.fixture(scope="session")
def lab(context: GradingContext) -> SigningLab:
    return SigningLab(context.workspace, context.user, context.root)


@pytest.fixture(scope="session")
def cm(lab: SigningLab, admin_api: client.ApiClient) -> ControllerManager:
    """The controller manager as it runs, and its manifest."""
    return controller.read(lab.root, admin_api)


@pytest.fixture(scope="session")
def original(lab: SigningLab, cm: ControllerManager) -> SigningConfig:
    """The controller manager's configuration before the lab (setup.sh saved its manifest)."""
    try:
        text = lab.original_manifest.read_text()
        return SigningConfig(tuple(controlplane.command_from_manifest(text, controlplane.CONTROLLER_MANAGER)))
    except (OSError, ValueError):
        return cm.running  # no copy: the lab was never started; what runs is the original


@pytest.fixture(scope="session")
def cluster_ca(admin_api: client.ApiClient) -> x509.Certificate:
    return kube.ca_certificate(admin_api)


@pytest.fixture(scope="session")
def short_csr(admin_api: client.ApiClient, lab: SigningLab) -> client.V1CertificateSigningRequest | None:
    """The CSR <user>-short, or None when the cluster has none."""
    try:
        return kube.read_csr(admin_api, lab.csr_name)
    except Exception as err:
        detail = " ".join(str(err).split())[:160]
        fail(f"could not check: the cluster did not answer when reading the CSR {lab.csr_name} ({detail}).",
             "Run `ckslab status`; `make up` restarts what is down.")


@pytest.fixture(scope="session")
def missing(short_csr: client.V1CertificateSigningRequest | None, lab: SigningLab, cluster_ca: x509.Certificate,
            trail: audit.Trail | audit.Unavailable) -> issuance.MissingCsr | None:
    """When the CSR <user>-short is gone: whether the saved certificate still counts, and on what evidence."""
    if short_csr is not None:
        return None
    return issuance.missing_csr(lab.csr_name, lab.key, lab.crt, cluster_ca, lab.user, trail)
