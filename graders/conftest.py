"""Fixtures every lab's graders share: the admin client, the cluster CA and the audit trail.

``ckslab grade`` runs pytest with ``-c graders/pytest.ini``, so this folder is the rootdir and
this conftest applies to every ``graders/<lab>/``; a lab's own conftest may override a fixture
(signing-config reads its admin kubeconfig from the project root). The runner sets ``KUBECONFIG``
(the admin kubeconfig), ``CKSLAB_WORKSPACE`` and ``CKSLAB_USER``. The cluster is only read.
"""

from __future__ import annotations

import pytest
from cryptography import x509
from kubernetes import client

from graders import audit, audit_source, kube


@pytest.fixture(scope="session")
def admin_api() -> client.ApiClient:
    """A client with the admin kubeconfig the runner passes as $KUBECONFIG."""
    return kube.admin_client()


@pytest.fixture(scope="session")
def cluster_ca(admin_api: client.ApiClient) -> x509.Certificate:
    """The cluster CA, as the API server publishes it (kube.ca_certificate)."""
    return kube.ca_certificate(admin_api)


@pytest.fixture(scope="session")
def trail(admin_api: client.ApiClient) -> audit.Trail | audit.Unavailable:
    """The API server's audit log of CSR writes, or why none can be read."""
    return audit_source.read_trail(kube.kubeconfig_path(), admin_api)
