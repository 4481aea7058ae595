"""The mock exam without a cluster: the bank, drawing, rendering, the attempt file, the debrief, the CLI's refusals."""

from __future__ import annotations

import datetime as dt
import html
import json
import os
import re
import stat
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from ckslab import cli
from cluster.errors import CkslabError, ManifestFailed, UsageError
from cluster.paths import LabPaths
from exam import attempt as attempts
from exam import bank, clusters, debrief
from exam.session import Session
from graders.scoring import CheckResult, score

NOW = dt.datetime(2026, 12, 5, 20, 0, tzinfo=dt.timezone.utc)
SEEDS = (1, 2, 3)


def test_every_task_of_the_bank_is_complete() -> None:
    tasks = bank.all_tasks()
    assert len(tasks) >= 7
    for task in tasks:
        assert task.max_score == task.weight, task.id
        assert (task.folder / "setup.sh").is_file() and (task.folder / "solution.sh").is_file(), task.id
        graders = Path(bank.__file__).parent.parent / "graders" / "exam" / task.id.replace("-", "_")
        marked = set(re.findall(r'@pytest\.mark\.step\("([^"]+)"\)',
                                "".join(p.read_text() for p in graders.glob("test_*.py"))))
        assert marked == {c.name for c in task.checks}, f"{task.id}: graders mark {marked}"
        assert task.docs.startswith("https://kubernetes.io/docs/")
        assert (Path(bank.__file__).parent.parent / "labs" / task.lab / "lab.yaml").is_file(), task.lab


@pytest.mark.parametrize("seed", SEEDS)
def test_every_text_renders_with_the_drawn_values(seed: int) -> None:
    drawn = attempts.draw(seed, None, NOW, 120, False)
    for t in drawn.tasks:
        task = bank.load(t.id)
        shown = task.rendered(t.values)
        texts = [shown.title, shown.statement, shown.explanation, *(c.title for c in shown.checks),
                 task.script("setup.sh", t.values), task.script("solution.sh", t.values)]
        assert not any("{{" in text for text in texts), t.id
        assert f"use-context {t.context}" in shown.statement
        assert f"use-context {t.context}" in task.script("solution.sh", t.values)


def test_the_same_seed_draws_the_same_exam_and_another_seed_another() -> None:
    first, again = attempts.draw(7, None, NOW, 120, False), attempts.draw(7, None, NOW, 120, False)
    assert [(t.id, t.context, t.values) for t in first.tasks] == [(t.id, t.context, t.values) for t in again.tasks]
    other = attempts.draw(8, None, NOW, 120, False)
    assert [(t.id, t.values) for t in first.tasks] != [(t.id, t.values) for t in other.tasks]
    shared = [t.context for s in SEEDS for t in attempts.draw(s, None, NOW, 120, False).tasks
              if not bank.load(t.id).contexts and not bank.load(t.id).needs]
    assert set(shared) == set(attempts.CONTEXTS)
    kubelet = {t.context for s in SEEDS for t in attempts.draw(s, None, NOW, 120, False).tasks
               if "kubelet" in bank.load(t.id).needs}
    assert kubelet == set(attempts.KUBELET_CONTEXTS)


def test_each_task_asking_for_a_cluster_of_its_own_gets_one_no_other_task_uses() -> None:
    task = bank.load("cut-access")
    own = [replace(task, id=f"own-{i}", contexts=(attempts.OWN,)) for i in range(3)]
    named = replace(task, id="named", contexts=("cks-c",))
    for seed in SEEDS:
        drawn = attempts.draw(seed, None, NOW, 120, False, [task, *own, named])
        contexts = {t.id: t.context for t in drawn.tasks}
        assert contexts["named"] == "cks-c" and contexts["cut-access"] in attempts.CONTEXTS
        assert sorted(contexts[f"own-{i}"] for i in range(3)) == ["cks-d", "cks-e", "cks-f"]
        assert all(t.values["context"] == t.context for t in drawn.tasks)
        assert set(drawn.contexts) == {"cks-a", "cks-b", "cks-c", "cks-d", "cks-e", "cks-f"}
    too_many = [replace(task, id=f"own-{i}", contexts=(attempts.OWN,)) for i in range(len(attempts.OWN_CONTEXTS) + 1)]
    with pytest.raises(UsageError, match="clusters of their own"):
        attempts.draw(1, None, NOW, 120, False, too_many)
    assert all(c in attempts.KNOWN_CONTEXTS for c in attempts.OWN_CONTEXTS)


