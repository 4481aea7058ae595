"""The exam's kubelet tasks without a cluster: their context, kind's cluster name, the node shell, and
a machine where kind cannot run (the tasks are left out, said in one line)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from ckslab import cli
from cluster import state
from cluster.backends.base import Availability
from cluster.backends.kind import KindBackend
from cluster.backends.local import LocalBackend
from cluster.errors import UsageError
from cluster.paths import LabPaths
from exam import attempt as attempts
from exam import bank, clusters
from exam.session import Session

KUBELET_TASKS = ("kubelet-serving", "kubelet-ca")


def test_kubelet_tasks_need_a_kubelet_and_are_drawn_into_the_kind_context() -> None:
    tasks = [bank.load(t) for t in KUBELET_TASKS]
    assert all(t.needs == ("kubelet",) for t in tasks)
    drawn = attempts.draw(7, None, dt.datetime.now(dt.timezone.utc), 120, False, tasks + [bank.load("csr-review")])
    contexts = {t.id: t.context for t in drawn.tasks}
    assert contexts["kubelet-serving"] == contexts["kubelet-ca"] == "cks-k" and contexts["csr-review"] != "cks-k"
    assert drawn.contexts == ("cks-a", "cks-b", "cks-k")
    assert "cks-k" in attempts.KNOWN_CONTEXTS  # `ckslab exam down` stops it too


def test_a_need_the_bank_does_not_know_is_refused(tmp_path: Path) -> None:
    doc = {"id": "x", "title": "t", "weight": 1, "statement": "s", "explanation": "e", "lab": "l",
           "docs": "https://kubernetes.io/docs/x", "checks": [{"name": "c", "title": "c", "points": 1}],
           "needs": ["gpu"]}
    with pytest.raises(ValueError, match="needs may name kubelet, not gpu"):
        bank._parse(doc, "x")


def test_the_kind_context_is_a_kind_cluster_of_the_projects_own_name(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KIND_CLUSTER_NAME", raising=False)
    one, two = LabPaths(tmp_path / "one"), LabPaths(tmp_path / "two")
    kind = clusters.backend_for(one, "cks-k")
    assert isinstance(kind, KindBackend) and isinstance(clusters.backend_for(one, "cks-a"), LocalBackend)
    assert kind.cluster_name.startswith("ckslab-exam-")
    assert kind.cluster_name != clusters.backend_for(two, "cks-k").cluster_name  # two checkouts, two clusters
    monkeypatch.setenv("KIND_CLUSTER_NAME", "ckslab-examkind")
    assert clusters.backend_for(one, "cks-k").cluster_name.startswith("ckslab-examkind-exam-")
    # Once made, its recorded name is kept whatever KIND_CLUSTER_NAME says later (down finds it).
    state.write(kind.lab.state_file, state.ClusterState("kind", "v1.37.0", "", {"cluster": "made-before"}))
    assert clusters.backend_for(one, "cks-k").cluster_name == "made-before"


def test_ssh_into_the_kind_context_is_the_engines_exec_into_its_node(tmp_path: Path) -> None:
    project = LabPaths(tmp_path)
    kind = clusters.backend_for(project, "cks-k")
    engine = "/usr/bin/true"  # an executable the state names as the engine client
    state.write(kind.lab.state_file, state.ClusterState(
        "kind", "v1.37.0", "", {"cluster": "exam-x", "engine": "docker", "engine_command": engine}))
    argv, _env, _cwd = clusters.node_shell(project, "cks-k", ["crictl", "ps"])
    assert argv[:2] == [engine, "exec"] and argv[-3:] == ["exam-x-control-plane", "crictl", "ps"]
    assert "KUBECONFIG=/etc/kubernetes/admin.conf" in argv
    argv, _env, _cwd = clusters.node_shell(project, "cks-k", None)
    assert argv[-3:] == ["exam-x-control-plane", "bash", "-l"]


def test_without_kind_the_kubelet_tasks_are_left_out_in_one_line() -> None:
    pool = [bank.load(t) for t in (*KUBELET_TASKS, "csr-review")]
    assert attempts.without_kubelet(pool, "") == (pool, "")
    kept, line = attempts.without_kubelet(pool, "Docker is not installed")
    assert [t.id for t in kept] == ["csr-review"]
    assert "\n" not in line and "kubelet-serving, kubelet-ca" in line and "Docker is not installed" in line
    with pytest.raises(UsageError, match="needs a kubelet"):
        attempts.without_kubelet(pool[:2], "Docker is not installed")


def test_start_without_kind_leaves_the_kubelet_tasks_out_of_the_exam_and_its_maximum(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clusters, "kind_available", lambda: Availability(False, "no engine answers"))
    started: list[tuple[str, ...]] = []
    # No cluster: what start asks to be started is recorded instead (the draw is what is tested here).
    monkeypatch.setattr(clusters, "ensure", lambda _p, contexts, _s, *_started: started.append(contexts))
    monkeypatch.setattr(Session, "_setup", lambda *_a: None)
    said: list[str] = []
    fresh = Session(LabPaths(tmp_path)).start(1, None, 120, False, said.append,
                                              only=[*KUBELET_TASKS, "csr-review"])
    assert [t.id for t in fresh.tasks] == ["csr-review"] and "cks-k" not in fresh.contexts
    assert started == [("cks-a", "cks-b")]
    assert [s for s in said if "kubelet" in s] == [next(s for s in said if "left out" in s)]


def test_start_of_kubelet_tasks_only_without_kind_is_one_line(lab_root: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(clusters, "kind_available", lambda: Availability(False, "no engine answers"))
    assert cli.main(["exam", "start", "--only", ",".join(KUBELET_TASKS)]) != 0
    said = capsys.readouterr()
    assert "kind cannot run here: no engine answers" in said.err and "Traceback" not in said.err + said.out
    assert not (lab_root / ".lab" / "exam" / "attempt.json").exists()
