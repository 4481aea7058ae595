"""Fixtures of every exam task's graders: the task's drawn values (graders.exam.inputs).

The shared fixtures (``admin_api``, ``cluster_ca``, ``trail``) come from graders/conftest.py:
the runner points $KUBECONFIG at the admin kubeconfig of the cluster being graded, which is the
task's context's cluster, or another one when it looks for work done in the wrong context.
One pytest process grades every task of a context, so ``task`` is per module (each task's graders
are modules of its own folder): a fixture that uses it must not be session-scoped.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from graders.exam import inputs


@pytest.fixture(scope="module")
def task(request: pytest.FixtureRequest) -> inputs.TaskInput:
    """The graded task's id, drawn values and workspace: the task whose graders folder this module is in."""
    given = request.config.getoption("ckslab_exam_task", None)  # the score plugin's option, else $CKSLAB_EXAM_TASK
    return inputs.read(Path(given) if given else None, graders=Path(request.path))
