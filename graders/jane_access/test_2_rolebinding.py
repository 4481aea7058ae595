"""Step rolebinding: the RoleBinding developer-binding gives the User jane the Role developer."""

from __future__ import annotations

import pytest
from kubernetes import client

from graders.expect import expect, fail
from graders.jane_access import access
from graders.jane_access.access import Action, ClusterRoleBinding, RoleBinding
from graders.jane_access.lab import BINDING, POD_VERBS, ROLE, LabNames

pytestmark = pytest.mark.step("rolebinding")


def _binding(lab: LabNames, in_namespace: list[RoleBinding], cluster: list[ClusterRoleBinding]) -> RoleBinding:
    found = access.named(in_namespace, BINDING)
    if found is not None:
        return found
    for crb in cluster:
        if access.binds(crb, "User", lab.user):
            fail(f"There is no RoleBinding {BINDING} in {lab.namespace}, but the ClusterRoleBinding "
                 f"{access.name_of(crb)} binds the User {lab.user}: a ClusterRoleBinding grants in every "
                 "namespace; the lab asks for a RoleBinding in its namespace.",
                 f"kubectl delete clusterrolebinding {access.name_of(crb)} && {lab.create_binding}")
    for other in in_namespace:
        if other.role_ref.name == ROLE or access.binds(other, "User", lab.user):
            fail(f"There is no RoleBinding {BINDING} in {lab.namespace}; the RoleBinding "
                 f"{access.name_of(other)} binds {access.show_subjects(other)} to {other.role_ref.kind} "
                 f"{other.role_ref.name}, but the lab asks for the name {BINDING}.",
                 f"kubectl delete rolebinding {access.name_of(other)} -n {lab.namespace} && {lab.create_binding}")
    fail(f"There is no RoleBinding {BINDING} in {lab.namespace}.", lab.create_binding)


def test_binding_exists(lab: LabNames, bindings_in_namespace: list[RoleBinding],
                        cluster_bindings: list[ClusterRoleBinding]) -> None:
    _binding(lab, bindings_in_namespace, cluster_bindings)


def test_binding_refers_to_the_role(lab: LabNames, bindings_in_namespace: list[RoleBinding],
                                    cluster_bindings: list[ClusterRoleBinding]) -> None:
    ref = _binding(lab, bindings_in_namespace, cluster_bindings).role_ref
    expect((ref.kind, ref.name) == ("Role", ROLE),
           f"{BINDING} refers to the {ref.kind} {ref.name}, not the Role {ROLE}; a roleRef cannot be "
           "changed, so delete the binding and create it again.", lab.fix_binding)


def test_binding_subject_is_the_user(lab: LabNames, bindings_in_namespace: list[RoleBinding],
                                     cluster_bindings: list[ClusterRoleBinding]) -> None:
    binding = _binding(lab, bindings_in_namespace, cluster_bindings)
    if access.binds(binding, "User", lab.user):
        return
    found = access.subjects(binding)
    for kind, name in found:
        if kind == "ServiceAccount" and name.split("/")[-1] == lab.user:
            fail(f"{BINDING} binds the ServiceAccount {name}, not the User {lab.user}: a certificate's CN "
                 "is a User; ServiceAccounts are for pods (--user, not --serviceaccount).", lab.fix_binding)
        if kind == "User" and name.lower() == lab.user.lower():
            fail(f"{BINDING} binds the User {name!r}, not {lab.user!r}: user names are case-sensitive and "
                 f"must be the certificate's CN exactly.", lab.fix_binding)
        if kind == "Group" and name == lab.user:
            fail(f"{BINDING} binds a Group named {lab.user}; {lab.user} is the user name (CN), so bind the "
                 "User (--user).", lab.fix_binding)
    fail(f"{BINDING} binds {access.show_subjects(binding)}, not the User {lab.user}.", lab.fix_binding)


def test_rbac_gives_the_user_the_role(lab: LabNames, admin_api: client.ApiClient) -> None:
    denied = [verb for verb in POD_VERBS
              if not access.review(admin_api, lab.user, [], Action(verb, "pods", lab.namespace)).allowed]
    expect(not denied, f"RBAC does not allow the user {lab.user} to {', '.join(denied)} pods in "
                       f"{lab.namespace}, although {BINDING} exists: the Role {ROLE} does not allow it "
                       "(see the step role).", f"kubectl auth can-i --list -n {lab.namespace} --as {lab.user}")
