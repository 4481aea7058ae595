"""The Node seam (cluster/backends/node.py): what graders and lab scripts read, on each backend.

Unit tests use real files and real processes of a tree laid out as the local plane's; the
``cluster`` tests read the session's real local control plane, through the API and ``ckslab node``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from cluster import controlplane, process, state
from cluster.backends import node_of
from cluster.backends.existing import ExistingBackend
from cluster.backends.local import LocalBackend
from cluster.backends.local_node import LocalNode
from cluster.backends.node import ComponentNotRunning, NodeError, NodeUnreachable, flag_value, start_time
from cluster.controlplane import Layout
from cluster.paths import LabPaths


@pytest.fixture
def tree(tmp_path: Path) -> Layout:
    layout = Layout(tmp_path / ".lab" / "local")
    (layout.pki).mkdir(parents=True)
    (layout.pki / "ca.crt").write_bytes(b"CA")
    return layout


@pytest.fixture
def fake_apiserver(tree: Layout) -> Iterator[subprocess.Popen[bytes]]:
    """A real process whose command line names the tree (as our components' do) and an audit log."""
    log = tree.audit_log
    log.parent.mkdir(parents=True)
    (log.parent / "audit-2026-01-01T00-00-00.000.log").write_text('{"old": 1}\n')
    log.write_text('{"new": 2}\n')
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "kube-apiserver",
                             f"--audit-log-path={log}", str(tree.base)])
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def test_the_existing_backend_says_in_one_line_that_its_node_is_unreachable(tmp_path: Path) -> None:
    with pytest.raises(NodeUnreachable) as caught:
        ExistingBackend(LabPaths(tmp_path)).node()
    assert "\n" not in str(caught.value) and "existing" in caught.value.message
    assert "make up BACKEND=local" in caught.value.hint


def test_no_cluster_up_is_one_error_with_its_fix(tmp_path: Path) -> None:
    with pytest.raises(NodeError) as caught:
        node_of(LabPaths(tmp_path))
    assert "make up" in caught.value.hint


def test_local_node_paths_are_the_nodes_under_the_tree(tree: Layout) -> None:
    node = LocalNode(tree, lambda _c: 0)
    assert node.path("/etc/kubernetes/pki/ca.crt") == str(tree.pki / "ca.crt")
    assert node.path(str(tree.pki / "ca.crt")) == str(tree.pki / "ca.crt")  # a host path stays
    assert node.read_file("/etc/kubernetes/pki/ca.crt") == b"CA"
    found = node.read_files(["/etc/kubernetes/pki/ca.crt", "/etc/kubernetes/pki/gone.crt"])
    assert found["/etc/kubernetes/pki/ca.crt"].data == b"CA"
    assert abs(found["/etc/kubernetes/pki/ca.crt"].mtime - (tree.pki / "ca.crt").stat().st_mtime) < 1.0
    assert found["/etc/kubernetes/pki/gone.crt"].data is None
    with pytest.raises(NodeError) as caught:
        node.read_file("/etc/kubernetes/pki/gone.crt")
    assert str(tree.pki / "gone.crt") in caught.value.message


def test_local_node_writes_a_file_at_once_keeping_its_mode(tree: Layout) -> None:
    node = LocalNode(tree, lambda _c: 0)
    key = tree.pki / "ca.key"
    key.write_bytes(b"old")
    key.chmod(0o600)
    node.write_file("/etc/kubernetes/pki/ca.key", b"new")
    assert key.read_bytes() == b"new" and key.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tree.pki.iterdir() if p.name.startswith(".")] == []


def test_local_node_reads_a_running_process_its_start_and_audit_log(tree: Layout,
                                                                     fake_apiserver: subprocess.Popen[bytes]) -> None:
    pid = fake_apiserver.pid
    node = LocalNode(tree, lambda c: pid if c == controlplane.APISERVER else 0)
    command = node.running_command(controlplane.APISERVER)
    assert command[-1] == str(tree.base) and flag_value(command, "--audit-log-path") == str(tree.audit_log)
    started = node.started_at(controlplane.APISERVER)
    assert abs((dt.datetime.now(dt.timezone.utc) - started).total_seconds()) < 30
    expected = process.start_time(pid)
    assert expected is not None and abs((started - expected).total_seconds()) < 0.05
    audit = node.audit_log()
    assert audit.lines == ('{"old": 1}', '{"new": 2}') and audit.where == str(tree.audit_log)
    with pytest.raises(ComponentNotRunning) as caught:
        node.running_command(controlplane.SCHEDULER)
    assert "kube-scheduler is not running" in caught.value.message and "make up" in caught.value.hint
    fake_apiserver.kill()
    fake_apiserver.wait()
    with pytest.raises(ComponentNotRunning):
        node.started_at(controlplane.APISERVER)


