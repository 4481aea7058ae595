"""Step leak-response: no binding names jane-ci any more; its leaked certificate still authenticates,
but may do nothing (there is no revocation: removing the rights is the response)."""

from __future__ import annotations

import pytest
from kubernetes import client

from graders import kube
from graders.expect import brief, expect, fail
from graders.expiry_rotation import rbac
from graders.expiry_rotation.lab import LabFiles

pytestmark = pytest.mark.step("leak-response")


def _csr_deleted_note(admin: client.ApiClient, lab: LabFiles) -> str:
    if kube.read_csr(admin, lab.robot) is None:
        return (f" Deleting the CSR {lab.robot} revokes nothing: the certificate it issued stays valid "
                "until its notAfter.")
    return ""


def test_no_binding_names_the_leaked_identity(lab: LabFiles, admin_api: client.ApiClient) -> None:
    found = rbac.bindings_of_user(admin_api, lab.robot)
    if found:
        fail(f"{str(found[0])[0].upper()}{str(found[0])[1:]} still binds the User {lab.robot}"
             + (f" (and {len(found) - 1} more)" if len(found) > 1 else "")
             + f": whoever holds the leaked key keeps those rights for as long as the certificate is valid."
             + _csr_deleted_note(admin_api, lab), lab.find_bindings)


def test_rbac_denies_the_leaked_identity(lab: LabFiles, admin_api: client.ApiClient) -> None:
    ok, reason = rbac.allowed(admin_api, lab.robot, "list", "pods")
    expect(not ok,
           f"RBAC still allows {lab.robot} to list pods in every namespace ({reason or 'no reason given'}); "
           "look for bindings of its name and of the groups it is in.", lab.find_bindings)


def test_leaked_kubeconfig_is_forbidden(lab: LabFiles) -> None:
    name = lab.leaked_kubeconfig.relative_to(lab.workspace)
    if not lab.leaked_kubeconfig.is_file():
        fail(f"{name} is gone. Deleting your copy does not help: whoever found the key has theirs, and "
             "the certificate stays valid. `ckslab start` issues the leak scenario again.", lab.start)
    try:
        status = rbac.list_pods_status(kube.client_for(lab.leaked_kubeconfig))
    except Exception as err:  # urllib3, TLS or kubeconfig errors: the learner sees one sentence
        fail(f"{name} could not be tried against the API server ({brief(err)}).", lab.start)
    expect(status == 403,
           f"With {name}, listing pods in every namespace answers {status}, not 403 Forbidden: the leaked "
           "certificate still has rights.", lab.find_bindings)
