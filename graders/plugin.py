"""The score report: a pytest plugin that turns grader test outcomes into a lab's score.

Modelled on pytest's own junitxml plugin: ``--ckslab-lab`` registers a recorder kept in
``config.stash``, fed by ``pytest_runtest_logreport``, which writes the JSON report once, in
``pytest_sessionfinish``. Tests say which step they grade with ``@pytest.mark.step("id")``; the
recorder runs them in the lab's step order and ``--ckslab-step`` keeps one step only. The
learner never sees a traceback: a ``StepFailure`` gives the message and hint, any other error
becomes "could not check: ...". Load it with ``-p graders.plugin``. It also reads the grading
context the runner wrote (``graders/context.py``, named by ``$CKSLAB_GRADING_CONTEXT``) once, into
``config.stash``, where the ``context`` fixture finds it.

The mock exam's tasks are scored the same way: ``--ckslab-exam-task FILE`` (graders.exam.inputs)
scores the tests as the checks of that task (``Task.as_lab``), and the ``observe`` fixture records
what a check expected and found, which the report then carries as ``expected``/``observed``
(only for graders that record them: the labs' report keeps its shape). A FILE of several tasks
(one pytest process grades every task of a context) gets a ScoreRecorder per task, each fed the
tests of its task's folder (``TaskRecorders``), and the JSON is ``{"reports": [one per task]}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Generator

import pytest

from cluster.errors import CkslabError
from graders.context import GradingContext, from_environment
from graders.expect import StepFailure, fail
from graders.report import Report
from graders.scoring import CheckResult, score
from labs.catalog import Lab, load

STEP_MARKER = "step"
# Keys of the (name, value) pairs the plugin adds to reports' user_properties.
MESSAGE, HINT, NOTE = "ckslab_message", "ckslab_hint", "ckslab_note"
#: What a check expected and what it found (exam graders report both, pass or fail).
EXPECTED, OBSERVED = "ckslab_expected", "ckslab_observed"
#: Longest "could not check" detail kept from an unexpected exception.
MAX_DETAIL = 200


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ckslab", "ckslab score report")
    group.addoption("--ckslab-lab", metavar="ID", help="score the grader tests as the steps of lab ID")
    group.addoption("--ckslab-json", metavar="FILE", help="write the score report to FILE as JSON")
    group.addoption("--ckslab-step", metavar="ID", help="run and report only the step ID")
    group.addoption("--ckslab-exam-task", metavar="FILE",
                    help="score the grader tests as the checks of the exam task FILE names (graders.exam.inputs)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{STEP_MARKER}(id): the lab step a grader test belongs to")
    lab_id, exam_task = config.getoption("ckslab_lab"), config.getoption("ckslab_exam_task")
    json_path, only_step = config.getoption("ckslab_json"), config.getoption("ckslab_step")
    if not lab_id and not exam_task:
        if json_path or only_step:
            raise pytest.UsageError("--ckslab-json and --ckslab-step need --ckslab-lab")
        return
    try:
        context = from_environment()
    except CkslabError as err:
        raise pytest.UsageError(str(err)) from err
    if context is not None:
        config.stash[context_key] = context
    if exam_task:
        if hasattr(config, "workerinput"):
            return
        if _several(Path(exam_task)):
            recorders = TaskRecorders(_exam_labs(Path(exam_task)), Path(json_path) if json_path else None)
            config.stash[tasks_key] = recorders
            config.pluginmanager.register(recorders)
            return
        _record(config, _exam_lab(Path(exam_task)), json_path, only_step)
        return
    if hasattr(config, "workerinput"):  # an xdist worker: the controller writes the report
        return
    try:
        lab = load(lab_id)
        lab = lab.for_user(context.user if context is not None else lab.user)
        if only_step:
            lab.step(only_step)
    except CkslabError as err:
        raise pytest.UsageError(str(err)) from err
    _record(config, lab, json_path, only_step)


def _record(config: pytest.Config, lab: Lab, json_path: str | None, only_step: str | None) -> None:
    recorder = ScoreRecorder(lab, Path(json_path) if json_path else None, only_step)
    config.stash[recorder_key] = recorder
    config.pluginmanager.register(recorder)


def _exam_lab(input_file: Path) -> Lab:
    """The exam task the input file names, as a Lab whose steps are its checks."""
    from exam import bank
    from graders.exam import inputs

    try:
        task = inputs.read(input_file)
        return bank.load(task.id).rendered(task.values).as_lab()
    except (CkslabError, ValueError, KeyError) as err:
        raise pytest.UsageError(f"--ckslab-exam-task {input_file}: {err}") from err


def _several(input_file: Path) -> bool:
    from graders.exam import inputs

    try:
        return inputs.several(input_file)
    except (OSError, ValueError) as err:
        raise pytest.UsageError(f"--ckslab-exam-task {input_file}: {err}") from err


def _exam_labs(input_file: Path) -> dict[str, Lab]:
    """Each task the input file names, as a Lab whose steps are its checks, by its graders' folder."""
    from exam import bank
    from graders.exam import inputs

    try:
        return {t.folder: bank.load(t.id).rendered(t.values).as_lab() for t in inputs.read_all(input_file)}
    except (CkslabError, ValueError, KeyError) as err:
        raise pytest.UsageError(f"--ckslab-exam-task {input_file}: {err}") from err


