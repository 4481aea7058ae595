"""What the exam's cluster test modules share: one exam started for the module, its attempt, the other context.

Each module starts its own exam of only its tasks (`Session.start(..., only=...)`) under a root of its
own (``CKSLAB_ROOT``), and brings every context the exam may have started down at the end, also when a
test failed half-way.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Sequence

import pytest

from cluster.paths import LabPaths
from exam import attempt as attempts
from exam import clusters
from exam import session as session_module
from exam.attempt import Attempt
from exam.session import Session


@contextmanager
def started_exam(tmp_path_factory: pytest.TempPathFactory, name: str, seed: int, only: Sequence[str],
                 script_timeout: int | None = None) -> Iterator[Session]:
    """An exam of the tasks ``only`` drawn with ``seed`` (120 minutes, not practice), set up and started.

    ``script_timeout``: seconds each setup or solution script may take, where the module runs several
    at once (the session's own limit otherwise). Every known context is brought down on exit.
    """
    root = tmp_path_factory.mktemp(name)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CKSLAB_ROOT", str(root))
        if script_timeout is not None:
            mp.setattr(session_module, "SCRIPT_TIMEOUT", script_timeout)
        session = Session(LabPaths(root))
        try:
            session.start(seed, None, 120, False, lambda _m: None, only=tuple(only))
            yield session
        finally:
            clusters.down(session.project, attempts.KNOWN_CONTEXTS, lambda _m: None)


def loaded(exam: Session) -> Attempt:
    """The exam's attempt as it is on disk (fails the test when there is none)."""
    found = exam.load()
    assert found is not None
    return found


def other_context(context: str) -> str:
    """The shared context that is not ``context`` (cks-a for cks-b and the other way round)."""
    return next(c for c in attempts.CONTEXTS if c != context)
