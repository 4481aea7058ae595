"""Fixtures every lab's graders share: the grading context, the admin client, the CA, the node, the audit trail.

``ckslab grade`` runs pytest with ``-c graders/pytest.ini``, so this folder is the rootdir and
this conftest applies to every ``graders/<lab>/``. The runner writes one
:class:`~graders.context.GradingContext`; the score plugin reads it once (``config.stash``) and its
``context`` fixture hands it to the graders: the lab, the user, the workspace, the project root and
the admin kubeconfig come from there only. The cluster is only read.
"""

from __future__ import annotations

import pytest
from cryptography import x509
from kubernetes import client

from cluster.backends.node import Node
from graders import audit, audit_source, kube
from graders.cluster_node import node_at
from graders.context import GradingContext
from labs import resets as lab_resets


@pytest.fixture(scope="session")
def admin_api(context: GradingContext) -> client.ApiClient:
    """A client with the context's admin kubeconfig."""
    return kube.admin_client(context.kubeconfig)


@pytest.fixture(scope="session")
def cluster_ca(admin_api: client.ApiClient) -> x509.Certificate:
    """The cluster CA, as the API server publishes it (kube.ca_certificate)."""
    return kube.ca_certificate(admin_api)


@pytest.fixture(scope="session")
def node(context: GradingContext) -> Node:
    """The cluster's control-plane node (``Backend.node()``); a StepFailure where ckslab cannot reach it."""
    return node_at(context.root)


@pytest.fixture(scope="session")
def trail(context: GradingContext) -> audit.Trail | audit.Unavailable:
    """The API server's audit log of CSR writes, or why none can be read."""
    return audit_source.read_trail(context.root)


@pytest.fixture(scope="session")
def resets(context: GradingContext) -> list[lab_resets.ResetStep]:
    """The steps a `ckslab reset` undid that have not passed since (``labs/resets.py``): what it deleted is not the
    learner's doing."""
    return lab_resets.read(lab_resets.record_path(context.root, context.lab, context.user))