def test_start_time_from_proc_matches_this_process() -> None:
    stat = Path(f"/proc/{os.getpid()}/stat").read_text()
    found = start_time(stat, Path("/proc/uptime").read_text(), str(time.time()), str(os.sysconf("SC_CLK_TCK")))
    expected = process.start_time(os.getpid())
    assert expected is not None and abs((found - expected).total_seconds()) < 0.1


def test_flag_value_takes_the_last_given() -> None:
    assert flag_value(["x", "--a=1", "--a", "2"], "--a") == "2"
    assert flag_value(["x", "--ab=1"], "--a") is None


# --- the real local control plane ------------------------------------------------------------


@pytest.mark.cluster
def test_the_local_planes_node_reads_what_the_cluster_runs(local_cluster: LocalBackend) -> None:
    node = node_of(local_cluster.lab)
    assert node.read_file("/etc/kubernetes/pki/ca.crt") == local_cluster.ca_certificate()
    current = state.read(local_cluster.lab.state_file)
    assert current is not None
    pid = current.details["pids"][controlplane.CONTROLLER_MANAGER]
    command = node.running_command(controlplane.CONTROLLER_MANAGER)
    assert command == Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").decode().split("\0")
    expected = process.start_time(pid)
    assert expected is not None
    assert abs((node.started_at(controlplane.CONTROLLER_MANAGER) - expected).total_seconds()) < 0.05
    assert any('"certificatesigningrequests"' in line for line in node.audit_log().lines)  # up's preflight CSR
    assert node.kubeadm("certs", "check-expiration").returncode == 0


