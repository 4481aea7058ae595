"""The local control plane as a node: this machine, with kubeadm's tree under ``.lab/local``.

The local backend lays its files out as a kubeadm node lays them out from ``/`` (``etc/kubernetes``,
``var/log/kubernetes/audit``), so a node path such as ``/etc/kubernetes/pki/ca.crt`` is that path
under ``.lab/local``. Commands run here; the components are the processes whose pids ``up`` and
``restart`` record in ``.lab/state.json`` (checked against the tree's path in their command line,
so a recycled pid is never taken for one of ours).
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from pathlib import Path
from typing import Callable, Sequence

from cluster import binaries, process
from cluster.backends.node import EXEC_TIMEOUT, ComponentNotRunning, Node, NodeError, NodeFile, last_error
from cluster.controlplane import Layout

_UNREACHABLE = "Run `ckslab status`; `make up` restarts what is down."


class LocalNode(Node):
    """The local plane laid out in ``layout``; ``pid_of(component)`` is its recorded pid (0 when none)."""

    name = "local"
    runs_kubelet = False
    mtime_resolution = 0.0

    def __init__(self, layout: Layout, pid_of: Callable[[str], int]) -> None:
        self.layout = layout
        self._pid_of = pid_of

    @property
    def rootfs(self) -> Path:
        return self.layout.base

    def exec(self, *command: str, stdin: bytes | None = None,
             timeout: float = EXEC_TIMEOUT) -> subprocess.CompletedProcess[bytes]:
        try:
            return subprocess.run(list(command), input=stdin, capture_output=True, timeout=timeout, check=False,
                                  cwd=self.rootfs, stdin=None if stdin is not None else subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as err:
            raise NodeError(f"{command[0]} failed ({' '.join(str(err).split())[:120]}).", _UNREACHABLE) from err

    def typed(self, command: str, interactive: bool = False) -> str:
        return command

    def _trees(self) -> tuple[str, ...]:
        """The tree's path as given and with its symlinks resolved (a component's command line has one)."""
        return tuple(dict.fromkeys((str(self.rootfs), os.path.realpath(self.rootfs))))

    def path(self, node_path: str) -> str:
        if not node_path.startswith("/"):
            return str(self.rootfs / node_path)
        if any(node_path.startswith(tree + "/") for tree in self._trees()):
            return node_path  # already a path here (what a component's flags name)
        return str(self.rootfs) + node_path

    def _kubeadm_argv(self, args: list[str]) -> list[str]:
        # kubeadm reads kubeconfigs from /etc/kubernetes only: --rootfs chroots into the tree, which needs
        # root, or a user namespace of one's own (unshare -r) where unprivileged ones are allowed.
        prefix = [] if os.geteuid() == 0 else ["unshare", "-r"]
        return [*prefix, str(binaries.cached().kubeadm), *args, "--rootfs", str(self.rootfs)]

    def kubeadm(self, *args: str, timeout: float = 300.0) -> subprocess.CompletedProcess[bytes]:
        return self.exec(*self._kubeadm_argv(list(args)), timeout=timeout)

    def kubeadm_typed(self, args: str) -> str:
        return f"unshare -r kubeadm {args} --rootfs {self.rootfs}"

    def admin_kubeconfig_typed(self, dest: str) -> str:
        return f"cp {self.path('/etc/kubernetes/admin.conf')} {dest}"

    def read_files(self, node_paths: Sequence[str]) -> dict[str, NodeFile]:
        """Each path's content and modification time (to the nanosecond the file system keeps)."""
        found = {}
        for node_path in node_paths:
            path = Path(self.path(node_path))
            try:
                found[node_path] = NodeFile(str(path), path.read_bytes(), path.stat().st_mtime)
            except OSError:
                found[node_path] = NodeFile(str(path), None)
        return found

    def write_file(self, node_path: str, data: bytes) -> None:
        target = Path(self.path(node_path))
        temporary = target.parent / f".{target.name}.ckslab-new"
        try:
            mode = target.stat().st_mode & 0o777 if target.exists() else 0o644
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.chmod(temporary, mode)
            os.replace(temporary, target)
        except OSError as err:
            raise NodeError(f"cannot write {target} ({err.strerror}).", _UNREACHABLE) from err

    def remove_file(self, node_path: str) -> None:
        try:
            Path(self.path(node_path)).unlink(missing_ok=True)
        except OSError as err:
            raise NodeError(f"cannot remove {self.path(node_path)} ({err.strerror}).", _UNREACHABLE) from err

    def _running_pid(self, component: str) -> int:
        pid = self._pid_of(component)
        if not pid or not any(process.is_running(pid, tree) for tree in self._trees()):
            log = self.layout.log(component)
            try:
                said = last_error(log.read_text(errors="replace").splitlines()[-40:])
            except OSError:
                said = ""
            raise ComponentNotRunning(
                f"{component} is not running (was pid {pid}); its log is {log}"
                + (f"; its log ends: {said.rstrip('.')}." if said else "."),
                f"`make up` starts it again from its manifest; after an edit: ckslab controlplane restart "
                f"{component.removeprefix('kube-')}", was=f"pid {pid}", log=str(log), last_error=said)
        return pid

    def running_command(self, component: str) -> list[str]:
        pid = self._running_pid(component)
        try:
            return Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").decode(errors="replace").split("\0")
        except OSError as err:
            raise ComponentNotRunning(f"{component} (pid {pid}) is not running.", "Run `make up` to restart it.") from err

    def started_at(self, component: str) -> dt.datetime:
        pid = self._running_pid(component)
        started = process.start_time(pid)
        if started is None:
            raise ComponentNotRunning(f"{component} (pid {pid}) is not running.", "Run `make up` to restart it.")
        return started

    def process_of(self, component: str) -> str:
        return f"pid {self._running_pid(component)}"
