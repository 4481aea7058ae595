"""Graders of the exam task node-join-csr: the joining kubelet's client CSR issued, the forged one denied."""

from __future__ import annotations

from typing import Callable

import pytest
from kubernetes import client

from graders import audit, kube
from graders.exam import look
from graders.exam.inputs import TaskInput
from graders.expect import expect

Observe = Callable[[object, object], None]


def _state(api: client.ApiClient, trail: audit.Trail | audit.Unavailable, name: str) -> tuple[str, look.CsrSeen]:
    """What became of the CSR ``name``: missing, pending, denied, issued, or approved and Failed (the signer's why)."""
    seen = look.csr(api, trail, name)
    if not seen.exists:
        return "missing", seen
    if seen.denied:
        return "denied", seen
    if not seen.approved:
        return "pending", seen
    if seen.certificate:
        return "issued", seen
    obj = kube.csr_or_fail(api, name) if seen.source == "the cluster" else None
    failed = kube.true_conditions(obj).get("Failed") if obj is not None else None
    return (f"approved, Failed ({failed.message})" if failed else "approved, not issued"), seen


@pytest.mark.step("legitimate-approved")
def test_legitimate_approved(task: TaskInput, admin_api: client.ApiClient,
                             trail: audit.Trail | audit.Unavailable, observe: Observe) -> None:
    state, seen = _state(admin_api, trail, task["legit"])
    observe(f"{task['legit']}: issued", f"{task['legit']}: {state}")
    expect(state == "issued", f"{task['legit']} ({seen.subject or 'its request'}, the joining node's own "
           f"request) is {state}.", f"kubectl certificate approve {task['legit']}")


@pytest.mark.step("forged-denied")
def test_forged_denied(task: TaskInput, admin_api: client.ApiClient,
                       trail: audit.Trail | audit.Unavailable, observe: Observe) -> None:
    state, seen = _state(admin_api, trail, task["forged"])
    observe(f"{task['forged']}: denied", f"{task['forged']}: {state}")
    expect(state == "denied" and seen.certificate is None,
           f"{task['forged']} ({seen.subject or 'its request'}) is {state}: it does not ask for exactly "
           f"system:node:{task['joining']} in system:nodes with token {task['token']}.")
