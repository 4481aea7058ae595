"""KIND_CLUSTER_NAME: two checkouts on one machine each have their own kind cluster and node.

Hermetic: no engine is asked anything; the state file is what ``up`` records.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cluster import state
from cluster.backends import kind
from cluster.backends.kind import KindBackend
from cluster.errors import CkslabError
from cluster.paths import LabPaths
from labs import catalog
from labs.engine import LabRun


def _record(root: Path, backend: str, cluster: str | None, **engine: str) -> Path:
    details = {"cluster": cluster, **engine} if cluster else {}
    path = root / ".lab" / "state.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    state.write(path, state.ClusterState(backend, "v1.37.0", "https://127.0.0.1:1", details))
    return path


def test_the_name_comes_from_kinds_own_variable() -> None:
    code = "from cluster.backends import kind; print(kind.CLUSTER_NAME, kind.NODE)"
    for value, expected in (("", "ckslab ckslab-control-plane"), ("lab-b", "lab-b lab-b-control-plane")):
        env = {**os.environ, "KIND_CLUSTER_NAME": value}
        shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
        assert shown.stdout.strip() == expected


@pytest.mark.parametrize("name", ["Lab_B", "-lab", "lab b", "lab-"])
def test_a_name_kind_would_refuse_is_one_line_with_the_fix(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setattr(kind, "CLUSTER_NAME", name)
    with pytest.raises(CkslabError) as raised:
        kind.check_cluster_name()
    assert repr(name) in raised.value.message and "unset KIND_CLUSTER_NAME" in (raised.value.hint or "")


def test_the_node_is_the_one_up_recorded(tmp_path: Path) -> None:
    recorded = _record(tmp_path, "kind", "lab-b")
    assert kind.node_for(recorded) == "lab-b-control-plane"
    assert kind.node_for(tmp_path / "missing.json") == kind.NODE
    recorded.write_text("{not json")
    assert kind.node_for(recorded) == kind.NODE


def test_down_under_another_name_refuses_and_deletes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recorded = _record(tmp_path, "kind", "lab-b")
    monkeypatch.setattr(kind, "CLUSTER_NAME", "lab-c")
    with pytest.raises(CkslabError) as raised:
        KindBackend(LabPaths(tmp_path)).down(print)
    assert "KIND_CLUSTER_NAME=lab-b make down" in (raised.value.hint or "")
    assert json.loads(recorded.read_text())["details"]["cluster"] == "lab-b"


def test_lab_scripts_are_told_the_node_and_the_engine_up_recorded(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A cluster made on podman is reached through podman, even where Docker is the engine found now."""
    monkeypatch.setattr(kind, "detected_engine", lambda: ("docker", "/usr/bin/docker"))
    client = tmp_path / "bin" / "podman"
    client.parent.mkdir()
    client.write_text("#!/bin/sh\n")
    client.chmod(0o755)
    lab = catalog.load("signing-config")
    _record(tmp_path, "kind", "lab-b", engine="podman", engine_command=str(client))
    env = LabRun(lab, "jane", tmp_path / "workspace", tmp_path / ".lab" / "kubeconfig", tmp_path, "").env()
    assert (env["CKSLAB_KIND_NODE"], env["CKSLAB_ENGINE"]) == ("lab-b-control-plane", str(client))
    monkeypatch.setenv("CKSLAB_ROOT", str(tmp_path))
    assert kind.engine() == ("podman", str(client))  # graders and `down` ask kind.engine()
    client.unlink()  # the recorded client is gone: podman's, wherever PATH has it
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert kind.engine() == ("podman", "podman")
    _record(tmp_path, "kind", "lab-b")  # recorded before engines were recorded: the one found now
    assert kind.engine() == ("docker", "/usr/bin/docker")
    _record(tmp_path, "local", None)
    env = LabRun(lab, "jane", tmp_path / "workspace", tmp_path / ".lab" / "kubeconfig", tmp_path, "").env()
    assert "CKSLAB_KIND_NODE" not in env


def test_down_racing_kinds_own_clean_up_waits_for_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`make down` while kind create is failing: the engine's 'removal already in progress' is waited out."""
    _record(tmp_path, "kind", kind.CLUSTER_NAME)
    answers = [subprocess.CompletedProcess([], 1, "", 'ERROR: failed to delete cluster "ckslab": error: removal of '
                                           'container ckslab-control-plane is already in progress'),
               subprocess.CompletedProcess([], 0, "", "")]
    asked: list[tuple[str, ...]] = []

    def fake_kind(self: KindBackend, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        asked.append(args)
        return answers.pop(0) if args[:2] == ("delete", "cluster") else subprocess.CompletedProcess([], 0, "", "")

    inspected: list[str] = []

    def fake_docker(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        inspected.append(" ".join(args))
        gone = len([a for a in inspected if a.startswith("inspect")]) > 2  # removed on the third look
        return subprocess.CompletedProcess([], 1 if gone or args[0] == "network" else 0, "", "")

    monkeypatch.setattr(KindBackend, "_kind", fake_kind)
    monkeypatch.setattr(kind, "_docker", fake_docker)
    KindBackend(LabPaths(tmp_path))._delete()
    assert [a[:2] for a in asked] == [("delete", "cluster"), ("delete", "cluster")]
    assert not answers


def test_notebooks_and_lab_scripts_reach_the_node_through_the_engine_they_are_told() -> None:
    """No code cell or lab script runs `docker` itself: on a cluster made on podman it would find no node."""
    import re

    import nbformat

    from cluster.paths import checkout

    literal = re.compile(r"(^|[\s;|&(`$])docker\s+exec\b")
    found = []
    for path in sorted((checkout() / "notebooks").glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code" and literal.search(cell.source):
                found.append(f"{path.name}: {literal.search(cell.source).group(0)!r}")  # type: ignore[union-attr]
    for path in sorted((checkout() / "labs").glob("*/*.sh")):
        if literal.search(path.read_text()):
            found.append(str(path.relative_to(checkout())))
    assert not found, found
