"""What the jane-access graders look at: the cluster's RBAC, as the admin and as the user.

The workspace (with the user's kubeconfig that setup.sh made) and the user come from the grading
context (``graders/context.py``).
"""

from __future__ import annotations


import pytest
from kubernetes import client

from graders import kube
from graders.expect import brief, fail
from graders.jane_access import access
from graders.jane_access.lab import ROLE, LabNames
from graders.context import GradingContext


@pytest.fixture(scope="session")
def lab(context: GradingContext) -> LabNames:
    return LabNames(context.workspace, context.user)


@pytest.fixture(scope="session")
def namespace(admin_api: client.ApiClient, lab: LabNames) -> str:
    """The lab's namespace, which setup.sh creates: no step can pass without it."""
    if not access.namespace_exists(admin_api, lab.namespace):
        fail(f"The namespace {lab.namespace} does not exist: the lab was not started, or it was "
             "deleted with everything in it.", lab.start)
    return lab.namespace


@pytest.fixture(scope="session")
def role(admin_api: client.ApiClient, lab: LabNames, namespace: str) -> client.V1Role:
    found = access.read_role(admin_api, namespace, ROLE)
    if found is None:
        elsewhere = access.cluster_role_exists(admin_api, ROLE)
        fail(f"There is no Role {ROLE} in {namespace}"
             + (f"; there is a ClusterRole {ROLE}, but the lab asks for a Role, which only grants in "
                "its own namespace." if elsewhere else "."), lab.create_role)
    return found


@pytest.fixture(scope="session")
def user_api(lab: LabNames) -> client.ApiClient:
    """A client with the user's own kubeconfig (made by setup.sh)."""
    if not lab.kubeconfig.is_file():
        fail(f"{lab.kubeconfig.name} is missing from the workspace; `{lab.start}` makes it again.",
             lab.start)
    try:
        return kube.client_for(lab.kubeconfig)
    except Exception as err:
        fail(f"{lab.kubeconfig.name} cannot be loaded as a kubeconfig ({brief(err)}).", lab.start)


@pytest.fixture(scope="session")
def bindings_in_namespace(admin_api: client.ApiClient, namespace: str) -> list[access.RoleBinding]:
    return access.role_bindings(admin_api, namespace)


@pytest.fixture(scope="session")
def cluster_bindings(admin_api: client.ApiClient) -> list[access.ClusterRoleBinding]:
    return access.cluster_role_bindings(admin_api)
