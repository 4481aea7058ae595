"""The local backend follows its manifests folder like a kubelet, on a real control plane.

The exam's way to restart a static pod, moving its manifest out of the folder and back, and an
edit of a flag, work on the local backend as on a kubeadm node; a broken manifest is reported
without stopping the loop; ``ckslab controlplane restart`` does not fight it; ``down`` leaves no
process. One cluster for the module, started and driven through the real ``ckslab`` command.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from cluster import process
from cluster.backends import local_kubelet
from cluster.backends.local import LocalBackend
from cluster.controlplane import COMPONENTS, CONTROLLER_MANAGER, SCHEDULER
from cluster.paths import LabPaths
from cluster.waiting import wait_until

pytestmark = pytest.mark.cluster

#: Seconds the loop may take to notice and act (a poll, the quiet time, a stop or a start).
NOTICE = 20.0


def ckslab(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # COLUMNS: a table wide enough that a reason is never wrapped inside its cell.
    return subprocess.run([sys.executable, "-m", "ckslab", *args], capture_output=True, text=True,
                          env={**os.environ, "CKSLAB_ROOT": str(root), "COLUMNS": "1000"}, timeout=180, check=False)


def details(root: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((root / ".lab" / "state.json").read_text())["details"]
    return data


def pid_of(root: Path, component: str) -> int:
    pids = details(root)["pids"]
    assert isinstance(pids, dict)
    return int(pids[component])


def cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").decode().split("\0")
    except OSError:
        return []


def base(root: Path) -> Path:
    return root / ".lab" / "local"


def manifest(root: Path, component: str) -> Path:
    return base(root) / "etc" / "kubernetes" / "manifests" / f"{component}.yaml"


def ours(root: Path) -> list[int]:
    """Every process of this cluster: components and the kubelet loop."""
    return process.processes_with(str(base(root)), COMPONENTS) + local_kubelet.find(base(root))


def running_again(root: Path, component: str, old: int) -> int | None:
    """The component's new pid once it runs and `status` is healthy again."""
    pid = pid_of(root, component)
    if pid != old and process.is_running(pid, str(base(root))):
        status = LocalBackend(LabPaths(root)).status()
        if status is not None and status.healthy:
            return pid
    return None


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory, binaries_built: None) -> Iterator[Path]:
    where = tmp_path_factory.mktemp("kubelet")
    up = ckslab(where, "up", "--backend", "local")
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        yield where
    finally:
        ckslab(where, "down")
        for pid in ours(where):  # never leak a process, even when a test failed
            os.kill(pid, signal.SIGKILL)


def test_up_starts_the_kubelet_loop_and_show_says_what_it_does(root: Path) -> None:
    loop = details(root)[local_kubelet.NAME]
    assert isinstance(loop, int) and local_kubelet.find(base(root)) == [loop]
    shown = ckslab(root, "controlplane", "show", "scheduler")
    assert shown.returncode == 0 and shown.stdout.startswith(f"# {manifest(root, SCHEDULER)}\n")
    assert "follows" in shown.stderr and "like a kubelet" in shown.stderr and "moved out stops" in shown.stderr


def test_moving_the_manifest_out_stops_the_component_and_back_starts_it(root: Path, tmp_path: Path) -> None:
    """The exam's restart of a static pod: mv the manifest out, wait, mv it back."""
    old = pid_of(root, SCHEDULER)
    before = cmdline(old)
    moved = tmp_path / "kube-scheduler.yaml"
    manifest(root, SCHEDULER).rename(moved)
    wait_until(lambda: not process.is_running(old, str(base(root))), NOTICE, 0.2, "the scheduler to stop")
    status = ckslab(root, "status")
    assert status.returncode == 1 and "moved out?" in status.stdout, status.stdout
    # Its last line agrees with the detail: nothing for `make up` to do while the manifest is out.
    assert "put it back" in status.stdout.strip().splitlines()[-1] and "make up" not in status.stdout, status.stdout
    shown = ckslab(root, "controlplane", "show", "scheduler")
    assert shown.returncode == 1 and "moved out?" in shown.stderr and "Traceback" not in shown.stderr, shown.stderr
    moved.rename(manifest(root, SCHEDULER))
    new = wait_until(lambda: running_again(root, SCHEDULER, old), NOTICE, 0.5, "the scheduler to run again")
    assert cmdline(new) == before  # the same command, started again


