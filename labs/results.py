"""How a check or a grade shows itself in a notebook. Pure code: no I/O.

A grade or a check is the one score report type, ``graders.report.Report``, which shows itself
through IPython's display protocol (``_repr_html_`` where a browser renders it, plain text
everywhere else). This module adds the :class:`Notice`: a message that is not a grade (cannot
grade, a skipped cell, a fix made), shown the same way.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from graders.report import FAIL_COLOUR, PASS_COLOUR, Report, StepResult

__all__ = ["ERROR_COLOUR", "FAIL_COLOUR", "PASS_COLOUR", "Notice", "Report", "StepResult"]

#: A result that could not be graded at all (no cluster...): neutral, dark grey.
ERROR_COLOUR = "#57606a"


@dataclass(frozen=True)
class Notice:
    """A short message for the learner that is not a grade: cannot grade, a skipped cell, a fix made."""

    text: str
    colour: str = ERROR_COLOUR

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        return (f'<div class="ckslab-notice" style="border-left:4px solid {self.colour};padding:.2em .7em;'
                f'margin:.2em 0;overflow-wrap:break-word">{_e(self.text)}</div>')


def _e(text: str) -> str:
    return html.escape(text, quote=True)
