"""How a check or a grade shows itself in a notebook. Pure code: no I/O.

One object per result, shown through IPython's display protocol: ``_repr_html_`` where a browser
renders it (JupyterLab), plain text everywhere else (``nbclient``, a console, a log). The HTML is
a list of blocks, not a table, so it reads at any width without breaking words; the verdict is a
badge of white text on dark green or dark red (contrast above 7:1; WCAG AA asks 4.5:1), the rest
in the theme's own text colour. The hint shows only for a step that fails. ``ckslab grade`` in a
terminal keeps its table (``graders/cli.py``).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

#: Badge colours: white text on these reads at 7.4:1 (pass) and 7.9:1 (fail).
PASS_COLOUR = "#116329"
FAIL_COLOUR = "#a40e26"
#: A result that could not be graded at all (no cluster...): neutral, dark grey.
ERROR_COLOUR = "#57606a"


@dataclass(frozen=True)
class StepResult:
    """One graded step, as the score report has it (``graders/plugin.py``)."""

    id: str
    title: str
    passed: bool
    points: int
    max_points: int
    message: str
    hint: str

    @classmethod
    def from_report(cls, step: dict[str, Any]) -> StepResult:
        return cls(id=str(step["id"]), title=str(step.get("title", "")), passed=bool(step["passed"]),
                   points=int(step.get("points", 0)), max_points=int(step.get("max_points", 0)),
                   message=str(step.get("message", "")), hint=str(step.get("hint", "")))

    def text(self) -> str:
        mark = "PASS" if self.passed else "FAIL"
        lines = [f"[{mark}] {self.id} ({self.points}/{self.max_points}): {self.message}"]
        if not self.passed and self.hint:
            lines.append(f"       hint: {self.hint}")
        return "\n".join(lines)

    def html(self) -> str:
        colour, mark = (PASS_COLOUR, "PASS") if self.passed else (FAIL_COLOUR, "FAIL")
        hint = ""
        if not self.passed and self.hint:
            hint = (f'<div class="ckslab-hint" style="margin-top:.25em"><strong>Hint:</strong> '
                    f'<code style="white-space:pre-wrap;overflow-wrap:break-word">{_e(self.hint)}</code></div>')
        return (
            f'<div class="ckslab-step ckslab-{mark.lower()}" style="border-left:4px solid {colour};'
            f'padding:.2em .7em;margin:.35em 0;overflow-wrap:break-word">'
            f'<div><span class="ckslab-verdict" style="background:{colour};color:#fff;font-weight:700;'
            f'padding:0 .45em;border-radius:3px">{mark}</span> <strong>{_e(self.id)}</strong>'
            f' <span class="ckslab-points">{self.points}/{self.max_points}</span>'
            + (f' <span class="ckslab-title">— {_e(self.title)}</span>' if self.title else "")
            + f'</div><div class="ckslab-message" style="margin-top:.2em">{_e(self.message)}</div>{hint}</div>'
        )


@dataclass(frozen=True)
class Report:
    """The result of ``lab.check`` (one step) or ``lab.grade`` (``whole``: every step and the score)."""

    lab: str
    steps: tuple[StepResult, ...]
    score: int
    max_score: int
    whole: bool

    @classmethod
    def from_report(cls, report: dict[str, Any], *, whole: bool) -> Report:
        steps = tuple(StepResult.from_report(s) for s in report.get("steps", []))
        return cls(lab=str(report.get("lab", "")), steps=steps, score=int(report.get("score", 0)),
                   max_score=int(report.get("max_score", 0)), whole=whole)

    @property
    def passed(self) -> bool:
        return bool(self.steps) and all(s.passed for s in self.steps)

    def summary(self) -> str:
        failing = sum(not s.passed for s in self.steps)
        verdict = "every step passes" if not failing else f"{failing} of {len(self.steps)} steps still fail"
        return f"Score: {self.score}/{self.max_score}, {verdict}."

    def __str__(self) -> str:
        lines = [f"ckslab grade {self.lab}"] if self.whole else []
        lines += [s.text() for s in self.steps]
        if self.whole:
            lines.append(self.summary())
        return "\n".join(lines)

    def __repr__(self) -> str:  # text/plain of the display protocol
        return str(self)

    def _repr_html_(self) -> str:
        label = f"ckslab grade {self.lab}" if self.whole else f"ckslab check {', '.join(s.id for s in self.steps)}"
        head = (f'<div class="ckslab-score" style="font-weight:700;margin-bottom:.2em;padding-left:calc(4px + .7em)">'
                f'{_e(label)}: {_e(self.summary())}</div>') if self.whole else ""
        body = "".join(s.html() for s in self.steps)
        return f'<div class="ckslab-report" role="group" aria-label="{_e(label)}">{head}{body}</div>'


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
