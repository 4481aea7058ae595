"""Graders of the exam task group-access, asked of the authorizer (SubjectAccessReviews)."""

from __future__ import annotations

from typing import Callable

import pytest
from kubernetes import client

from graders.exam import look
from graders.exam.inputs import TaskInput
from graders.expect import expect

Observe = Callable[[object, object], None]
#: A member nobody named: the access must reach anyone with the group in O.
NEWCOMER = "exam-newcomer"


def _member(task: TaskInput) -> list[str]:
    return [task["group"], "system:authenticated"]


def _reads(task: TaskInput, api: client.ApiClient, user: str, groups: list[str]) -> dict[str, bool]:
    return {verb: look.can(api, user, groups, verb, "pods", namespace=task["ns"]) for verb in ("get", "list", "watch")}


def _yes(answers: dict[str, bool]) -> str:
    return ", ".join(f"{k}: {'yes' if v else 'no'}" for k, v in answers.items())


@pytest.mark.step("group-reads")
def test_group_reads(task: TaskInput, admin_api: client.ApiClient, observe: Observe) -> None:
    answers = _reads(task, admin_api, NEWCOMER, _member(task))
    observe("get: yes, list: yes, watch: yes", _yes(answers))
    expect(all(answers.values()), f"a member of {task['group']} may not {', '.join(k for k, v in answers.items() if not v)}"
           f" pods in {task['ns']}.")


@pytest.mark.step("through-group")
def test_through_group(task: TaskInput, admin_api: client.ApiClient, observe: Observe) -> None:
    as_member = all(_reads(task, admin_api, NEWCOMER, _member(task)).values())
    alone = _reads(task, admin_api, task["member"], ["system:authenticated"])
    observe(f"with O={task['group']}: yes; {task['member']} without it: no",
            f"with O={task['group']}: {'yes' if as_member else 'no'}; {task['member']} without it: "
            f"{'yes' if any(alone.values()) else 'no'}")
    expect(as_member, f"the group {task['group']} has no pod read access in {task['ns']} yet.")
    expect(not any(alone.values()), f"{task['member']} reads pods in {task['ns']} without the group: bind the "
           "Group, not users one by one.")


@pytest.mark.step("nothing-else")
def test_nothing_else(task: TaskInput, admin_api: client.ApiClient, observe: Observe) -> None:
    groups = _member(task)
    extra = {"delete pods": look.can(admin_api, NEWCOMER, groups, "delete", "pods", namespace=task["ns"]),
             "get secrets": look.can(admin_api, NEWCOMER, groups, "get", "secrets", namespace=task["ns"]),
             "list pods in default": look.can(admin_api, NEWCOMER, groups, "list", "pods", namespace="default")}
    granted = all(_reads(task, admin_api, NEWCOMER, groups).values())
    # The same keys on both sides, so that a passed check reads as agreeing and a failed one shows where.
    observe("pod reads: yes; " + ", ".join(f"{k}: no" for k in extra),
            f"pod reads: {'yes' if granted else 'no'}; " + _yes(extra))
    expect(granted, f"the group {task['group']} has no pod read access in {task['ns']} yet.")
    expect(not any(extra.values()), f"the group {task['group']} may also: "
           f"{', '.join(k for k, v in extra.items() if v)}.")
