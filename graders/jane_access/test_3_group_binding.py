"""Step group-binding: the Group from the certificate's O (developers for jane) may read configmaps."""

from __future__ import annotations

import pytest
from kubernetes import client

from graders.expect import expect, fail
from graders.jane_access import access, rules
from graders.jane_access.access import Action, ClusterRoleBinding, RoleBinding
from graders.jane_access.lab import CONFIGMAP_VERBS, READER, READER_BINDING, LabNames

pytestmark = pytest.mark.step("group-binding")


def _reader(lab: LabNames, admin_api: client.ApiClient, namespace: str) -> client.V1Role:
    found = access.read_role(admin_api, namespace, READER)
    if found is None:
        fail(f"There is no Role {READER} in {namespace}.", lab.create_reader)
    return found


def _binding(lab: LabNames, in_namespace: list[RoleBinding], cluster: list[ClusterRoleBinding]) -> RoleBinding:
    found = access.named(in_namespace, READER_BINDING)
    if found is not None:
        return found
    for crb in cluster:
        if access.binds(crb, "Group", lab.group):
            fail(f"There is no RoleBinding {READER_BINDING} in {lab.namespace}, but the ClusterRoleBinding "
                 f"{access.name_of(crb)} binds the Group {lab.group}: that grants in every namespace.",
                 f"kubectl delete clusterrolebinding {access.name_of(crb)} && {lab.create_reader_binding}")
    for other in in_namespace:
        if other.role_ref.name == READER or access.binds(other, "Group", lab.group):
            fail(f"There is no RoleBinding {READER_BINDING} in {lab.namespace}; the RoleBinding "
                 f"{access.name_of(other)} binds {access.show_subjects(other)} to {other.role_ref.kind} "
                 f"{other.role_ref.name}, but the lab asks for the name {READER_BINDING}.",
                 f"kubectl delete rolebinding {access.name_of(other)} -n {lab.namespace} && "
                 f"{lab.create_reader_binding}")
    fail(f"There is no RoleBinding {READER_BINDING} in {lab.namespace}.", lab.create_reader_binding)


def test_reader_role_exists(lab: LabNames, admin_api: client.ApiClient, namespace: str) -> None:
    _reader(lab, admin_api, namespace)


def test_reader_role_allows_exactly_reading_configmaps(lab: LabNames, admin_api: client.ApiClient,
                                                       namespace: str) -> None:
    reader_rules = access.rules_of(_reader(lab, admin_api, namespace))
    fix = f"kubectl delete role {READER} -n {namespace} && {lab.create_reader}"
    lacking, beyond = rules.missing(reader_rules, lab.reader_grants), rules.extra(reader_rules, lab.reader_grants)
    expect(not lacking, f"The Role {READER} does not allow {rules.describe(lacking)} on every configmap; "
                        "it must allow get, list and watch on configmaps.", fix)
    expect(not beyond, f"The Role {READER} also allows {rules.describe(beyond)}; least privilege: only get, "
                       "list and watch on configmaps.", fix)


def test_group_binding_exists(lab: LabNames, bindings_in_namespace: list[RoleBinding],
                              cluster_bindings: list[ClusterRoleBinding]) -> None:
    _binding(lab, bindings_in_namespace, cluster_bindings)


def test_group_binding_refers_to_the_reader_role(lab: LabNames, bindings_in_namespace: list[RoleBinding],
                                                 cluster_bindings: list[ClusterRoleBinding]) -> None:
    ref = _binding(lab, bindings_in_namespace, cluster_bindings).role_ref
    expect((ref.kind, ref.name) == ("Role", READER),
           f"{READER_BINDING} refers to the {ref.kind} {ref.name}, not the Role {READER}; a roleRef cannot "
           "be changed, so delete the binding and create it again.", lab.fix_reader_binding)


def test_group_binding_subject_is_the_group(lab: LabNames, bindings_in_namespace: list[RoleBinding],
                                            cluster_bindings: list[ClusterRoleBinding]) -> None:
    binding = _binding(lab, bindings_in_namespace, cluster_bindings)
    if access.binds(binding, "Group", lab.group):
        return
    found = access.subjects(binding)
    if ("User", lab.user) in found:
        fail(f"{READER_BINDING} binds the User {lab.user}, not the Group {lab.group}: this step grants "
             f"through the group that the O of {lab.user}'s certificate puts her in (--group).",
             lab.fix_reader_binding)
    groups = [name for kind, name in found if kind == "Group"]
    if groups:
        fail(f"{READER_BINDING} binds the Group {', '.join(groups)}, but {lab.user}'s certificate puts her in "
             f"the group {lab.group} (its O field).",
             f"openssl x509 -in {lab.user}.crt -noout -subject && {lab.fix_reader_binding}")
    fail(f"{READER_BINDING} binds {access.show_subjects(binding)}, not the Group {lab.group}.",
         lab.fix_reader_binding)


def test_members_of_the_group_may_read_configmaps(lab: LabNames, admin_api: client.ApiClient) -> None:
    member = f"{lab.group}-member"  # any user in the group: the grant must come from the group
    denied = [verb for verb in CONFIGMAP_VERBS if not access.review(
        admin_api, member, [lab.group], Action(verb, "configmaps", lab.namespace)).allowed]
    expect(not denied, f"RBAC does not allow members of the group {lab.group} to {', '.join(denied)} "
                       f"configmaps in {lab.namespace}.",
           f"kubectl auth can-i list configmaps -n {lab.namespace} --as {member} --as-group {lab.group}")
