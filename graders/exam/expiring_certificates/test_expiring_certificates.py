"""Graders of the exam task expiring-certificates: the users listed against the certificates the cluster
really issued (status.certificate decoded, or the audit log's copy once the CSR is gone), at grading time."""

from __future__ import annotations

import datetime as dt
from typing import Callable

import pytest
from cryptography import x509
from kubernetes import client

from graders import audit
from graders.exam import look
from graders.exam.inputs import TaskInput
from graders.expect import expect, fail

Observe = Callable[[object, object], None]
USERS = ("soon1", "soon2", "later1", "later2", "refused")


def _expiring(task: TaskInput, api: client.ApiClient, trail: audit.Trail | audit.Unavailable,
              observe: Observe) -> set[str]:
    """The task's users whose issued certificate's notAfter is within ``hours`` hours of now."""
    deadline = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=int(task["hours"]))
    seen = [look.csr(api, trail, task[u]) for u in USERS]
    if not any(s.exists for s in seen):
        observe("the CSRs " + task["names"], f"none of them in context {task['context']}")
        fail(f"none of the CSRs {task['names']} is in context {task['context']} (or its audit log).")
    return {s.name for s in seen if s.certificate
            and x509.load_pem_x509_certificate(s.certificate).not_valid_after_utc <= deadline}


def _written(task: TaskInput, wanted: str, observe: Observe) -> list[str]:
    path = task.path("file")
    if not path.is_file():
        observe(wanted, f"no file {task['file']}")
        fail(f"{task['file']} does not exist.")
    return [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]


@pytest.mark.step("listed")
def test_listed(task: TaskInput, admin_api: client.ApiClient, trail: audit.Trail | audit.Unavailable,
                observe: Observe) -> None:
    truth = _expiring(task, admin_api, trail, observe)
    wanted = ", ".join(sorted(truth))
    written = _written(task, wanted, observe)
    missing = sorted(truth - set(written))
    listed = ", ".join(sorted(set(written) & truth)) or "none of them"
    observe(wanted, listed + (f" (missing {', '.join(missing)})" if missing else ""))
    expect(not missing, f"{task['file']} does not list {', '.join(missing)}, whose certificate expires within "
           f"{task['hours']} hours.")


@pytest.mark.step("nothing-else")
def test_nothing_else(task: TaskInput, admin_api: client.ApiClient, trail: audit.Trail | audit.Unavailable,
                      observe: Observe) -> None:
    truth = _expiring(task, admin_api, trail, observe)
    wanted = f"only {', '.join(sorted(truth))}"
    written = _written(task, wanted, observe)
    extra = sorted(set(written) - truth)
    observe(wanted, f"only {', '.join(sorted(set(written)))}" if not extra and written else
            f"also {', '.join(extra)}" if extra else "an empty file")
    expect(written and not extra, f"{task['file']} lists {', '.join(extra)}: no certificate of theirs expires "
           f"within {task['hours']} hours (a denied request has none)." if extra else f"{task['file']} is empty.")
