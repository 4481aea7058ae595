"""Graders of the exam task cut-access, asked of the authorizer as the leaked certificate is seen."""

from __future__ import annotations

from typing import Callable

import pytest
from kubernetes import client

from graders.exam import look
from graders.exam.inputs import TaskInput
from graders.expect import expect

Observe = Callable[[object, object], None]


def _leaked_reads(task: TaskInput, api: client.ApiClient) -> bool:
    groups = [task["group"], "system:authenticated"]  # what the API server sees for CN=leaked, O=group
    return look.can(api, task["leaked"], groups, "get", "secrets", namespace=task["ns"])


@pytest.mark.step("leaked-denied")
def test_leaked_denied(task: TaskInput, admin_api: client.ApiClient, observe: Observe) -> None:
    reads = _leaked_reads(task, admin_api)
    observe(f"CN={task['leaked']}, O={task['group']} get secrets: no", f"get secrets: {'yes' if reads else 'no'}")
    expect(not reads, f"the leaked certificate (CN={task['leaked']}, O={task['group']}) still reads secrets in "
           f"{task['ns']}: its user and its group are both bound.")


@pytest.mark.step("others-kept")
def test_others_kept(task: TaskInput, admin_api: client.ApiClient, observe: Observe) -> None:
    keep = look.can(admin_api, task["keep"], ["system:authenticated"], "get", "secrets", namespace=task["ns"])
    cut = not _leaked_reads(task, admin_api)
    observe(f"{task['keep']}: yes, leaked: no", f"{task['keep']}: {'yes' if keep else 'no'}, leaked: {'no' if cut else 'yes'}")
    expect(cut, f"the leaked certificate still reads secrets in {task['ns']}, so nothing is cut yet.")
    expect(keep, f"{task['keep']} can no longer read secrets in {task['ns']}: cut the leaked subject only.")
