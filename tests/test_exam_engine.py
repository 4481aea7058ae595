"""The exam engine without a cluster: several tasks graded by one score-plugin session, the time spent per task."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from ckslab import cli
from cluster.paths import LabPaths
from exam import attempt as attempts
from exam import bank, debrief, timing
from exam.session import Session
from graders.exam import inputs

NOW = dt.datetime(2026, 12, 5, 20, 0, tzinfo=dt.timezone.utc)

#: Two tasks' graders, as graders/exam/<folder>/ holds them: each reads its own task's values.
GRADERS = {
    "cut_access": """
import pytest
from graders.expect import expect

@pytest.mark.step("leaked-denied")
def test_denied(task, observe):
    observe("ns " + task["ns"], "ns " + task["ns"])
    expect(task.id == "cut-access", task.id)

@pytest.mark.step("others-kept")
def test_kept(task, observe):
    observe("kept", "gone")
    expect(False, "gone")
""",
    "group_access": """
import pytest
from graders.expect import expect

@pytest.mark.step("group-reads")
def test_reads(task):
    expect(task.id == "group-access", task.id)

@pytest.mark.step("through-group")
def test_through(task):
    expect(task.id == "group-access", task.id)

@pytest.mark.step("nothing-else")
def test_else(task):
    expect(False, "may delete pods")