def test_grading_with_the_api_servers_manifest_moved_out_says_so(root: Path, tmp_path: Path) -> None:
    """Not "the cluster does not answer ... Run `make up`", whose first line then contradicts its last."""
    old = pid_of(root, "kube-apiserver")
    moved = tmp_path / "kube-apiserver.yaml"
    manifest(root, "kube-apiserver").rename(moved)
    try:
        wait_until(lambda: not process.is_running(old, str(base(root))), NOTICE, 0.2, "the API server to stop")
        graded = ckslab(root, "grade", "certificates-api")
        said = graded.stdout + graded.stderr
        assert graded.returncode == 2 and "kube-apiserver is" in said and "moved out?" in said, said
        assert "make up" not in said and "Put the manifest back" in said, said
    finally:
        moved.rename(manifest(root, "kube-apiserver"))
    wait_until(lambda: running_again(root, "kube-apiserver", old), NOTICE, 0.5, "the API server to run again")
    wait_until(lambda: ckslab(root, "status").returncode == 0, 60, 1.0, "the control plane to be healthy")


def test_an_edited_flag_is_in_the_running_command_line(root: Path) -> None:
    old = pid_of(root, CONTROLLER_MANAGER)
    path = manifest(root, CONTROLLER_MANAGER)
    path.write_text(path.read_text().replace("    - --leader-elect=false",
                                             "    - --leader-elect=false\n    - --cluster-signing-duration=720h", 1))
    new = wait_until(lambda: running_again(root, CONTROLLER_MANAGER, old), NOTICE, 0.5,
                     "the controller manager to restart with the edit")
    assert "--cluster-signing-duration=720h" in cmdline(new)
    flags = ckslab(root, "controlplane", "flags", "controller-manager")
    assert "--cluster-signing-duration=720h" in flags.stdout.splitlines()


def test_a_broken_manifest_is_reported_and_the_loop_carries_on(root: Path) -> None:
    loop = local_kubelet.find(base(root))
    path = manifest(root, SCHEDULER)
    good = path.read_text()
    old = pid_of(root, SCHEDULER)
    path.write_text(good.replace("    - --leader-elect=false", "   - --leader-elect=false"))  # 3 spaces
    wait_until(lambda: not process.is_running(old, str(base(root))), NOTICE, 0.2, "the scheduler to stop")
    status = ckslab(root, "status")
    assert status.returncode == 1 and "not valid YAML" in status.stdout, status.stdout
    shown = ckslab(root, "controlplane", "show", "scheduler")
    assert "is not running" in shown.stderr and "not valid YAML" in shown.stderr, shown.stderr
    # A flag the scheduler refuses: it exits while starting, and the reason is the end of its log.
    path.write_text(good.replace("    - --leader-elect=false", "    - --leader-elect=false\n    - --no-such-flag"))
    wait_until(lambda: "no-such-flag" in ckslab(root, "status").stdout, NOTICE, 0.5, "the refusal to be reported")
    log = (base(root) / "var" / "log" / "kubelet.log").read_text()
    assert "does not start from" in log and "unknown flag: --no-such-flag" in log
    assert local_kubelet.find(base(root)) == loop  # the loop lived through both
    path.write_text(good)
    wait_until(lambda: running_again(root, SCHEDULER, old), NOTICE, 0.5, "the scheduler to run again")


def test_controlplane_restart_does_not_fight_the_loop(root: Path) -> None:
    """An edit, then at once the restart command: one scheduler runs the edit, and stays."""
    path = manifest(root, SCHEDULER)
    path.write_text(path.read_text().replace("    - --leader-elect=false", "    - --leader-elect=false\n    - --v=2"))
    done = ckslab(root, "controlplane", "restart", "scheduler")
    assert done.returncode == 0, done.stdout + done.stderr
    pid = pid_of(root, SCHEDULER)
    assert "--v=2" in cmdline(pid)
    with pytest.raises(Exception, match="timed out"):  # nothing restarts it again meanwhile
        wait_until(lambda: pid_of(root, SCHEDULER) != pid, 4.0, 0.2, "another restart")
    schedulers = [p for p in process.processes_with(str(base(root)), (SCHEDULER,))]
    assert schedulers == [pid] and ckslab(root, "status").returncode == 0


def test_up_starts_a_dead_loop_again(root: Path) -> None:
    (loop,) = local_kubelet.find(base(root))
    process.stop_pid(loop, "kubelet", str(base(root)))
    up = ckslab(root, "up")
    assert up.returncode == 0 and "already up" in up.stdout, up.stdout + up.stderr
    (again,) = local_kubelet.find(base(root))
    assert again != loop and details(root)[local_kubelet.NAME] == again


def test_down_leaves_no_process(root: Path) -> None:
    assert len(ours(root)) == len(COMPONENTS) + 1
    down = ckslab(root, "down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert ours(root) == []
