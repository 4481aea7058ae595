"""Graders of the exam task signer-approver, asked of the authorizer (SubjectAccessReviews)."""

from __future__ import annotations

from typing import Callable

import pytest
from kubernetes import client

from graders import kube
from graders.exam import look
from graders.exam.inputs import TaskInput
from graders.expect import brief, expect, fail

Observe = Callable[[object, object], None]
GROUP = "certificates.k8s.io"
#: Names the CSR approval check accepts besides the exact signer: the API server allows an approval
#: when `approve` is granted on signers/<signerName> or on signers/<domain>/* (the domain wildcard).
OTHER_SIGNERS = ("kubernetes.io/kube-apiserver-client", "ckslab.example/another-team", "ckslab.example/*")
USER_GROUPS = ["system:authenticated"]


def _rights(task: TaskInput, api: client.ApiClient) -> dict[str, bool]:
    user = task["user"]
    return {
        "get csr": look.can(api, user, USER_GROUPS, "get", "certificatesigningrequests", group=GROUP),
        "update approval": look.can(api, user, USER_GROUPS, "update", "certificatesigningrequests", group=GROUP,
                                    subresource="approval"),
        f"approve {task['signer']}": _approves(task, api, task["signer"]) or _approves(task, api, "ckslab.example/*"),
    }


def _approves(task: TaskInput, api: client.ApiClient, name: str) -> bool:
    return look.can(api, task["user"], USER_GROUPS, "approve", "signers", group=GROUP, name=name)


@pytest.mark.step("may-approve")
def test_may_approve(task: TaskInput, admin_api: client.ApiClient, observe: Observe) -> None:
    rights = _rights(task, admin_api)
    observe(", ".join(f"{r}: yes" for r in rights), ", ".join(f"{r}: {'yes' if ok else 'no'}" for r, ok in rights.items()))
    missing = [r for r, ok in rights.items() if not ok]
    expect(not missing, f"{task['user']} may not: {', '.join(missing)}.")


@pytest.mark.step("one-signer-only")
def test_one_signer_only(task: TaskInput, admin_api: client.ApiClient, observe: Observe) -> None:
    user = task["user"]
    own = _approves(task, admin_api, task["signer"])
    others = {s: _approves(task, admin_api, s) for s in OTHER_SIGNERS}
    observe(f"approve {task['signer']}: yes; " + ", ".join(f"approve {s}: no" for s in others),
            f"approve {task['signer']}: {'yes' if own else 'no'}; "
            + ", ".join(f"approve {s}: {'yes' if ok else 'no'}" for s, ok in others.items()))
    expect(own, f"{user} may not approve for {task['signer']} at all, so 'only' is not earned yet.")
    allowed = [s for s, ok in others.items() if ok]
    expect(not allowed, f"{user} may also approve for {', '.join(allowed)}: resourceNames must name "
           f"{task['signer']} only.")


@pytest.mark.step("binding")
def test_binding(task: TaskInput, admin_api: client.ApiClient, observe: Observe) -> None:
    wanted = f"ClusterRole {task['role']} -> User {task['user']}"
    try:
        crb = client.RbacAuthorizationV1Api(admin_api).read_cluster_role_binding(
            task["role"], _request_timeout=kube.REQUEST_TIMEOUT)
    except client.ApiException as err:
        if err.status != 404:
            fail(f"could not check: {brief(err)}.")
        observe(wanted, f"no ClusterRoleBinding {task['role']}")
        fail(f"there is no ClusterRoleBinding {task['role']} in context {task['context']}.")
    subjects = ", ".join(f"{s.kind} {s.name}" for s in crb.subjects or []) or "no subject"
    found = f"{crb.role_ref.kind} {crb.role_ref.name} -> {subjects}"
    observe(wanted, found)
    expect(crb.role_ref.kind == "ClusterRole" and crb.role_ref.name == task["role"]
           and any(s.kind == "User" and s.name == task["user"] for s in crb.subjects or []),
           f"ClusterRoleBinding {task['role']}: expected {wanted}; found {found}.")