""",
}


def test_one_session_grades_several_tasks_each_with_its_own_values_and_report(pytester: pytest.Pytester) -> None:
    """One pytest process per context: each test is scored as a check of the task whose folder holds it."""
    drawn = attempts.draw(1, None, NOW, 120, False)
    given = pytester.path / "tasks.json"
    inputs.write_all(given, [inputs.TaskInput(t, drawn.task(t).values, pytester.path)
                             for t in ("cut-access", "group-access")])
    pytester.makeconftest("from graders.exam.conftest import task  # noqa: F401\n")
    for folder, text in GRADERS.items():
        pytester.mkpydir(folder)
        (pytester.path / folder / f"test_{folder}.py").write_text(text)
    report_file = pytester.path / "report.json"
    result = pytester.runpytest("-p", "graders.plugin", "-p", "no:cacheprovider", "--strict-markers",
                                "--ckslab-exam-task", str(given), "--ckslab-json", str(report_file))
    assert result.ret == 1
    reports = {r["lab"]: r for r in json.loads(report_file.read_text())["reports"]}
    points = {t: {c.name: c.points for c in bank.load(t).checks} for t in ("cut-access", "group-access")}
    assert reports["cut-access"]["score"] == points["cut-access"]["leaked-denied"]
    assert reports["group-access"]["score"] == sum(points["group-access"].values()) - points["group-access"]["nothing-else"]
    denied = next(s for s in reports["cut-access"]["steps"] if s["id"] == "leaked-denied")
    assert denied["observed"] == f"ns {drawn.task('cut-access').values['ns']}"
    assert [s["message"] for s in reports["group-access"]["steps"] if not s["passed"]] == ["may delete pods"]
    # Graders of one task that do not load fail that task's checks only.
    (pytester.path / "cut_access" / "test_cut_access.py").write_text("import no_such_module\n")
    assert pytester.runpytest("-p", "graders.plugin", "--ckslab-exam-task", str(given), "--ckslab-json",
                              str(report_file), "--continue-on-collection-errors").ret == 1
    reports = {r["lab"]: r for r in json.loads(report_file.read_text())["reports"]}
    assert reports["cut-access"]["score"] == 0 and all("graders did not load (ModuleNotFoundError" in s["message"]
                                                       for s in reports["cut-access"]["steps"]), reports["cut-access"]
    assert reports["group-access"]["score"] == sum(points["group-access"].values()) - points["group-access"]["nothing-else"]
    # A test in no given task's folder is a usage error, not a check of some task.
    pytester.mkpydir("csr_review")
    (pytester.path / "csr_review" / "test_csr_review.py").write_text(GRADERS["group_access"])
    report_file.unlink()
    assert pytester.runpytest("-p", "graders.plugin", "--ckslab-exam-task", str(given),
                              "--ckslab-json", str(report_file)).ret == pytest.ExitCode.USAGE_ERROR
    assert not report_file.exists()


def _event(when: str, user: str, verb: str, resource: str, name: str = "", namespace: str = "",
           code: int = 201) -> str:
    return json.dumps({"kind": "Event", "stage": "ResponseComplete", "verb": verb, "stageTimestamp": when,
                       "user": {"username": user}, "responseStatus": {"code": code},
                       "objectRef": {"resource": resource, "name": name, "namespace": namespace}})


def test_time_spent_is_the_candidates_first_to_last_change_of_the_tasks_objects() -> None:
    values = {"context": "cks-a", "user": "kim", "ns": "web-7", "minutes": "10", "dir": "certs/kim"}
    log = [
        _event("2026-12-05T20:00:01Z", "kubernetes-admin", "create", "certificatesigningrequests", "kim"),  # setup
        _event("2026-12-05T20:05:00.5Z", "kubernetes-admin", "create", "certificatesigningrequests", "kim"),
        _event("2026-12-05T20:06:00Z", "system:kube-controller-manager", "update", "certificatesigningrequests",
               "kim", code=200),  # the signer is not the candidate
        _event("2026-12-05T20:07:10Z", "kubernetes-admin", "create", "rolebindings", "r", "web-7"),
        _event("2026-12-05T20:08:00Z", "kubernetes-admin", "create", "rolebindings", "other", "else"),  # another task
        _event("2026-12-05T20:09:00Z", "kubernetes-admin", "delete", "rolebindings", "x", "web-7", code=404),  # failed
        "not json",
        _event("2026-12-05T21:00:00Z", "kubernetes-admin", "delete", "certificatesigningrequests", "kim", code=200),
    ]
    found = timing.writes(log)
    assert len(found) == 6
    since, until = NOW + dt.timedelta(minutes=1), NOW + dt.timedelta(minutes=30)
    assert timing.names(values) == {"kim", "web-7"}  # not the context, a number or a path
    assert timing.spent(found, values, since, until) == 130  # 20:05:00.5 to 20:07:10
    assert timing.spent(found, values, None, None) == 3599
    assert timing.spent(found, {"user": "nobody"}, since, until) is None
    assert timing.spoken(130) == "2m 10s" and timing.spoken(9) == "9s" and timing.spoken(None) == "no change seen"


def test_time_spent_counts_objects_named_after_a_drawn_value_and_a_whole_own_cluster() -> None:
    """signer-files asks for a CSR named {{user}}-new, kubelet-serving denies csr-{{forged}}: names built from a
    drawn value are the task's objects; in a cluster of its own every change is its task's."""
    values = {"context": "cks-d", "user": "farah", "ca": "signer-ca", "forged": 40213, "hours": 24}
    log = [
        _event("2026-12-05T20:05:00Z", "kubernetes-admin", "create", "certificatesigningrequests", "farah-new"),
        _event("2026-12-05T20:06:30Z", "kubernetes-admin", "update", "certificatesigningrequests", "farah-new",
               code=200),
        _event("2026-12-05T20:07:00Z", "kubernetes-admin", "update", "certificatesigningrequests", "csr-40213",
               code=200),
        _event("2026-12-05T20:09:00Z", "kubernetes-admin", "create", "certificatesigningrequests", "farahs"),
        _event("2026-12-05T20:10:00Z", "kubernetes-admin", "create", "certificatesigningrequests", "csr-24"),
    ]
    found = timing.writes(log)
    assert timing.spent(found, values, None, None) == 120  # farah-new to csr-40213; not farahs nor csr-24
    assert timing.spent(found, {"user": "farah"}, None, None) == 90
    assert timing.spent(found, {"user": "nobody"}, None, None) is None
    assert timing.spent(found, {"user": "nobody"}, None, None, whole_cluster=True) == 300


def test_the_debrief_shows_the_time_spent_and_says_what_it_measures(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    drawn = attempts.draw(3, 2, NOW, 120, False)
    a, b = drawn.tasks
    result = debrief.build(drawn, {}, "2026-12-05T21:00:00+00:00", {a.id: 130, b.id: None})
    tasks = {t["id"]: t for t in result["tasks"]}
    assert tasks[a.id]["seconds"] == 130 and tasks[b.id]["seconds"] is None
    assert result["time_measure"] == timing.MEASURE and "first to the last change" in timing.MEASURE
    assert json.loads(json.dumps(result))["tasks"][1]["seconds"] is None
    page = debrief.html_page(result)
    assert "Time spent: 2m 10s" in page and "Time spent: no change seen" in page and "first to the last" in page
    project = Session(LabPaths(tmp_path))
    drawn.submitted, drawn.debrief = result["submitted"], dict(result)
    project.save(drawn)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CKSLAB_ROOT", str(tmp_path))
        assert cli.main(["exam", "report"]) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert "Time spent: 2m 10s" in said and "Time spent: no change seen" in said
    assert "Time per task: time spent: from the first to the last change" in said


def test_setup_notes_when_it_ended_and_sets_contexts_up_at_once(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Each context's tasks in order, the contexts side by side; the end of setup is where timing starts."""
    import threading

    project = Session(LabPaths(tmp_path))
    drawn = attempts.draw(8, None, NOW, 120, False)
    seen: dict[str, list[str]] = {}
    both = threading.Barrier(len({t.context for t in drawn.tasks}), timeout=10)

    def run(self: Session, task: attempts.TaskAttempt, script: str, cwd: Path, kubeconfig: Path) -> tuple[bool, str]:
        if not seen.get(task.context):
            both.wait()  # every context's first setup runs at the same time, or this times out
        seen.setdefault(task.context, []).append(task.id)
        return True, ""

    monkeypatch.setattr(Session, "_run", run)
    project.save(drawn)  # as start does, before any setup
    before = dt.datetime.now(dt.timezone.utc)
    project._setup(drawn, lambda _m: None)
    assert all(t.ready for t in drawn.tasks)
    for context, ids in seen.items():
        assert ids == [t.id for t in drawn.tasks if t.context == context]
    assert before <= dt.datetime.fromisoformat(drawn.set_up) <= dt.datetime.now(dt.timezone.utc)
    assert attempts.load(project.file) == drawn


def test_the_contexts_planes_start_at_once_and_a_failure_is_said_after_the_others(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ports are reserved per plane (cluster.ports), so the planes need not wait for each other."""
    import threading

    from cluster.errors import CkslabError
    from exam import clusters

    together = threading.Barrier(3, timeout=10)
    done: list[str] = []

    def start(project: LabPaths, context: str, progress: object) -> None:
        together.wait()  # the three planes start at the same time, or this times out
        if context == "cks-c":
            raise CkslabError("the cluster of context cks-c did not start: no port", "Run `ckslab exam resume`.")
        done.append(context)

    monkeypatch.setattr(clusters, "start", start)
    monkeypatch.setattr(clusters, "write_kubeconfig", lambda project, contexts: tmp_path / "kubeconfig")
    ready: list[str] = []
    with pytest.raises(CkslabError, match="cks-c did not start"):
        clusters.ensure(LabPaths(tmp_path), ("cks-a", "cks-b", "cks-c"), lambda _m: None, ready.append)
    assert sorted(done) == sorted(ready) == ["cks-a", "cks-b"]
