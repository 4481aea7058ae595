"""The manifests folder as the kubelet's file source reads it, and the local kubelet loop's stops.

No cluster: the folder is written by hand, and the "components" whose manifests go away are
``sleep`` processes carrying the cluster's folder in their command line, as ours do.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from cluster import controlplane, process, state, staticpods
from cluster.backends import local_kubelet
from cluster.backends.local import LocalBackend
from cluster.controlplane import COMPONENTS, CONTROLLER_MANAGER, SCHEDULER, Layout, Ports
from cluster.paths import LabPaths

PORTS = Ports(2379, 2380, 6443, 10257, 10259)


def write_manifests(layout: Layout) -> None:
    layout.manifests.mkdir(parents=True, exist_ok=True)
    for component, command in controlplane.commands(layout, PORTS).items():
        layout.manifest(component).write_bytes(controlplane.dump_manifest(controlplane.manifest(component, command)))


def test_a_whole_folder_asks_for_the_four_components(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    write_manifests(layout)
    folder = staticpods.scan(layout.manifests)
    assert sorted(folder.pods) == sorted(COMPONENTS) and folder.problems == []
    assert folder.pods[SCHEDULER].command[0] == SCHEDULER
    assert folder.pods[SCHEDULER].path == layout.manifest(SCHEDULER)


def test_hidden_files_and_folders_are_not_read(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    write_manifests(layout)
    kcm = layout.manifest(CONTROLLER_MANAGER)
    kcm.rename(layout.manifests / ".kube-controller-manager.yaml.swp")  # an editor's file: ignored
    (layout.manifests / "old").mkdir()
    (layout.manifests / "old" / "kube-controller-manager.yaml").write_text(
        (layout.manifests / ".kube-controller-manager.yaml.swp").read_text())
    folder = staticpods.scan(layout.manifests)
    assert CONTROLLER_MANAGER not in folder.pods
    assert [p.reason for p in folder.problems] == ["a folder: not read (the kubelet does not recurse)"]


def test_a_broken_manifest_runs_nothing_and_says_why(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    write_manifests(layout)
    kcm = layout.manifest(CONTROLLER_MANAGER)
    kcm.write_text(kcm.read_text().replace("    - --leader-elect=false", "   - --leader-elect=false"))
    folder = staticpods.scan(layout.manifests)
    assert CONTROLLER_MANAGER not in folder.pods
    problem = folder.problem_of(CONTROLLER_MANAGER)
    assert problem is not None and problem.path == kcm
    assert "not valid YAML" in problem.reason and "line" in problem.reason


def test_of_two_files_naming_one_pod_the_later_name_runs(tmp_path: Path) -> None:
    """A backup left in the folder: the kubelet keys pods by name, the later file in name order wins."""
    layout = Layout(tmp_path)
    write_manifests(layout)
    kcm = layout.manifest(CONTROLLER_MANAGER)
    backup = layout.manifests / "kube-controller-manager.yaml.bak"
    backup.write_text(kcm.read_text().replace("--leader-elect=false", "--leader-elect=false\n    - --v=2"))
    folder = staticpods.scan(layout.manifests)
    assert folder.pods[CONTROLLER_MANAGER].path == backup
    assert "--v=2" in folder.pods[CONTROLLER_MANAGER].command
    assert folder.shadowed == [(kcm, backup)]


def test_a_pod_of_another_name_is_ignored(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    write_manifests(layout)
    (layout.manifests / "nginx.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: nginx}\nspec:\n  containers:\n  - {name: n, command: [nginx]}\n")
    folder = staticpods.scan(layout.manifests)
    assert sorted(folder.pods) == sorted(COMPONENTS)
    assert "runs only etcd" in folder.problems[0].reason and folder.problems[0].component is None


def test_the_digest_ignores_layout_and_comments_not_content(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    write_manifests(layout)
    text = layout.manifest(SCHEDULER).read_text()
    same = "# a comment\n" + text.replace("spec:\n", "spec:  # the pod\n") + "\n# the end\n"
    changed = text.replace("--leader-elect=false", "--leader-elect=false\n    - --v=4")
    assert staticpods.text_digest(same) == staticpods.text_digest(text)
    assert staticpods.text_digest(changed) != staticpods.text_digest(text)


def test_a_folder_just_written_is_not_settled(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    write_manifests(layout)
    now = time.time()
    assert not staticpods.settled(layout.manifests, now, 5.0)
    assert staticpods.settled(layout.manifests, now + 10, 5.0)


# --- the loop's stops, on stand-in processes -------------------------------------------------


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[LocalBackend, dict[str, int]]]:
    """A state naming four ``sleep`` processes whose command lines hold the cluster's folder."""
    backend = LocalBackend(LabPaths(tmp_path))
    write_manifests(backend.layout)
    children = {c: subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", backend.marker]) for c in COMPONENTS}
    pids = {c: p.pid for c, p in children.items()}
    applied = {c: staticpods.text_digest(backend.layout.manifest(c).read_text()) for c in COMPONENTS}
    state.write(backend.lab.state_file, state.ClusterState("local", "v1.37.0", "https://127.0.0.1:6443", {
        "ports": vars(PORTS), "pids": pids, "applied": applied}))
    yield backend, pids
    for child in children.values():
        child.kill()
        child.wait()


def settle(backend: LocalBackend) -> None:
    old = time.time() - 10  # as if the learner's move happened seconds ago
    for path in staticpods.entries(backend.layout.manifests):
        os.utime(path, (old, old))


def test_a_manifest_moved_out_stops_its_component_and_says_so(cluster: tuple[LocalBackend, dict[str, int]],
                                                              tmp_path: Path) -> None:
    backend, pids = cluster
    said: list[str] = []
    kubelet = local_kubelet.Kubelet(backend, said.append)
    assert kubelet.sync() and said == []  # nothing to do: every manifest is applied
    backend.layout.manifest(SCHEDULER).rename(tmp_path / "kube-scheduler.yaml")
    settle(backend)
    assert kubelet.sync()
    assert not process.is_running(pids[SCHEDULER], backend.marker)
    assert all(process.is_running(pids[c], backend.marker) for c in COMPONENTS if c != SCHEDULER)
    details = json.loads(backend.lab.state_file.read_text())["details"]
    assert details["pids"][SCHEDULER] == pids[SCHEDULER] and details["applied"][SCHEDULER] == ""  # "was pid N"
    assert "no manifest in" in details["problems"][SCHEDULER] and "moved out?" in details["problems"][SCHEDULER]
    assert any("Stopping it" in line for line in said)
    status = backend.status()
    assert status is not None
    scheduler = next(c for c in status.components if c.name == SCHEDULER)
    assert not scheduler.running and "moved out?" in scheduler.detail
    assert "is not running: stopped: no manifest" in backend.following_note(SCHEDULER)
    assert kubelet.sync() and not any("exited" in line for line in said)  # our own stop is no crash


def test_a_broken_manifest_stops_its_component_with_the_reason(cluster: tuple[LocalBackend, dict[str, int]]) -> None:
    backend, pids = cluster
    said: list[str] = []
    kcm = backend.layout.manifest(CONTROLLER_MANAGER)
    kcm.write_text(kcm.read_text() + "  - : [\n")
    settle(backend)
    assert local_kubelet.Kubelet(backend, said.append).sync()
    assert not process.is_running(pids[CONTROLLER_MANAGER], backend.marker)
    problem = json.loads(backend.lab.state_file.read_text())["details"]["problems"][CONTROLLER_MANAGER]
    assert f"its manifest {kcm} runs nothing" in problem and "not valid YAML" in problem
    assert any("not valid YAML" in line for line in said)


def test_the_reason_is_on_disk_before_the_component_stops(cluster: tuple[LocalBackend, dict[str, int]],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Whoever sees the process gone (``status``, a grader) reads why: no moment without the reason."""
    backend, pids = cluster
    kcm = backend.layout.manifest(CONTROLLER_MANAGER)
    kcm.write_text(kcm.read_text() + "  - : [\n")
    settle(backend)
    seen: list[str] = []
    stop = process.stop_pid

    def stop_and_look(pid: int, name: str, marker: str = "", **kwargs: float) -> None:
        stop(pid, name, marker, **kwargs)
        status = backend.status()
        assert status is not None
        seen.append(next(c for c in status.components if c.name == name).detail)

    monkeypatch.setattr(process, "stop_pid", stop_and_look)
    assert local_kubelet.Kubelet(backend, lambda _m: None).sync()
    assert len(seen) == 1 and "runs nothing" in seen[0] and "not valid YAML" in seen[0], seen


def test_an_idle_pass_reads_no_manifest_until_one_changes(cluster: tuple[LocalBackend, dict[str, int]],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Idle, the loop only stats the folder (a class pays its CPU per learner); any write is read."""
    backend, pids = cluster
    settle(backend)
    scans: list[Path] = []
    scan = staticpods.scan
    monkeypatch.setattr(staticpods, "scan", lambda folder: scans.append(folder) or scan(folder))
    kubelet = local_kubelet.Kubelet(backend, lambda _m: None)
    assert kubelet.sync() and len(scans) == 1  # nothing to do: remembered
    assert kubelet.sync() and kubelet.sync() and len(scans) == 1
    state.write(backend.lab.state_file, state.read(backend.lab.state_file))  # `up` or a restart wrote it
    assert kubelet.sync() and len(scans) == 2
    kcm = backend.layout.manifest(CONTROLLER_MANAGER)
    text = kcm.read_text()
    assert "  name: kube-controller-manager\n" in text
    kcm.write_text(text.replace("  name: kube-controller-manager\n", "  name: kube-controller-managex\n"))  # same size
    settle(backend)
    assert kubelet.sync() and len(scans) >= 3
    assert not process.is_running(pids[CONTROLLER_MANAGER], backend.marker)  # no manifest names it now: stopped


def test_a_component_that_exits_by_itself_is_reported_once(cluster: tuple[LocalBackend, dict[str, int]]) -> None:
    backend, pids = cluster
    said: list[str] = []
    kubelet = local_kubelet.Kubelet(backend, said.append)
    os.kill(pids[SCHEDULER], 9)
    process.stop_pid(pids[SCHEDULER], SCHEDULER)  # reaps it
    assert kubelet.sync() and kubelet.sync()
    assert sum("exited by itself" in line for line in said) == 1
    problem = json.loads(backend.lab.state_file.read_text())["details"]["problems"][SCHEDULER]
    assert "exited by itself" in problem and "make up" in problem


def test_a_cluster_started_before_the_loop_is_adopted_not_restarted(
        cluster: tuple[LocalBackend, dict[str, int]]) -> None:
    backend, pids = cluster
    current = state.read(backend.lab.state_file)
    assert current is not None
    del current.details["applied"]
    state.write(backend.lab.state_file, current)
    settle(backend)
    assert local_kubelet.Kubelet(backend, lambda _m: None).sync()
    details = json.loads(backend.lab.state_file.read_text())["details"]
    assert details["pids"] == pids
    assert details["applied"][SCHEDULER] == staticpods.text_digest(backend.layout.manifest(SCHEDULER).read_text())


def test_the_loop_ends_when_the_cluster_is_gone(tmp_path: Path) -> None:
    backend = LocalBackend(LabPaths(tmp_path))
    assert local_kubelet.Kubelet(backend, lambda _m: None).sync() is False


def test_a_failure_is_one_line_with_the_logs_last_error() -> None:
    message = ("kube-scheduler exited with code 1 while starting; the end of /x/kube-scheduler.log:\n"
               "    Error: unknown flag: --no-such-flag\n      --v Level   number for the log level\n")
    assert local_kubelet.one_line(message) == ("kube-scheduler exited with code 1 while starting; the end of "
                                               "/x/kube-scheduler.log: ... Error: unknown flag: --no-such-flag")
    assert local_kubelet.one_line("just this") == "just this"
