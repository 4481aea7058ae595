"""Step own-credentials: with her own certificate, jane works in her namespace and nowhere else."""

from __future__ import annotations

import pytest
from kubernetes import client
from urllib3.exceptions import HTTPError as Urllib3Error

from graders.expect import brief, expect, fail
from graders.jane_access import access
from graders.jane_access.lab import LabNames

pytestmark = pytest.mark.step("own-credentials")


def _list_status(api: client.ApiClient, lab: LabNames, resource: str, namespace: str) -> int:
    try:
        return access.list_status(api, resource, namespace)
    except (Urllib3Error, OSError) as err:  # OSError: ssl.SSLError raised before any request
        fail(f"The API server does not answer {lab.kubeconfig.name} ({brief(err)}).", lab.start)


def test_kubeconfig_authenticates_as_the_user_in_the_group(user_api: client.ApiClient, lab: LabNames) -> None:
    name = lab.kubeconfig.name
    try:
        username, groups = access.identity(user_api)
    except client.ApiException as err:
        fail(f"The API server answered {err.status} {err.reason} to {name}'s SelfSubjectReview; setup.sh "
             "makes a kubeconfig that authenticates.", lab.start)
    except (Urllib3Error, OSError) as err:
        fail(f"The API server does not answer {name} ({brief(err)}).", lab.start)
    expect(username == lab.user, f"{name} authenticates as {username!r}, not {lab.user}.", lab.start)
    expect(lab.group in groups, f"{name} authenticates as {lab.user} in the groups {', '.join(groups)}, not in "
                                f"{lab.group}: its certificate lacks O={lab.group}.", lab.start)


def test_user_lists_pods_in_the_namespace(user_api: client.ApiClient, lab: LabNames, admin_api: client.ApiClient,
                                         bindings_in_namespace: list[access.RoleBinding]) -> None:
    status = _list_status(user_api, lab, "pods", lab.namespace)
    if status != 200:
        why, fix = access.why_denied(admin_api, lab, bindings_in_namespace)
        fail(f"With {lab.kubeconfig.name}, listing pods in {lab.namespace} answers {status}: {lab.user} is not "
             f"allowed yet ({why}).", fix)


def test_user_lists_configmaps_through_the_group(user_api: client.ApiClient, lab: LabNames,
                                                admin_api: client.ApiClient,
                                                bindings_in_namespace: list[access.RoleBinding]) -> None:
    status = _list_status(user_api, lab, "configmaps", lab.namespace)
    if status != 200:
        why, fix = access.why_group_denied(admin_api, lab, bindings_in_namespace)
        fail(f"With {lab.kubeconfig.name}, listing configmaps in {lab.namespace} answers {status}: the group "
             f"{lab.group} is not allowed yet ({why}).", fix)


def test_user_is_forbidden_in_default(user_api: client.ApiClient, lab: LabNames) -> None:
    status = _list_status(user_api, lab, "pods", "default")
    expect(status == 403, f"With {lab.kubeconfig.name}, {lab.user} can list pods in the namespace default "
                          f"(answer {status}, not 403 Forbidden): some binding gives her more than "
                          f"{lab.namespace}.", lab.find_bindings)
