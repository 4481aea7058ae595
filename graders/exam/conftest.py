"""Fixtures of every exam task's graders: the task's drawn values (graders.exam.inputs).

The shared fixtures (``admin_api``, ``cluster_ca``, ``trail``) come from graders/conftest.py:
the runner points $KUBECONFIG at the admin kubeconfig of the cluster being graded, which is the
task's context's cluster, or another one when it looks for work done in the wrong context.
"""

from __future__ import annotations

import pytest

from graders.exam import inputs


@pytest.fixture(scope="session")
def task() -> inputs.TaskInput:
    """The graded task's id, drawn values and workspace."""
    return inputs.read()