def pytest_unconfigure(config: pytest.Config) -> None:
    recorder = config.stash.get(recorder_key, None)
    if recorder is not None:
        del config.stash[recorder_key]
        config.pluginmanager.unregister(recorder)
    recorders = config.stash.get(tasks_key, None)
    if recorders is not None:
        del config.stash[tasks_key]
        config.pluginmanager.unregister(recorders)


@pytest.fixture(scope="session")
def context(request: pytest.FixtureRequest) -> GradingContext:
    """What this run grades: the context the runner wrote (``graders.runner``), read once in configure."""
    found = request.config.stash.get(context_key, None)
    if found is None:
        fail("could not check: the graders run without a grading context.", "Grade with: ckslab grade LAB")
    return found


@pytest.fixture
def note(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Leave a message the step reports if it passes (e.g. why a missing CSR is fine)."""
    def add(message: str) -> None:
        request.node.user_properties.append((NOTE, message))

    return add


@pytest.fixture
def observe(request: pytest.FixtureRequest) -> Callable[[object, object], None]:
    """Record what a check expected and what it found; the report shows both, pass or fail."""
    def add(expected: object, observed: object) -> None:
        request.node.user_properties += [(EXPECTED, str(expected)), (OBSERVED, str(observed))]

    return add


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach the learner's message and hint to a failed (or skipped) phase's report."""
    report = yield
    if (report.failed or report.skipped) and call.excinfo is not None:
        message, hint = explain(call.excinfo.value)
        report.user_properties += [(MESSAGE, message), (HINT, hint)]
    return report


def explain(error: BaseException) -> tuple[str, str]:
    """The message and hint for ``error``: its own for a StepFailure, "could not check" else."""
    if isinstance(error, StepFailure):
        return error.message, error.hint
    if isinstance(error, pytest.skip.Exception):
        return f"could not check: skipped ({error.msg}).", ""
    detail = " ".join(str(error).split())[:MAX_DETAIL] or type(error).__name__
    return f"could not check: {detail}.", ""


@dataclass
class _Outcome:
    step: str
    message: str | None = None
    hint: str = ""
    note: str = ""
    expected: str = ""
    observed: str = ""


class ScoreRecorder:
    """Collects each grader test's outcome and writes the lab's score report at the end."""

    def __init__(self, lab: Lab, json_path: Path | None, only_step: str | None) -> None:
        self.lab = lab
        self.json_path = json_path
        self.only_step = only_step
        self.steps: dict[str, str] = {}  # nodeid -> step id, from the collected markers
        self.outcomes: dict[str, _Outcome] = {}  # nodeid -> outcome, in run order
        self.written: Path | None = None

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        order = {step.id: i for i, step in enumerate(self.lab.steps)}
        for item in items:
            marker = item.get_closest_marker(STEP_MARKER)
            step = str(marker.args[0]) if marker is not None and marker.args else None
            if step not in order:
                raise pytest.UsageError(
                    f"{item.nodeid}: mark it @pytest.mark.{STEP_MARKER}(ID) with a step of the lab "
                    f"{self.lab.id} ({', '.join(order)}), not {step!r}")
            self.steps[item.nodeid] = step
        if self.only_step:
            others = [i for i in items if self.steps[i.nodeid] != self.only_step]
            if others:
                config.hook.pytest_deselected(items=others)
            items[:] = [i for i in items if self.steps[i.nodeid] == self.only_step]
        items.sort(key=lambda i: order[self.steps[i.nodeid]])  # stable: file order within a step

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        step = self.steps.get(report.nodeid)
        if step is None:
            return
        outcome = self.outcomes.setdefault(report.nodeid, _Outcome(step))
        props = dict(report.user_properties)
        if (report.failed or report.skipped) and outcome.message is None:
            outcome.message = str(props.get(MESSAGE) or f"could not check: the test {report.when} failed.")
            outcome.hint = str(props.get(HINT, ""))
        if props.get(NOTE):
            outcome.note = str(props[NOTE])
        if EXPECTED in props:
            outcome.expected, outcome.observed = str(props[EXPECTED]), str(props.get(OBSERVED, ""))

    def results(self) -> list[CheckResult]:
        return [CheckResult(o.step, o.message is None, o.message or "", o.hint, o.note, o.expected, o.observed)
                for o in self.outcomes.values()]

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        # Only a session that ran the graders has a score: after a usage or collection error,
        # an interruption or an internal error there is no report, and `ckslab grade` says so.
        if self.json_path is None or exitstatus not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
            return
        report = score(self.lab, self.results(), self.only_step)
        self.json_path.parent.mkdir(parents=True, exist_ok=True)
        self.json_path.write_text(json.dumps(report.to_json(), indent=2) + "\n")
        self.written = self.json_path

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        report = score(self.lab, self.results(), self.only_step)
        where = f", written to {self.written}" if self.written else ""
        terminalreporter.write_sep("-", f"ckslab {self.lab.id}: {report.score}/{report.max_score}{where}")


class TaskRecorders:
    """The score recorders of several exam tasks graded by one pytest process: each gets its task's tests.

    A test belongs to the task whose graders' folder (``graders/exam/<folder>/``) holds it. The
    JSON report, written once at the end, is ``{"reports": [ReportJson, ...]}`` in the input's order.
    """

    def __init__(self, labs: dict[str, Lab], json_path: Path | None) -> None:
        self.recorders = {folder: ScoreRecorder(lab, None, None) for folder, lab in labs.items()}
        self.json_path = json_path
        #: Why a task's graders did not load (a collection error), by folder: its checks fail with it,
        #: the other tasks are graded (the runner passes --continue-on-collection-errors).
        self.broken: dict[str, str] = {}

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        from graders.exam import inputs

        folder = inputs.folder_of(Path(report.fspath) / "-", list(self.recorders))
        if report.failed and folder is not None:
            lines = [line for line in str(report.longrepr).splitlines() if line.startswith("E ")]
            detail = " ".join((lines[-1][1:] if lines else str(report.longrepr)).split())[:MAX_DETAIL]
            self.broken.setdefault(folder, detail)

    def _report(self, folder: str) -> Report:
        recorder = self.recorders[folder]
        results = recorder.results()
        if folder in self.broken:
            results += [CheckResult(step.id, False, f"could not check: this task's graders did not load "
                                                    f"({self.broken[folder]}); please report this ckslab bug.")
                        for step in recorder.lab.steps]
        return score(recorder.lab, results, None)

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        from graders.exam import inputs

        groups: dict[str, list[pytest.Item]] = {folder: [] for folder in self.recorders}
        for item in items:
            folder = inputs.folder_of(item.path, list(groups))
            if folder is None:
                raise pytest.UsageError(f"{item.nodeid}: not in the graders' folder of a task given "
                                        f"({', '.join(groups)})")
            groups[folder].append(item)
        items[:] = []
        for folder, group in groups.items():
            self.recorders[folder].pytest_collection_modifyitems(config, group)
            items += group

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for recorder in self.recorders.values():
            recorder.pytest_runtest_logreport(report)

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.json_path is None or exitstatus not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
            return
        reports = [self._report(folder).to_json() for folder in self.recorders]
        self.json_path.parent.mkdir(parents=True, exist_ok=True)
        self.json_path.write_text(json.dumps({"reports": reports}, indent=2) + "\n")

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        for folder in self.recorders:
            report = self._report(folder)
            terminalreporter.write_sep("-", f"ckslab {report.lab}: {report.score}/{report.max_score}")


recorder_key = pytest.StashKey[ScoreRecorder]()
tasks_key = pytest.StashKey[TaskRecorders]()
#: The grading context of this run (absent when pytest runs the graders without ``ckslab grade``).
context_key = pytest.StashKey[GradingContext]()
