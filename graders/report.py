"""The score report: one type from the score plugin to the terminal, the notebook, the class and progress.

Frozen dataclasses. ``Report.to_json`` is the exact document ``ckslab grade --json`` writes (and the
plugin writes for the runner); ``Report.from_json`` reads it back. A report shows itself through
IPython's display protocol (``_repr_html_``, with ``str`` as the plain-text fallback): in a notebook
a list of blocks, not a table, so it reads at any width; the verdict a badge of white text on dark
green or dark red (contrast above 7:1; WCAG AA asks 4.5:1), the hint only for a step that fails.
``ckslab grade`` in a terminal prints it as a table (``graders/cli.py``). Pure code.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any, Mapping, NotRequired, TypedDict

#: Badge colours: white text on these reads at 7.4:1 (pass) and 7.9:1 (fail).
PASS_COLOUR = "#116329"
FAIL_COLOUR = "#a40e26"


class StepJson(TypedDict):
    id: str
    title: str
    passed: bool
    points: int
    max_points: int
    message: str
    hint: str
    #: Only in the reports of graders that record them (the exam's ``observe``): the labs' shape is unchanged.
    expected: NotRequired[str]
    observed: NotRequired[str]


class ReportJson(TypedDict):
    lab: str
    score: int
    max_score: int
    passed: bool
    steps: list[StepJson]


@dataclass(frozen=True)
class StepResult:
    """One graded step: all its points or none, the first failure's message and hint (or its success)."""

    id: str
    title: str
    passed: bool
    points: int
    max_points: int
    message: str
    hint: str
    #: What the check expected and found, when its grader recorded them (the exam's ``observe`` fixture).
    expected: str = ""
    observed: str = ""

    def to_json(self) -> StepJson:
        doc = StepJson(id=self.id, title=self.title, passed=self.passed, points=self.points,
                       max_points=self.max_points, message=self.message, hint=self.hint)
        if self.expected or self.observed:
            doc["expected"], doc["observed"] = self.expected, self.observed
        return doc

    @classmethod
    def from_json(cls, step: Mapping[str, Any]) -> StepResult:
        """The step of a report document; KeyError, TypeError or ValueError when it is not one."""
        return cls(id=str(step["id"]), title=str(step.get("title", "")), passed=bool(step["passed"]),
                   points=int(step.get("points", 0)), max_points=int(step.get("max_points", 0)),
                   message=str(step.get("message", "")), hint=str(step.get("hint", "")),
                   expected=str(step.get("expected", "")), observed=str(step.get("observed", "")))

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


@dataclass(frozen=True, repr=False)
class Report:
    """A lab's graded steps, in the lab's order; the score is their points.

    ``whole`` says how it shows itself: the whole lab with its score (``ckslab grade``,
    ``lab.grade``), or only the steps checked (``lab.check``). It is not part of the JSON.
    """

    lab: str
    steps: tuple[StepResult, ...]
    whole: bool = field(default=True, compare=False)

    @property
    def score(self) -> int:
        return sum(s.points for s in self.steps)

    @property
    def max_score(self) -> int:
        return sum(s.max_points for s in self.steps)

    @property
    def passed(self) -> bool:
        return all(s.passed for s in self.steps)

    def failing(self) -> StepResult | None:
        """The first step that fails, or None when every step passes."""
        return next((s for s in self.steps if not s.passed), None)

    def step(self, step_id: str) -> StepResult:
        """The step ``step_id``; KeyError when the report has none."""
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)

    def progress(self) -> dict[str, object]:
        """What a learner's progress record keeps of a whole grade (``labs.engine.record``)."""
        return {"score": self.score, "max_score": self.max_score}

    def to_json(self) -> ReportJson:
        return {"lab": self.lab, "score": self.score, "max_score": self.max_score, "passed": self.passed,
                "steps": [s.to_json() for s in self.steps]}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any], *, whole: bool = True) -> Report:
        """The report of ``doc`` (what :meth:`to_json` wrote); ValueError when it is not one."""
        try:
            return cls(str(doc["lab"]), tuple(StepResult.from_json(s) for s in doc["steps"]), whole)
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"not a score report ({err!r})") from err

    # --- how it shows itself --------------------------------------------------------------

    def verdict(self) -> str:
        """"every step passes", or "N of M steps still fail" (one wording for the notebook and `ckslab grade`)."""
        failing = sum(not s.passed for s in self.steps)
        return "every step passes" if not failing else f"{failing} of {len(self.steps)} steps still fail"

    def summary(self) -> str:
        return f"Score: {self.score}/{self.max_score}, {self.verdict()}."

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


def _e(text: str) -> str:
    return html.escape(text, quote=True)
