"""The kind cluster's control-plane node: its container, reached with the engine's ``exec``.

``docker exec`` or ``podman exec``, whichever engine ``up`` used (``kind.engine()``); nothing
outside this folder names either. The node is a kubeadm node, so its paths are kubeadm's.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path
from typing import Sequence

from cluster.backends.node import EXEC_TIMEOUT, ComponentNotRunning, Node, NodeError, start_time

_UNREACHABLE = "Run `ckslab status`; `make up` restarts what is down."
#: Writes stdin beside the file as a hidden one (the kubelet reads no hidden manifest), then renames it.
_WRITE = 'tmp="$(dirname "$1")/.$(basename "$1").ckslab-new" && cat > "$tmp" && mv "$tmp" "$1"'


def _pid_of(component: str) -> str:
    """Shell: the oldest process whose command line starts with ``component``.

    ``pgrep -x`` compares the 15-character comm, too short for kube-controller-manager.
    """
    return f"pid=$(pgrep -o -f '^{component}( |$)')"


class KindNode(Node):
    """The node container ``container``, reached with the engine client ``client`` (docker or podman)."""

    runs_kubelet = True
    mtime_resolution = 1.0

    def __init__(self, container: str, client: str) -> None:
        self.name = container
        self.client = client

    def exec(self, *command: str, stdin: bytes | None = None,
             timeout: float = EXEC_TIMEOUT) -> subprocess.CompletedProcess[bytes]:
        argv = [self.client, "exec", *(["-i"] if stdin is not None else []), self.name, *command]
        try:
            return subprocess.run(argv, input=stdin, capture_output=True, timeout=timeout, check=False,
                                  stdin=None if stdin is not None else subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as err:
            raise NodeError(f"{Path(self.client).name} exec {self.name} failed ({' '.join(str(err).split())[:120]}).",
                            _UNREACHABLE) from err

    def typed(self, command: str, interactive: bool = False) -> str:
        return f"{Path(self.client).name} exec {'-it ' if interactive else ''}{self.name} {command}"

    def path(self, node_path: str) -> str:
        return node_path

    def enter(self, command: Sequence[str] = (), tty: bool = True) -> list[str]:
        # kubectl on a kubeadm control plane, as root with admin.conf (kind's node sets no KUBECONFIG).
        return [self.client, "exec", "-it" if tty else "-i", "-e", "KUBECONFIG=/etc/kubernetes/admin.conf",
                "-w", "/root", self.name, *(command or ["bash", "-l"])]

    def where(self, node_path: str) -> str:
        return f"{node_path} in the node container {self.name}"

    def kubeadm(self, *args: str, timeout: float = 300.0) -> subprocess.CompletedProcess[bytes]:
        return self.exec("kubeadm", *args, timeout=timeout)

    def kubeadm_typed(self, args: str) -> str:
        return self.typed(f"kubeadm {args}")

    def shell_env(self) -> dict[str, str]:
        return {"CKSLAB_KIND_NODE": self.name, "CKSLAB_ENGINE": self.client}

    def admin_kubeconfig_typed(self, dest: str) -> str:
        # admin.conf names the API server by its address inside kind's network: kind exports one for here.
        # The pinned kind by its path (it is on no PATH); into a new file, since kind merges into an
        # existing one and would leave a wrong user (super-admin's) beside the admin's.
        from cluster import binaries

        kind = binaries.cached().kind
        return (f"{kind} export kubeconfig --name {self.name.removesuffix('-control-plane')} --kubeconfig {dest}.new "
                f"&& mv {dest}.new {dest}")

    def write_file(self, node_path: str, data: bytes) -> None:
        done = self.exec("sh", "-c", _WRITE, "sh", node_path, stdin=data)
        if done.returncode != 0:
            raise NodeError(f"cannot write {self.where(node_path)}: {done.stderr.decode(errors='replace').strip()}",
                            _UNREACHABLE)

    def remove_file(self, node_path: str) -> None:
        done = self.exec("rm", "-f", node_path)
        if done.returncode != 0:
            raise NodeError(f"cannot remove {self.where(node_path)}: {done.stderr.decode(errors='replace').strip()}",
                            _UNREACHABLE)

    def running_command(self, component: str) -> list[str]:
        shown = self.exec("sh", "-c", f"{_pid_of(component)} && cat /proc/$pid/cmdline")
        if shown.returncode != 0 or not shown.stdout:
            raise ComponentNotRunning(f"no {component} process runs in the node {self.name}.",
                                      f"See `{self.typed(f'crictl ps -a --name {component}')}`.")
        return shown.stdout.rstrip(b"\0").decode(errors="replace").split("\0")

    def started_at(self, component: str) -> dt.datetime:
        shown = self.exec("sh", "-c", f"{_pid_of(component)} && cat /proc/$pid/stat /proc/uptime "
                                      "&& date +%s.%N && getconf CLK_TCK")
        lines = shown.stdout.decode(errors="replace").splitlines()
        if shown.returncode != 0 or len(lines) < 4:
            raise ComponentNotRunning(f"no {component} process runs in the node {self.name}.",
                                      f"See `{self.typed(f'crictl ps -a --name {component}')}`.")
        try:
            return start_time(*lines[:4])
        except (ValueError, IndexError) as err:
            raise NodeError(f"cannot tell when {component} started in the node {self.name} ({err}).",
                            _UNREACHABLE) from err

    def process_of(self, component: str) -> str:
        shown = self.exec("sh", "-c", f"{_pid_of(component)} && echo $pid")
        if shown.returncode != 0 or not shown.stdout.strip():
            raise ComponentNotRunning(f"no {component} process runs in the node {self.name}.",
                                      f"See `{self.typed(f'crictl ps -a --name {component}')}`.")
        return f"pid {shown.stdout.decode().strip()} in the node container {self.name}"