def test_names_are_not_shared_between_tasks_of_one_attempt() -> None:
    for seed in range(20):
        drawn = attempts.draw(seed, None, NOW, 120, False)
        names = [t.values[name] for t in drawn.tasks for name, spec in bank.load(t.id).values if "name" in spec]
        assert len(names) == len(set(names)), seed


def test_the_csr_review_statement_does_not_say_which_request_is_the_decoy() -> None:
    task = bank.load("csr-review")
    for seed in range(10):
        drawn = attempts.draw(seed, None, NOW, 120, False).task("csr-review")
        names = [drawn.values[k] for k in ("good1", "good2", "decoy")]
        assert f"the CSRs {', '.join(sorted(names))}." in task.rendered(drawn.values).statement
        assert drawn.values["decoy_kind"] not in task.rendered(drawn.values).statement


def test_render_refuses_an_unknown_value() -> None:
    assert bank.render("CN={{ user }}", {"user": "kim"}) == "CN=kim"
    with pytest.raises(bank.TemplateError, match="not among the drawn values"):
        bank.render("{{who}}", {"user": "kim"})


def test_unknown_task_and_bad_seed_and_count_are_one_line_usage_errors() -> None:
    with pytest.raises(UsageError, match="unknown exam task 'nope'"):
        bank.load("nope")
    with pytest.raises(UsageError, match="not a whole number"):
        attempts.parse_seed("banana")
    with pytest.raises(UsageError, match="not a whole number"):
        attempts.parse_seed("-3")
    assert attempts.parse_seed("42") == 42
    with pytest.raises(UsageError, match="the bank has"):
        attempts.draw(1, 99, NOW, 120, False)
    with pytest.raises(UsageError, match="no task 'zz'"):
        attempts.draw(1, 2, NOW, 120, False).task("zz")


