"""From the outcome of each grader test to the lab's score report. Pure code.

A step passes only when every one of its tests passed, and earns all of its points or none.
Its message is the first failing test's (tests run in lab order, file order within a step), or
the step's success message, or a note a passing test left (e.g. "the CSR was garbage-collected,
which is normal"). The report is ``graders.report.Report``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from graders.report import Report, StepResult
from labs.catalog import Lab

NO_TESTS = "could not check: no grader ran for this step (see the pytest output)."


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one grader test (setup, call and teardown together)."""

    step: str
    passed: bool
    message: str = ""
    hint: str = ""
    note: str = ""
    #: What the check expected and found, when its grader recorded them (the ``observe`` fixture).
    expected: str = ""
    observed: str = ""


def score(lab: Lab, results: Sequence[CheckResult], only_step: str | None = None) -> Report:
    """The report of ``lab`` (only of ``only_step`` when given) from its tests' ``results``."""
    steps = [s for s in lab.steps if only_step is None or s.id == only_step]
    graded = []
    for step in steps:
        mine = [r for r in results if r.step == step.id]
        failed = next((r for r in mine if not r.passed), None)
        seen = next((r for r in mine if r.expected or r.observed), CheckResult(step.id, True))
        if not mine:
            graded.append(StepResult(step.id, step.title, False, 0, step.points, NO_TESTS, step.hint))
        elif failed is not None:
            graded.append(StepResult(step.id, step.title, False, 0, step.points,
                                     failed.message, failed.hint or step.hint, seen.expected, seen.observed))
        else:
            note = next((r.note for r in mine if r.note), "")
            graded.append(StepResult(step.id, step.title, True, step.points, step.points,
                                     note or step.success, "", seen.expected, seen.observed))
    return Report(lab.id, tuple(graded), whole=only_step is None)
