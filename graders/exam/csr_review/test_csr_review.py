"""Graders of the exam task csr-review: the legitimate CSRs issued, the one asking for more denied."""

from __future__ import annotations

from typing import Callable

import pytest
from kubernetes import client

from graders import audit
from graders.exam import look
from graders.exam.inputs import TaskInput
from graders.expect import expect

Observe = Callable[[object, object], None]


def _state(seen: look.CsrSeen) -> str:
    if not seen.exists:
        return "missing"
    if seen.denied:
        return "denied"
    if seen.approved:
        return "issued" if seen.certificate else "approved, not issued"
    return "pending"


@pytest.mark.step("legitimate-approved")
def test_legitimate_approved(task: TaskInput, admin_api: client.ApiClient,
                             trail: audit.Trail | audit.Unavailable, observe: Observe) -> None:
    names = [task["good1"], task["good2"]]
    found = {n: _state(look.csr(admin_api, trail, n)) for n in sorted(names)}
    observe(", ".join(f"{n}: issued" for n in sorted(names)), ", ".join(f"{n}: {s}" for n, s in found.items()))
    expect(all(s == "issued" for s in found.values()),
           "not every legitimate request is issued: " + ", ".join(f"{n} {s}" for n, s in found.items()) + ".")


@pytest.mark.step("decoy-denied")
def test_decoy_denied(task: TaskInput, admin_api: client.ApiClient,
                      trail: audit.Trail | audit.Unavailable, observe: Observe) -> None:
    seen = look.csr(admin_api, trail, task["decoy"])
    state = _state(seen)
    observe(f"{task['decoy']}: denied", f"{task['decoy']}: {state}")
    expect(state == "denied" and seen.certificate is None,
           f"{task['decoy']} ({seen.subject or 'its request'}) is {state}: it asks for more than "
           f"{task['decoy']} in {task['team']}.")