def test_the_attempt_file_is_private_and_survives_a_round_trip(tmp_path: Path) -> None:
    drawn = attempts.draw(5, 3, NOW, 30, False)
    drawn.tasks[0].flagged = True
    path = tmp_path / "attempt.json"
    attempts.save(drawn, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert attempts.load(path) == drawn
    assert drawn.task("1") is drawn.tasks[0]
    assert drawn.seconds_left(NOW + dt.timedelta(minutes=10)) == 20 * 60
    assert not drawn.overdue(NOW + dt.timedelta(minutes=29)) and drawn.overdue(NOW + dt.timedelta(minutes=30))
    assert not attempts.draw(5, 3, NOW, 30, True).overdue(NOW + dt.timedelta(days=3))  # practice: no clock
    path.write_text("{not json")
    with pytest.raises(CkslabError, match="cannot be read"):
        attempts.load(path)


def _report(task: bank.Task, passing: set[str]) -> dict[str, object]:
    results = [CheckResult(c.name, c.name in passing, "" if c.name in passing else f"{c.name} not done",
                           expected=f"want {c.name}", observed="got it" if c.name in passing else "nothing")
               for c in task.checks]
    return dict(score(task.as_lab(), results).to_json())


def test_the_debrief_counts_points_pass_line_setup_failures_and_other_contexts() -> None:
    drawn = attempts.draw(11, 4, NOW, 120, False)
    a, b, c, d = drawn.tasks
    c.setup_error = "kubectl: connection refused"
    b.flagged = True
    ta, tb = bank.load(a.id), bank.load(b.id)
    graded = {a.id: debrief.Graded(_report(ta, {x.name for x in ta.checks})),
              b.id: debrief.Graded(_report(tb, set()), found_in="cks-z", found_score=tb.max_score),
              d.id: debrief.Graded(None, "the cluster of context cks-b did not answer at grading time: 0.")}
    result = debrief.build(drawn, graded, "2026-12-05T21:00:00+00:00")
    assert set(result) >= {"seed", "score", "max_score", "percent", "passed", "tasks"}
    tasks = {t["id"]: t for t in result["tasks"]}
    assert set(tasks[a.id]) >= {"id", "weight", "context", "score", "max_score", "checks", "explanation"}
    assert set(tasks[a.id]["checks"][0]) >= {"name", "passed", "points", "expected", "observed"}
    assert tasks[a.id]["score"] == ta.max_score and tasks[a.id]["checks"][0]["observed"] == "got it"
    assert tasks[b.id]["score"] == 0 and "found in context cks-z" in tasks[b.id]["note"]
    assert tasks[b.id]["checks"][0]["observed"] == "nothing"
    # A failed check says what it was worth and why it failed; a flagged task says so.
    first = tasks[b.id]["checks"][0]
    assert (first["points"], first["max_points"]) == (0, tb.checks[0].points) and tasks[b.id]["flagged"]
    assert not tasks[a.id]["flagged"]
    assert tasks[c.id]["status"] == debrief.SETUP_FAILED and "connection refused" in tasks[c.id]["note"]
    assert tasks[d.id]["status"] == debrief.CLUSTER_DOWN and "did not answer" in tasks[d.id]["note"]
    max_score = ta.max_score + tb.max_score + bank.load(d.id).max_score  # c is out of the maximum
    assert (result["score"], result["max_score"]) == (ta.max_score, max_score)
    assert result["percent"] == round(100 * ta.max_score / max_score, 1)
    assert result["passed"] is (result["percent"] >= 67)
    assert a.values["context"] in tasks[a.id]["solution"]  # rendered with the attempt's values
    xml = ET.fromstring(debrief.junit(result))
    assert len(xml.findall("testsuite")) == 4 and xml.find(".//failure") is not None
    page = debrief.html_page(result)
    assert "<script" not in page and "http" not in page.split("<body>")[0]
    assert f"{result['score']}/{result['max_score']}" in page
    assert f"0/{tb.checks[0].points}" in page and "flagged" in page and html.escape(first["message"]) in page
    view = debrief.View(result)
    assert "<h1>" in view._repr_html_() and "<body" not in view._repr_html_()
    assert repr(view).startswith(f"exam seed {drawn.seed}: {result['score']}/{result['max_score']}")


def test_the_pass_line_is_67_percent() -> None:
    drawn = attempts.draw(3, 1, NOW, 120, False)
    task = bank.load(drawn.tasks[0].id)
    full = debrief.build(drawn, {task.id: debrief.Graded(_report(task, {c.name for c in task.checks}))}, "")
    none = debrief.build(drawn, {task.id: debrief.Graded(_report(task, set()))}, "")
    assert full["passed"] and full["percent"] == 100.0
    assert not none["passed"] and none["percent"] == 0.0


def test_a_labs_report_keeps_its_shape() -> None:
    from labs import catalog

    lab = catalog.load("certificates-api")
    report = score(lab, [CheckResult(s.id, True) for s in lab.steps]).to_json()
    assert set(report["steps"][0]) == {"id", "title", "passed", "points", "max_points", "message", "hint"}


@pytest.fixture
def project(lab_root: Path) -> Session:
    return Session()


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = cli.main(["exam", *argv])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_commands_without_an_exam_say_how_to_start_one(project: Session, capsys: pytest.CaptureFixture[str]) -> None:
    code, said = _run(capsys, "status")
    assert code == 1 and "no exam has been started" in said and "ckslab exam start" in said
    assert "Traceback" not in said
    code, said = _run(capsys, "start", "--seed", "x")
    assert code == 2 and "not a whole number" in said


def test_start_while_one_runs_is_refused_in_one_line(project: Session, capsys: pytest.CaptureFixture[str]) -> None:
    running = attempts.draw(9, 2, dt.datetime.now(dt.timezone.utc), 120, False)
    project.save(running)
    code, said = _run(capsys, "start")
    assert code == 1 and "already running" in said and "resume" in said and "abandon" in said
    assert len(said.strip().splitlines()) <= 2  # one message (rich may wrap it once)
    code, said = _run(capsys, "check", "1")
    assert code == 2 and "no checks before submit" in said
    code, said = _run(capsys, "solve")
    assert code == 2 and "--yes" in said
    code, said = _run(capsys, "flag", "1")
    assert code == 0 and attempts.load(project.file).tasks[0].flagged  # type: ignore[union-attr]
    code, said = _run(capsys, "flag", "no-such-task")
    assert code == 2 and "no task 'no-such-task'" in said
    code, said = _run(capsys, "abandon")
    assert code == 0 and "abandoned" in said
    code, said = _run(capsys, "report")
    assert code == 1 and "abandoned" in said and "no debrief" in said


def test_the_deadline_passing_grades_the_exam_as_it_stands(project: Session,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """No cluster here: the debrief says so per task, and the attempt is graded once, never lost."""
    late = attempts.draw(4, 2, dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=121), 120, False)
    project.save(late)
    code, said = _run(capsys, "status")
    assert "Time is up" in said and "did not answer at grading time" in said
    kept = attempts.load(project.file)
    assert kept is not None and kept.submitted and kept.debrief["score"] == 0
    code, said = _run(capsys, "submit")
    assert code == 1 and "already graded" in said
    out = project.project.root / "debrief.json"
    code, said = _run(capsys, "report", "--json", str(out))
    assert code == 0 and json.loads(out.read_text())["seed"] == 4


def test_the_score_plugin_grades_an_exam_task_with_expected_and_observed(pytester: pytest.Pytester) -> None:
    """The exam's graders run under the labs' score plugin: checks are steps, and each says what it found."""
    from graders.exam import inputs

    task = bank.load("cut-access")
    given = pytester.path / "task.json"
    values = attempts.draw(1, None, NOW, 120, False).task("cut-access").values
    inputs.write(given, inputs.TaskInput(task.id, values, pytester.path))
    pytester.makepyfile(test_checks="""
import pytest
from graders.expect import expect

@pytest.mark.step("leaked-denied")
def test_denied(observe):
    observe("get secrets: no", "get secrets: yes")
    expect(False, "still reads secrets")

@pytest.mark.step("others-kept")
def test_kept(observe):
    observe("keep: yes", "keep: yes")
""")
    report_file = pytester.path / "report.json"
    result = pytester.runpytest("-p", "graders.plugin", "-p", "no:cacheprovider", "--strict-markers",
                                "--ckslab-exam-task", str(given), "--ckslab-json", str(report_file))
    assert result.ret == 1
    report = json.loads(report_file.read_text())
    steps = {s["id"]: s for s in report["steps"]}
    assert (report["lab"], report["score"], report["max_score"]) == ("cut-access", 2, 5)
    assert steps["leaked-denied"]["expected"] == "get secrets: no"
    assert steps["leaked-denied"]["observed"] == "get secrets: yes"
    assert steps["leaked-denied"]["message"] == "still reads secrets"
    assert steps["others-kept"]["passed"] and steps["others-kept"]["observed"] == "keep: yes"


def test_the_exam_kubeconfig_gets_its_contexts_back_and_keeps_the_learners_own(lab_root: Path) -> None:
    import yaml

    from cluster.paths import LabPaths
    from exam import clusters

    project = LabPaths(lab_root)
    for port, context in ((6443, "cks-a"), (7443, "cks-b")):
        admin = clusters.admin_kubeconfig(project, context)
        admin.parent.mkdir(parents=True)
        admin.write_text(yaml.safe_dump({
            "clusters": [{"name": "kubernetes", "cluster": {"server": f"https://127.0.0.1:{port}"}}],
            "users": [{"name": "kubernetes-admin", "user": {"client-key-data": context}}],
            "contexts": [{"name": "kubernetes-admin@kubernetes", "context": {}}]}))
    path = clusters.write_kubeconfig(project, attempts.CONTEXTS)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    doc = yaml.safe_load(path.read_text())
    assert [c["name"] for c in doc["contexts"]] == ["cks-a", "cks-b"] and doc["current-context"] == "cks-a"
    assert doc["clusters"][1]["cluster"]["server"] == "https://127.0.0.1:7443"
    # The learner adds a context, switches to cks-b and deletes cks-a: resume puts cks-a back, keeps the rest.
    doc["contexts"] = [c for c in doc["contexts"] if c["name"] != "cks-a"] + [{"name": "kim", "context": {}}]
    doc["current-context"] = "cks-b"
    path.write_text(yaml.safe_dump(doc))
    again = yaml.safe_load(clusters.write_kubeconfig(project, attempts.CONTEXTS).read_text())
    assert sorted(c["name"] for c in again["contexts"]) == ["cks-a", "cks-b", "kim"]
    assert again["current-context"] == "cks-b"


def test_practice_mode_checks_one_task_and_says_when_its_cluster_is_down(
        project: Session, capsys: pytest.CaptureFixture[str]) -> None:
    practice = attempts.draw(6, 2, dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1), 120, True)
    project.save(practice)
    code, said = _run(capsys, "check", "2")
    assert code == 0 and "did not answer at grading time" in said and "Time is up" not in said
    assert not attempts.load(project.file).submitted  # type: ignore[union-attr]