@pytest.mark.cluster
def test_ckslab_node_gives_scripts_the_same(local_cluster: LocalBackend) -> None:
    env = {**os.environ, "CKSLAB_ROOT": str(local_cluster.lab.root)}

    def ckslab(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([sys.executable, "-m", "ckslab", "node", *args], env=env, input=stdin,
                              capture_output=True, timeout=120, check=False)

    flags = ckslab("flags", "controller-manager")
    assert flags.returncode == 0
    assert flags.stdout.decode().splitlines() == local_cluster.running_command(controlplane.CONTROLLER_MANAGER)
    assert ckslab("cat", "/etc/kubernetes/pki/ca.crt").stdout == local_cluster.ca_certificate()
    started = dt.datetime.fromisoformat(ckslab("started", "apiserver").stdout.decode().strip())
    assert abs((started - local_cluster.node().started_at(controlplane.APISERVER)).total_seconds()) < 0.05
    assert ckslab("write", "/etc/kubernetes/ckslab-test.txt", stdin=b"hello").returncode == 0
    assert ckslab("exec", "--", "cat", "etc/kubernetes/ckslab-test.txt").stdout == b"hello"  # runs in the tree
    os.unlink(local_cluster.layout.etc / "ckslab-test.txt")
    wrong = ckslab("flags", "kubelet")
    assert wrong.returncode == 2 and b"unknown component" in wrong.stderr and b"Traceback" not in wrong.stderr


def test_ckslab_node_on_an_existing_cluster_is_one_line_with_its_fix(lab_root: Path) -> None:
    (lab_root / ".lab").mkdir()
    (lab_root / ".lab" / "state.json").write_text('{"backend": "existing", "version": "v1.37.0", "server": "s"}')
    for args in (("node", "info"), ("node", "flags", "apiserver"), ("controlplane", "flags", "apiserver")):
        done = subprocess.run([sys.executable, "-m", "ckslab", *args], capture_output=True, text=True, timeout=60,
                              env={**os.environ, "CKSLAB_ROOT": str(lab_root), "COLUMNS": "400"}, check=False)
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert "cannot reach the nodes of the existing cluster" in done.stderr and "BACKEND=local" in done.stderr


def test_kinds_admin_kubeconfig_command_runs_in_a_terminal_and_leaves_no_other_user() -> None:
    """The hint after a wrong kubeconfig (super-admin.conf) is typed in a JupyterLab terminal, where kind is on
    no PATH; kind merges into an existing file, which would keep super-admin's user beside the admin's."""
    from cluster import binaries
    from cluster.backends.kind_node import KindNode

    typed = KindNode("lab-b-control-plane", "docker").admin_kubeconfig_typed("/p/.lab/kubeconfig")
    assert typed.startswith(f"{binaries.cached().kind} export kubeconfig --name lab-b ")
    assert "--kubeconfig /p/.lab/kubeconfig.new && mv /p/.lab/kubeconfig.new /p/.lab/kubeconfig" in typed


def test_controlplane_without_a_component_asks_which(capsys: pytest.CaptureFixture[str],
                                                     lab_root: Path) -> None:
    from ckslab import cli

    (lab_root / ".lab").mkdir()
    state.write(lab_root / ".lab" / "state.json", state.ClusterState("local", "v1.37.0", "https://127.0.0.1:1", {}))
    code = cli.main(["controlplane", "show"])
    said = capsys.readouterr().err
    assert code != 0 and "which component?" in said and "None" not in said


def test_kind_show_of_a_manifest_moved_out_says_so_and_how_to_put_it_back(tmp_path: Path) -> None:
    """The exam's restart (the manifest moved out of the kubelet's folder) is no 'stopped cluster'."""
    from cluster.backends.kind import KindBackend
    from cluster.errors import CkslabError
    from cluster.paths import LabPaths

    client = tmp_path / "bin" / "docker"
    client.parent.mkdir()
    client.write_text('#!/bin/sh\n[ "$1 $3" = "exec test" ] && exit 1\necho "unexpected $*" >&2; exit 99\n')
    client.chmod(0o755)
    (tmp_path / ".lab").mkdir()
    state.write(tmp_path / ".lab" / "state.json", state.ClusterState(
        "kind", "v1.37.0", "https://127.0.0.1:1", {"cluster": "lab-b", "engine": "docker", "engine_command": str(client)}))
    with pytest.raises(CkslabError) as raised:
        KindBackend(LabPaths(tmp_path)).show_component("kube-controller-manager")
    said = str(raised.value)
    assert "is not in the node lab-b-control-plane (moved out?)" in said and "Put it back" in said
    assert "make up" not in said


# --- kind's status: the node's static pods as crictl and their manifests show them (no engine needed) ----

def _crictl(*containers: tuple[str, str, int, int, str]) -> str:
    return json.dumps({"containers": [
        {"id": f"{name[:4]}{created:060d}", "metadata": {"name": name, "attempt": restarts}, "state": state_,
         "createdAt": str(created), "labels": {"io.kubernetes.container.name": name,
                                               "io.kubernetes.pod.namespace": namespace},
         "annotations": {"io.kubernetes.container.restartCount": str(restarts)}}
        for name, state_, created, restarts, namespace in containers]})


def test_kind_status_reads_each_components_newest_container_and_its_managers_probe() -> None:
    from cluster.backends import kind_status
    from cluster.backends.kind_node import KindNode

    listed = kind_status.newest_containers(_crictl(
        ("kube-scheduler", "CONTAINER_EXITED", 1, 0, "kube-system"),
        ("kube-scheduler", "CONTAINER_RUNNING", 2, 1, "kube-system"),
        ("kube-controller-manager", "CONTAINER_EXITED", 3, 4, "kube-system"),
        ("etcd", "CONTAINER_RUNNING", 5, 0, "other")))  # not the control plane's
    assert listed["kube-scheduler"].state == "CONTAINER_RUNNING" and listed["kube-scheduler"].restarts == 1
    assert set(listed) == {"kube-scheduler", "kube-controller-manager"}
    pod = {"kind": "Pod", "metadata": {"name": "kube-apiserver"}, "spec": {"containers": [
        {"ports": [{"name": "probe-port", "containerPort": 6443}],
         "livenessProbe": {"httpGet": {"host": "172.18.0.4", "port": "probe-port", "path": "/livez", "scheme": "HTTPS"}}}]}}
    assert kind_status.liveness_url(pod) == "https://172.18.0.4:6443/livez"
    sep = kind_status._SEPARATOR
    folder = kind_status.manifests(f"{sep} /etc/kubernetes/manifests/kube-apiserver.yaml\n{json.dumps(pod)}\n"
                                   f"{sep} /etc/kubernetes/manifests/etcd.yaml\nspec: [unclosed\n")
    assert set(folder.pods) == {"kube-apiserver"} and "not YAML" in folder.broken["/etc/kubernetes/manifests/etcd.yaml"]

    node = KindNode("ckslab-control-plane", "docker")
    rows = {name: kind_status.component_row(node, name, listed.get(name), folder, "https://172.18.0.4:6443/livez", "200")
            for name in controlplane.COMPONENTS}
    assert not rows["etcd"].running and "its manifest /etc/kubernetes/manifests/etcd.yaml runs nothing: not YAML" \
        in rows["etcd"].detail
    assert not rows["kube-scheduler"].healthy and "(moved out?)" in rows["kube-scheduler"].detail
    assert rows["kube-scheduler"].detail.startswith("still running, stopping: ")  # the kubelet has not seen it yet
    folder.pods.update({"kube-controller-manager": pod, "kube-scheduler": pod})
    manager = kind_status.component_row(node, "kube-controller-manager", listed["kube-controller-manager"], folder, "", "")
    assert not manager.running and manager.detail.startswith("container kube000000000 exited, 4 restarts: see "
                                                             "`docker exec ckslab-control-plane crictl logs --tail 20 ")
    scheduler = kind_status.component_row(node, "kube-scheduler", listed["kube-scheduler"], folder,
                                          "https://127.0.0.1:10259/livez", "000")
    assert scheduler.running and not scheduler.healthy and scheduler.detail.endswith("does not answer")
