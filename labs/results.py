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

__all__ = ["ERROR_COLOUR", "FAIL_COLOUR", "PASS_COLOUR", "Notice", "PracticeQuestion", "PracticeVerdict", "Report",
           "StepResult"]

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


@dataclass(frozen=True)
class PracticeQuestion:
    """A practice question as the learner sees it: its number and text."""

    number: int
    total: int
    text: str

    def __repr__(self) -> str:
        return f"Question {self.number} of {self.total}: {' '.join(self.text.split())}"

    def _repr_html_(self) -> str:
        return (f'<div class="ckslab-practice-question" style="border-left:4px solid #0969da;padding:.3em .8em;'
                f'margin:.3em 0;overflow-wrap:break-word"><b>Question {self.number} of {self.total}</b><br>'
                f'{_e(" ".join(self.text.split()))}</div>')


@dataclass(frozen=True)
class PracticeVerdict:
    """A practice answer checked against the cluster: right or wrong, what the cluster says, and why."""

    number: int
    question: str
    given: str
    expected: str
    right: bool
    explanation: str
    docs: str = ""

    @property
    def verdict(self) -> str:
        return "Right" if self.right else "Wrong"

    def __repr__(self) -> str:
        lines = [f"[{self.verdict.upper()}] Question {self.number}: you answered {self.given!r}; "
                 f"the cluster says {self.expected!r}.", " ".join(self.explanation.split())]
        if self.docs:
            lines.append(f"Docs: {self.docs}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        colour = PASS_COLOUR if self.right else FAIL_COLOUR
        docs = (f'<br><a href="{_e(self.docs)}" target="_blank" rel="noopener">{_e(self.docs)}</a>'
                if self.docs else "")
        return (f'<div class="ckslab-practice-verdict" style="border-left:4px solid {colour};padding:.3em .8em;'
                f'margin:.3em 0;overflow-wrap:break-word"><b style="color:{colour}">{self.verdict}</b> '
                f'&mdash; question {self.number}: you answered <code>{_e(self.given)}</code>; the cluster says '
                f'<code>{_e(self.expected)}</code>.<br>{_e(" ".join(self.explanation.split()))}{docs}</div>')
