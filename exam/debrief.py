"""The exam's debrief: from each task's score report to the score, the pass line and the lessons. Pure code.

Input: the attempt and, per task, what grading found (``Graded``): the score plugin's report
of the task in its own context, and, when it earned less there, the context where its work was
found instead. Output: ``DebriefJson``, the document ``ckslab exam submit --json`` writes (the
issue's shape, plus the texts the terminal and the HTML page show), and its JUnit XML and HTML
renderings. A task whose setup failed is out of the maximum; a task whose cluster did not answer
earns 0 and says so. Each task's ``seconds`` is the time spent on it as its context's audit log
shows it (exam.timing, whose ``MEASURE`` the debrief states), None when unknown.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any, Mapping, TypedDict
from xml.etree import ElementTree as ET

from exam import bank, timing
from exam.attempt import PASS_PERCENT, Attempt, TaskAttempt

GRADED, SETUP_FAILED, CLUSTER_DOWN = "graded", "setup-failed", "cluster-down"


@dataclass(frozen=True)
class Graded:
    """What grading found for one task."""

    #: The score plugin's report in the task's context (graders.scoring.ReportJson), None if not graded.
    report: dict[str, Any] | None
    #: Why it could not be graded ("" when it was).
    problem: str = ""
    #: Another context where the task's work earned more, and that report's score.
    found_in: str = ""
    found_score: int = 0


class CheckJson(TypedDict):
    name: str
    passed: bool
    points: int
    #: What the check is worth (``points`` is what it earned).
    max_points: int
    expected: str
    observed: str
    message: str


class TaskJson(TypedDict):
    id: str
    title: str
    weight: int
    context: str
    #: Whether the candidate flagged the task during the exam.
    flagged: bool
    status: str
    score: int
    max_score: int
    #: Seconds spent on it (exam.timing.MEASURE says how it is measured); None when unknown.
    seconds: int | None
    checks: list[CheckJson]
    note: str
    statement: str
    explanation: str
    solution: str
    docs: str
    lab: str


class DebriefJson(TypedDict):
    seed: int
    score: int
    max_score: int
    percent: float
    passed: bool
    pass_percent: int
    started: str
    submitted: str
    #: What each task's ``seconds`` measures (exam.timing.MEASURE).
    time_measure: str
    tasks: list[TaskJson]


def task_json(drawn: TaskAttempt, graded: Graded | None, seconds: int | None = None) -> TaskJson:
    task = bank.load(drawn.id)
    shown = task.rendered(drawn.values)
    checks: list[CheckJson] = []
    status, note = GRADED, ""
    if drawn.setup_error:
        status, note = SETUP_FAILED, f"left out: its setup failed ({drawn.setup_error}); not counted in the maximum."
    elif graded is None or graded.report is None:
        status = CLUSTER_DOWN
        note = graded.problem if graded else "not graded."
    steps = {s["id"]: s for s in (graded.report or {}).get("steps", [])} if graded else {}
    for check in shown.checks:
        step = steps.get(check.name)
        passed = bool(step and step["passed"])
        checks.append(CheckJson(name=check.name, passed=passed, points=check.points if passed else 0,
                                max_points=check.points,
                                expected=str(step.get("expected", check.title)) if step else check.title,
                                observed=str(step.get("observed", "")) if step else "not graded",
                                message=str(step["message"]) if step else note))
    score = sum(c["points"] for c in checks) if status == GRADED else 0
    if graded and graded.found_in:
        note = (f"work for this task was found in context {graded.found_in} (it would earn {graded.found_score}"
                f"/{task.max_score} there), not in {drawn.context}: work in another context earns nothing.")
    return TaskJson(id=task.id, title=shown.title, weight=task.weight, context=drawn.context,
                    flagged=drawn.flagged, status=status, seconds=seconds,
                    score=score, max_score=task.max_score, checks=checks, note=note, statement=shown.statement,
                    explanation=shown.explanation, solution=task.script("solution.sh", drawn.values),
                    docs=task.docs, lab=task.lab)


def build(attempt: Attempt, graded: dict[str, Graded], submitted: str,
          seconds: Mapping[str, int | None] | None = None) -> DebriefJson:
    """The debrief of ``attempt`` from ``graded`` and the ``seconds`` spent on each task (by task id)."""
    tasks = [task_json(t, graded.get(t.id), (seconds or {}).get(t.id)) for t in attempt.tasks]
    counted = [t for t in tasks if t["status"] != SETUP_FAILED]
    score, max_score = sum(t["score"] for t in counted), sum(t["max_score"] for t in counted)
    percent = round(100 * score / max_score, 1) if max_score else 0.0
    return DebriefJson(seed=attempt.seed, score=score, max_score=max_score, percent=percent,
                       passed=max_score > 0 and percent >= PASS_PERCENT, pass_percent=PASS_PERCENT,
                       started=attempt.started, submitted=submitted, time_measure=timing.MEASURE, tasks=tasks)


def junit(debrief: DebriefJson) -> str:
    """The debrief as JUnit XML: a test suite per task, a test case per check."""
    suites = ET.Element("testsuites", name=f"ckslab exam seed {debrief['seed']}")
    for task in debrief["tasks"]:
        failures = sum(not c["passed"] for c in task["checks"])
        suite = ET.SubElement(suites, "testsuite", name=task["id"], tests=str(len(task["checks"])),
                              failures=str(failures))
        for check in task["checks"]:
            case = ET.SubElement(suite, "testcase", classname=task["id"], name=check["name"])
            if task["status"] == SETUP_FAILED:
                ET.SubElement(case, "skipped", message=task["note"])
            elif not check["passed"]:
                failure = ET.SubElement(case, "failure", message=check["message"])
                failure.text = f"expected: {check['expected']}\nobserved: {check['observed']}"
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def html_page(debrief: DebriefJson) -> str:
    """The debrief as one self-contained HTML page (no script, no external file)."""
    e = html.escape
    verdict = "passed" if debrief["passed"] else "not passed"
    parts = [f"<!doctype html><html lang=en><head><meta charset=utf-8><title>ckslab exam debrief</title>"
             "<style>body{font-family:sans-serif;max-width:70em;margin:auto}td,th{border:1px solid #ccc;"
             "padding:.3em;vertical-align:top}table{border-collapse:collapse}.ok{color:#060}.no{color:#a00}"
             "pre{background:#f4f4f4;padding:.5em;overflow:auto}</style></head><body>",
             f"<h1>Exam debrief: {debrief['score']}/{debrief['max_score']} ({debrief['percent']} %), {verdict}</h1>",
             f"<p>Seed {debrief['seed']}; pass line {debrief['pass_percent']} %; started {e(debrief['started'])}, "
             f"graded {e(debrief['submitted'])}.</p>",
             f"<p>Time per task: {e(debrief.get('time_measure', timing.MEASURE))}.</p>"]
    for i, t in enumerate(debrief["tasks"], 1):
        flag = " &#9873; flagged" if t["flagged"] else ""
        parts.append(f"<h2>{i}. {e(t['title'])} ({t['score']}/{t['max_score']}, context {e(t['context'])}){flag}</h2>"
                     f"<p class=time>Time spent: {e(timing.spoken(t.get('seconds')))}</p>")
        if t["note"]:
            parts.append(f"<p><b>{e(t['note'])}</b></p>")
        parts.append(f"<pre>{e(t['statement'])}</pre><table><tr><th>check</th><th>points</th><th>expected</th>"
                     "<th>observed</th><th>why</th></tr>")
        for c in t["checks"]:
            cls = "ok" if c["passed"] else "no"
            why = "" if c["passed"] else c["message"]
            parts.append(f"<tr class={cls}><td>{e(c['name'])}</td><td>{c['points']}/{c['max_points']}</td>"
                         f"<td>{e(c['expected'])}</td><td>{e(c['observed'])}</td><td>{e(why)}</td></tr>")
        parts.append(f"</table><h3>Explanation</h3><p>{e(t['explanation'])}</p><h3>Reference solution</h3>"
                     f"<pre>{e(t['solution'])}</pre><p>Docs: <a href=\"{e(t['docs'])}\">{e(t['docs'])}</a>. "
                     f"Lab to revisit: <code>ckslab start {e(t['lab'])}</code>.</p>")
    parts.append("</body></html>\n")
    return "".join(parts)


@dataclass(frozen=True)
class View:
    """A debrief for IPython's display protocol: the HTML page in JupyterLab, one line elsewhere."""

    debrief: DebriefJson

    def _repr_html_(self) -> str:
        return html_page(self.debrief).split("<body>", 1)[1].rsplit("</body>", 1)[0]

    def __repr__(self) -> str:
        d = self.debrief
        return (f"exam seed {d['seed']}: {d['score']}/{d['max_score']} = {d['percent']} % "
                f"({'passed' if d['passed'] else 'not passed'}; pass line {d['pass_percent']} %)")
