"""Graders of the exam task csr-record: the record matches the CSR's spec, and the CSR is still pending."""

from __future__ import annotations

from typing import Callable

import pytest
from kubernetes import client

from graders import kube
from graders.exam.inputs import TaskInput
from graders.expect import expect, fail

Observe = Callable[[object, object], None]
FIELDS = ("requestor", "groups", "signer", "usages")


def _csr(task: TaskInput, api: client.ApiClient) -> client.V1CertificateSigningRequest:
    csr = kube.csr_or_fail(api, task["csr"])
    if csr is None:
        fail(f"there is no CSR {task['csr']} in context {task['context']} (deleted?).")
    return csr


def _parse(text: str) -> dict[str, str]:
    found = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() in FIELDS:
            found[key.strip().lower()] = value.strip()
    return found


def _normal(field: str, value: str) -> str:
    if field in ("groups", "usages"):
        return ", ".join(sorted(v.strip() for v in value.replace(";", ",").split(",") if v.strip()))
    return value.strip()


@pytest.mark.step("record")
def test_record(task: TaskInput, admin_api: client.ApiClient, observe: Observe) -> None:
    csr = _csr(task, admin_api)
    truth = {"requestor": csr.spec.username or "", "groups": ", ".join(sorted(csr.spec.groups or [])),
             "signer": csr.spec.signer_name or "", "usages": ", ".join(sorted(csr.spec.usages or []))}
    wanted = "; ".join(f"{k}: {v}" for k, v in truth.items())
    path = task.path("file")
    if not path.is_file():
        observe(wanted, f"no file {task['file']}")
        fail(f"{task['file']} does not exist.")
    written = _parse(path.read_text(errors="replace"))
    seen = {k: _normal(k, written[k]) if k in written else "(missing)" for k in FIELDS}
    observe(wanted, "; ".join(f"{k}: {v}" for k, v in seen.items()))
    wrong = [k for k in FIELDS if seen[k] != truth[k]]
    expect(not wrong, f"{task['file']}: " + "; ".join(f"{k} is {seen[k]!r}, the CSR says {truth[k]!r}"
                                                       for k in wrong) + ".")


@pytest.mark.step("still-pending")
def test_still_pending(task: TaskInput, admin_api: client.ApiClient, observe: Observe) -> None:
    conditions = kube.true_conditions(_csr(task, admin_api))
    state = ", ".join(conditions) or "pending"
    observe(f"{task['file']} written, {task['csr']} pending", f"{task['file']} "
            + ("written" if task.path("file").is_file() else "missing") + f", {task['csr']} {state}")
    expect(task.path("file").is_file(), f"{task['file']} does not exist: nothing was recorded.")
    expect(not conditions, f"the CSR {task['csr']} is {state}: it was to be left pending.")