def test_a_csr_the_garbage_collector_removed_still_counts_through_the_audit_trail(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from cluster import pki
    from graders import audit, kube
    from graders.exam import look

    ca = pki.CertificateAuthority.create()
    cert = ca.issue(pki.LeafRequest(common_name="kim", organizations=("web",)))
    t0 = dt.datetime(2026, 12, 5, 20, 0, tzinfo=dt.timezone.utc)
    trail = audit.Trail("audit.log", (
        audit.CsrEvent(t0, "kubernetes-admin", audit.CREATED, "kim", 201),
        audit.CsrEvent(t0, "kubernetes-admin", audit.APPROVED, "kim", 200),
        audit.CsrEvent(t0, "system:kcm", audit.ISSUED, "kim", 200, certificate=pki.cert_pem(cert)),
        audit.CsrEvent(t0, "system:kcm", audit.DELETED, "kim", 200)), t0)
    monkeypatch.setattr(kube, "read_csr", lambda api, name: None)  # the cluster no longer has it
    seen = look.csr(None, trail, "kim")  # type: ignore[arg-type]
    assert seen.exists and seen.approved and not seen.denied and seen.certificate == pki.cert_pem(cert)
    assert seen.subject == "CN=kim, O=web" and "audit log (audit.log)" in seen.source
    assert not look.csr(None, trail, "other").exists  # type: ignore[arg-type]
    assert not look.csr(None, audit.Unavailable("no log"), "kim").exists  # type: ignore[arg-type]


def test_a_new_attempt_after_a_submitted_one_gets_new_clusters_and_says_where_the_files_went(
        project: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    """The last attempt's CSRs and bindings would collide with this one's names or pass for its work."""
    from exam import session as session_module

    done = attempts.draw(5, 2, dt.datetime.now(dt.timezone.utc), 120, False)
    done.submitted = "2026-12-05T21:50:00+00:00"
    project.save(done)
    project.workspace.mkdir(parents=True, exist_ok=True)
    (project.workspace / "bruno.key").write_text("old")
    calls: list[str] = []
    monkeypatch.setattr(session_module.clusters, "down", lambda *_a: calls.append("down"))
    monkeypatch.setattr(session_module.clusters, "ensure", lambda *_a: calls.append("ensure"))
    monkeypatch.setattr(Session, "_setup", lambda self, attempt, progress: calls.append("setup"))
    said: list[str] = []
    fresh = project.start(6, 2, 120, False, said.append)
    assert calls == ["down", "ensure", "setup"] and fresh.seed == 6
    assert any("new clusters" in line for line in said)
    moved = [line for line in said if "moved to" in line]
    assert moved and not (project.workspace / "bruno.key").exists()
    assert (project.dir / "attempts").is_dir() and list((project.dir / "attempts").iterdir())


def test_the_clock_starts_when_setup_ends_not_when_it_began(project: Session, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """A start whose setup took 3 minutes: the deadline is the exam's minutes after setup ended, and status agrees."""
    from exam import session as session_module

    began = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(minutes=3)
    monkeypatch.setattr(session_module, "now", lambda: began)  # the draw, as setup begins
    monkeypatch.setattr(session_module.clusters, "ensure", lambda *_a: None)
    monkeypatch.setattr(Session, "_setup_context", lambda *_a: None)  # setup "took" the 3 minutes
    fresh = project.start(6, 2, 120, False, lambda _m: None)
    kept = attempts.load(project.file)
    assert kept is not None and kept.set_up and kept.deadline == fresh.deadline
    ended = dt.datetime.fromisoformat(kept.set_up)
    deadline = dt.datetime.fromisoformat(kept.deadline)
    assert ended + dt.timedelta(minutes=120) <= deadline < ended + dt.timedelta(minutes=120, seconds=2)
    assert dt.datetime.fromisoformat(kept.started) >= ended  # the debrief's and page's "started"
    code, said = _run(capsys, "status")
    assert code == 0 and ("2:00:0" in said or "1:59:5" in said), said


def test_an_attempt_has_the_shared_contexts_and_those_its_tasks_were_drawn_in() -> None:
    found = attempts.draw(7, None, NOW, 120, False, [bank.load(t) for t in ("csr-review", "cut-access")])
    assert found.contexts == attempts.CONTEXTS
    found.tasks[0].context = "cks-c"
    assert list(found.contexts) == ["cks-a", "cks-b", "cks-c"]


def test_start_only_some_tasks_refuses_an_unknown_id(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="unknown exam task 'nope'"):
        Session(LabPaths(tmp_path)).start(1, None, 120, False, lambda _m: None, ["cut-access", "nope"])
    assert not (tmp_path / ".lab" / "exam" / "attempt.json").exists()


def test_a_node_task_names_its_node_in_the_statement_and_the_task_list(project: Session,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    tasks = [bank.load("signing-duration"), bank.load("cut-access")]
    assert tasks[0].node and not tasks[1].node
    drawn = attempts.draw(4, None, dt.datetime.now(dt.timezone.utc), 120, False, tasks)
    project.save(drawn)
    node = drawn.task("signing-duration")
    code, said = _run(capsys, "show", "signing-duration")
    assert code == 0 and f"ckslab exam ssh {node.context}" in said
    code, said = _run(capsys, "show", "cut-access")
    assert code == 0 and "ckslab exam ssh" not in said
    code, said = _run(capsys, "status")
    assert code == 0 and f"{node.context} (node)" in said and said.count("(node)") == 1


def test_resume_leaves_a_cluster_whose_component_does_not_start_from_its_manifest(
        lab_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tries: list[str] = []

    class Broken:
        def up(self, progress: object) -> None:
            tries.append("up")
            raise ManifestFailed("kube-apiserver does not start from its manifest (a task broke it).")

    written: list[tuple[str, ...]] = []
    monkeypatch.setattr(clusters, "backend_for", lambda _project, _context: Broken())
    monkeypatch.setattr(clusters, "write_kubeconfig", lambda _project, contexts: written.append(contexts) or lab_root)
    said: list[str] = []
    clusters.ensure(LabPaths(lab_root), ("cks-c",), said.append)
    assert tries == ["up"] and written == [("cks-c",)]
    assert "context cks-c is left as it is: kube-apiserver does not start" in said[-1]


def test_the_api_tasks_statements_do_not_say_which_request_is_forged_or_refused() -> None:
    for seed in range(10):
        drawn = attempts.draw(seed, None, NOW, 120, False, only=["node-join-csr", "expiring-certificates"])
        join = drawn.task("node-join-csr")
        shown = bank.load("node-join-csr").rendered(join.values).statement
        assert f"pending: {', '.join(sorted([join.values['legit'], join.values['forged']]))}." in shown
        assert join.values["forged_kind"] not in shown and join.values["other_token"] not in shown
        expiring = drawn.task("expiring-certificates")
        shown = bank.load("expiring-certificates").rendered(expiring.values).statement
        users = sorted(expiring.values[k] for k in ("soon1", "soon2", "later1", "later2", "refused"))
        assert f"users {', '.join(users)}," in shown and "denied" not in shown


def test_only_draws_the_named_tasks_and_refuses_an_unknown_one() -> None:
    drawn = attempts.draw(3, None, NOW, 120, False, only=["who-is-this", "failed-csr"])
    assert sorted(t.id for t in drawn.tasks) == ["failed-csr", "who-is-this"]
    with pytest.raises(UsageError, match="unknown exam task"):
        attempts.draw(3, None, NOW, 120, False, only=["no-such-task"])


def test_every_task_done_on_a_node_says_so_in_its_statement_and_task_list() -> None:
    """A candidate who sees only the statement learns which node to enter (found by a candidate's try:
    sign-by-hand asked for node paths without being marked a node task)."""
    for task in bank.all_tasks():
        drawn = attempts.draw(5, None, NOW, 120, False, [task]).tasks[0]
        shown = task.rendered(drawn.values).statement
        mentions_node = "on the node" in task.statement or "ckslab exam ssh" in task.statement
        assert task.node == mentions_node, task.id
        if task.node:
            assert shown.count(f"ckslab exam ssh {drawn.context}") == 1, (task.id, shown)


def _closed_stdout_run(root: Path, *argv: str) -> tuple[int, str]:
    """``python -m ckslab ARGV`` whose stdout is a pipe nobody reads (its read end closed first, as after
    ``| head`` has read its lines): (exit status, stderr)."""
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run([sys.executable, "-m", "ckslab", *argv], stdout=write, stderr=subprocess.PIPE,
                              env={**os.environ, "CKSLAB_ROOT": str(root)}, text=True, timeout=120, check=False)
    finally:
        os.close(write)
    return done.returncode, done.stderr


def test_a_closed_stdout_keeps_the_report_files_and_ends_any_command_quietly(tmp_path: Path) -> None:
    """`ckslab exam report --json F --html H | head`: the files are written before the debrief is printed, and
    the closed pipe ends ckslab (any command: main handles it once) without a traceback, with 141 as SIGPIPE."""
    drawn = attempts.draw(3, 2, NOW, 120, False)
    result = debrief.build(drawn, {}, "2026-12-05T21:00:00+00:00", {})
    drawn.submitted, drawn.debrief = result["submitted"], dict(result)
    Session(LabPaths(tmp_path)).save(drawn)
    out_json, out_html = tmp_path / "d.json", tmp_path / "d.html"
    code, said = _closed_stdout_run(tmp_path, "exam", "report", "--json", str(out_json), "--html", str(out_html))
    assert (code, said) == (141, ""), said
    assert json.loads(out_json.read_text())["seed"] == 3 and "<html" in out_html.read_text()
    for argv in (("list",), ("exam", "status")):
        assert _closed_stdout_run(tmp_path, *argv) == (141, ""), argv


def test_the_exam_how_to_in_the_readme_gives_no_task_away() -> None:
    """A candidate reads the README's exam section to learn how to take the exam: what each task is and
    breaks is under its own spoiler heading, after the how-to."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    exam = readme[readme.index("\n## Mock exam\n"):]
    how_to, spoiler, _rest = exam.partition("\n### The task bank (spoilers: read after your attempt)\n")
    assert spoiler, "no spoiler section for the task bank"
    for task_id in bank.known():
        assert f"`{task_id}`" not in how_to, task_id
    for answer in ("-csrsigning", "--tls-cert-file", "--client-ca-file", "--etcd-certfile", "named\n`kubernetes`",
                   "expire within days", "signer turned off", "no longer starts", "forged"):
        assert answer not in how_to, answer


@pytest.mark.parametrize("task_id", [t for t in bank.known() if "kubelet" not in bank.load(t).needs])
def test_no_text_reads_a_process_list_that_holds_every_clusters_components(task_id: str) -> None:
    """Every exam cluster on the local backend runs on this machine: `ps -ef | grep kube-controller-manager`
    lists them all. A task's texts name `ckslab node flags COMPONENT` (this node's) instead; a kind node (a
    container with its own processes, the tasks that need a kubelet) is left out."""
    task = bank.load(task_id)
    texts = [task.statement, task.explanation] + [(bank.TASKS_DIR / task_id / f).read_text()
                                                  for f in ("setup.sh", "solution.sh")]
    for text in texts:
        assert not re.search(r"\bps (-ef|aux|-o args)\b", text), (task_id, text)


def test_a_script_past_its_time_says_its_last_line(project: Session, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A setup or solution killed at SCRIPT_TIMEOUT says the line it printed last (what it was waiting for)."""
    from exam import session as session_module

    monkeypatch.setattr(session_module, "SCRIPT_TIMEOUT", 2)
    monkeypatch.setattr(bank.Task, "script", lambda self, name, values: (
        "echo 'waiting for kube-apiserver to answer /readyz' >&2; sleep 30"))
    drawn = attempts.TaskAttempt("kubelet-ca", "cks-k", {}, 5)
    ok, said = project._run(drawn, "setup.sh", tmp_path, tmp_path / "kubeconfig")
    assert not ok
    assert said == "setup.sh took over 2s; its last line: waiting for kube-apiserver to answer /readyz"
