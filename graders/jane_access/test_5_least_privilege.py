"""Step least-privilege: no binding gives jane or her group more than the lab asks for.

What RBAC allows is asked with SubjectAccessReviews for the user together with her groups (those
of her certificate and ``system:authenticated``), so a grant to either counts.
"""

from __future__ import annotations

import pytest
from kubernetes import client

from graders.expect import expect, fail
from graders.jane_access import access
from graders.jane_access.access import Action, ClusterRoleBinding
from graders.jane_access.lab import POWERFUL_ROLES, LabNames

pytestmark = pytest.mark.step("least-privilege")

HERE, ELSEWHERE = "{namespace}", "{elsewhere}"
#: What must stay forbidden; HERE is the lab's namespace.
FORBIDDEN = (
    Action("get", "secrets", HERE), Action("list", "secrets", HERE),
    Action("create", "pods", HERE, subresource="exec"), Action("patch", "pods", HERE),
    Action("create", "deployments", HERE, group="apps"), Action("create", "configmaps", HERE),
    Action("create", "rolebindings", HERE, group="rbac.authorization.k8s.io"),
    Action("list", "pods", "default"), Action("list", "pods", "kube-system"),
    Action("get", "secrets", "kube-system"),
    Action("list", "nodes"), Action("list", "namespaces"), Action("delete", "namespaces", name=HERE),
    Action("list", "clusterroles", group="rbac.authorization.k8s.io"),
    Action("create", "clusterrolebindings", group="rbac.authorization.k8s.io"),
    Action("impersonate", "users"),
    Action("update", "certificatesigningrequests", group="certificates.k8s.io", subresource="approval"),
)


def _in(action: Action, lab: LabNames) -> Action:
    return Action(action.verb, action.resource, action.namespace.replace(HERE, lab.namespace), action.group,
                  action.subresource, action.name.replace(HERE, lab.namespace))


def _subjects(lab: LabNames) -> list[tuple[str, str]]:
    return [("User", lab.user), ("Group", lab.group)]


def test_access_was_granted(lab: LabNames, admin_api: client.ApiClient,
                            bindings_in_namespace: list[access.RoleBinding]) -> None:
    granted = access.review(admin_api, lab.user, [lab.group], Action("list", "pods", lab.namespace)).allowed
    if not granted:
        why, fix = access.why_denied(admin_api, lab, bindings_in_namespace)
        fail(f"{lab.user} may not even list pods in {lab.namespace} yet ({why}), so there is nothing to judge: "
             "least privilege is graded once the access the lab asks for works.", fix)


def test_no_cluster_role_binding_for_the_user(lab: LabNames, cluster_bindings: list[ClusterRoleBinding]) -> None:
    for crb in cluster_bindings:
        who = [f"{kind} {name}" for kind, name in _subjects(lab) if access.binds(crb, kind, name)]
        if who:
            fail(f"The ClusterRoleBinding {access.name_of(crb)} binds the {' and the '.join(who)} to the "
                 f"{crb.role_ref.kind} {crb.role_ref.name} in every namespace; {lab.user} needs no "
                 f"cluster-wide right.", f"kubectl delete clusterrolebinding {access.name_of(crb)}")


def test_no_powerful_role_in_any_namespace(lab: LabNames, admin_api: client.ApiClient) -> None:
    for binding in access.role_bindings(admin_api):
        who = [f"{kind} {name}" for kind, name in _subjects(lab) if access.binds(binding, kind, name)]
        ref = binding.role_ref
        if who and ref.kind == "ClusterRole" and ref.name in POWERFUL_ROLES:
            fail(f"The RoleBinding {access.name_of(binding)} in {access.namespace_of(binding)} binds the "
                 f"{' and the '.join(who)} to the ClusterRole {ref.name}, far more than the lab asks for.",
                 f"kubectl delete rolebinding {access.name_of(binding)} -n {access.namespace_of(binding)}")


@pytest.mark.parametrize("action", FORBIDDEN, ids=[str(a).replace(" ", "-") for a in FORBIDDEN])
def test_stays_forbidden(action: Action, lab: LabNames, admin_api: client.ApiClient) -> None:
    asked = _in(action, lab)
    decision = access.review(admin_api, lab.user, [lab.group, "system:authenticated"], asked)
    expect(not decision.allowed,
           f"RBAC allows {lab.user} (in the group {lab.group}) to {asked}"
           + (f" ({decision.reason.rstrip('.')})" if decision.reason else "")
           + f"; least privilege: only pods and, read-only, configmaps in {lab.namespace}.", lab.find_bindings)
