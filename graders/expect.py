"""The one way a grader test fails: with a message for the learner and a command to fix it.

A grader is a plain pytest test, so a failure is an ``AssertionError``; this subclass carries the
two texts the score report shows (``message``: what was found and what was expected; ``hint``:
what to type). The plugin reads them from the exception, so no traceback reaches the learner.
Pure code.
"""

from __future__ import annotations

from typing import NoReturn


class StepFailure(AssertionError):
    """A failed check: ``message`` says what is wrong, ``hint`` how to fix it."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def fail(message: str, hint: str = "") -> NoReturn:
    """Fail the current check with ``message`` and ``hint``."""
    raise StepFailure(message, hint)


def expect(condition: object, message: str, hint: str = "") -> None:
    """Fail with ``message`` and ``hint`` unless ``condition`` holds."""
    if not condition:
        raise StepFailure(message, hint)


def because(failure: StepFailure) -> str:
    """``failure``'s message as a clause: "jane.key is empty." -> "jane.key is empty"."""
    return failure.message.rstrip(". ")


def brief(err: BaseException) -> str:
    """``err`` on one line, short enough for a learner's message."""
    return " ".join(str(err).split())[:160]
