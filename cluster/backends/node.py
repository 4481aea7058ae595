"""A control-plane node, whatever runs it: the one way graders, lab scripts and the engine reach it.

Modelled on kind's ``nodes.Node`` (``pkg/cluster/nodes/types.go``): a node runs commands and reads
files, and nobody outside ``cluster/backends/`` knows whether that is ``docker exec``, ``podman
exec`` or this machine's own processes. Paths are the node's own, as on a kubeadm node
(``/etc/kubernetes/pki/ca.crt``, ``/var/lib/kubelet/config.yaml``): the kind node reads them in its
container; the local node finds them under ``.lab/local``, laid out from ``/`` like a node. What a
learner types to do the same is given by :meth:`Node.typed` and :meth:`Node.path`, so hints name
the right command on every backend.

A backend that cannot reach its nodes (``existing``) raises :class:`NodeUnreachable` from
``Backend.node()``: one line, with its fix.
"""

from __future__ import annotations

import abc
import datetime as dt
import re
import subprocess
from dataclasses import dataclass
from typing import Sequence

from cluster import controlplane
from cluster.errors import CkslabError

#: Seconds one command on the node may take (a file read, ``crictl ps``); kubeadm gets more.
EXEC_TIMEOUT = 60.0
#: The API server's flag naming its audit log (the Kubernetes docs' "Auditing").
AUDIT_LOG_PATH = "--audit-log-path"
#: Prints each path's modification time and content, or that it is missing: one exec for many files.
_READ_MANY = ('for f in "$@"; do if [ -r "$f" ]; then printf "\\n=== %s %s\\n" "$f" "$(stat -c %Y "$f")"; '
              'cat "$f"; else printf "\\n=== %s missing\\n" "$f"; fi; done')
#: A line of a failing component's log worth quoting: cobra's "Error: ..." or a klog error ("E1130 ...").
_ERROR_LINE = re.compile(r"^(Error: |E\d{4} )")
#: The audit log and its rotated files (``--audit-log-maxbackup``: ``audit-<time>.log`` beside it), oldest first.
_READ_AUDIT = 'cat "${1%.log}"-*.log "$1" 2>/dev/null; true'


class NodeError(CkslabError):
    """The node could not do what was asked: a file that cannot be read, a command that cannot run."""


class NodeUnreachable(NodeError):
    """ckslab cannot reach this cluster's nodes (a cluster it did not create)."""


class ComponentNotRunning(NodeError):
    """No process of the control-plane component runs on the node.

    Where the node knows them: ``was`` the process it last ran ("pid 1234"), ``log`` where its output
    went, and ``last_error`` the last error line of that log (cobra's "Error: ...", a klog "E1130 ...").
    """

    def __init__(self, message: str, hint: str = "", *, was: str = "", log: str = "", last_error: str = "") -> None:
        super().__init__(message, hint)
        self.was, self.log, self.last_error = was, log, last_error


@dataclass(frozen=True)
class NodeFile:
    """One file of the node: where it is, its bytes (None when missing or unreadable) and mtime."""

    #: The path as :meth:`Node.path` names it (where a learner's command finds it).
    path: str
    data: bytes | None
    #: Seconds since the epoch (whole seconds on kind); 0.0 when missing.
    mtime: float = 0.0


@dataclass(frozen=True)
class AuditLog:
    """The API server's audit log lines (rotated files first), and where they were read."""

    lines: tuple[str, ...]
    #: "/var/log/kubernetes/audit/audit.log in the node container ckslab-control-plane", or a path here.
    where: str


def flag_value(command: Sequence[str], flag: str) -> str | None:
    """The value of the last ``--flag=value`` or ``--flag value`` in ``command``, or None."""
    found: str | None = None
    for i, arg in enumerate(command):
        if arg.startswith(flag + "="):
            found = arg.split("=", 1)[1]
        elif arg == flag and i + 1 < len(command):
            found = command[i + 1]
    return found


class Node(abc.ABC):
    """The control-plane node of a running cluster (its only one on every backend ckslab runs)."""

    #: The node's name: kind's container (``ckslab-control-plane``, also its Kubernetes Node name),
    #: ``local`` for the local plane.
    name: str
    #: Whether a kubelet runs on the node: it runs the control plane as static pods and restarts a pod
    #: whose manifest changed by itself (kind); without one, ``ckslab controlplane restart`` does (local).
    runs_kubelet: bool
    #: Seconds to which :class:`NodeFile` mtimes are known (1.0 where ``stat -c %Y`` reads them).
    mtime_resolution: float

    # --- running commands -------------------------------------------------------------------

    @abc.abstractmethod
    def exec(self, *command: str, stdin: bytes | None = None,
             timeout: float = EXEC_TIMEOUT) -> subprocess.CompletedProcess[bytes]:
        """Run ``command`` on the node; its exit status and output. NodeError when it cannot be started."""

    @abc.abstractmethod
    def typed(self, command: str, interactive: bool = False) -> str:
        """The shell command a learner types to run ``command`` on the node (``docker exec NODE ...``)."""

    @abc.abstractmethod
    def path(self, node_path: str) -> str:
        """Where the node's ``node_path`` is for the commands of :meth:`typed` (a path here, on local)."""

    def where(self, node_path: str) -> str:
        """``node_path`` as a sentence names it: "/etc/... in the node container X", or a path here."""
        return self.path(node_path)

    @abc.abstractmethod
    def kubeadm(self, *args: str, timeout: float = 300.0) -> subprocess.CompletedProcess[bytes]:
        """Run ``kubeadm args`` on the node's own ``/etc/kubernetes`` (``--rootfs`` on the local node)."""

    @abc.abstractmethod
    def kubeadm_typed(self, args: str) -> str:
        """The kubeadm command line a learner types for ``args`` on this node."""

    @abc.abstractmethod
    def admin_kubeconfig_typed(self, dest: str) -> str:
        """The command a learner types to make ``dest`` a copy of the node's admin.conf usable from here."""

    def enter(self, command: Sequence[str] = (), tty: bool = True) -> list[str] | None:
        """The argv that enters the node as ``ssh NODE`` does: a login shell, or ``command`` run there.

        ``tty``: allocate a terminal (an interactive shell). None where the node is this machine (the
        local plane), whose caller makes its own shell on the node's folder.
        """
        return None

    def shell_env(self) -> dict[str, str]:
        """Variables a learner's shell (a notebook's ``%%bash`` cell) gets to reach the node by hand.

        kind: ``CKSLAB_KIND_NODE`` (the container) and ``CKSLAB_ENGINE`` (docker or podman), for
        ``$CKSLAB_ENGINE exec $CKSLAB_KIND_NODE ...`` as ``ssh node`` on the exam; none on a node that is here.
        """
        return {}

    # --- files ------------------------------------------------------------------------------

    def read_file(self, node_path: str) -> bytes:
        """The bytes of ``node_path``; NodeError (with the command to look) when it cannot be read."""
        found = self.read_files([node_path])[node_path]
        if found.data is None:
            raise NodeError(f"cannot read {self.where(node_path)}: it does not exist or is not readable.",
                            f"Look: {self.typed(f'ls -l {self.path(node_path)}')}")
        return found.data

    def read_files(self, node_paths: Sequence[str]) -> dict[str, NodeFile]:
        """Each path's content and modification time, by the path asked; data None when missing."""
        done = self.exec("sh", "-c", _READ_MANY, "sh", *[self.path(p) for p in node_paths], timeout=30)
        if done.returncode != 0:
            raise NodeError(f"cannot read files on the node {self.name}: "
                            f"{done.stderr.decode(errors='replace').strip()[:160]}", _UNREACHABLE)
        by_path = {self.path(p): p for p in node_paths}
        found = {p: NodeFile(self.path(p), None) for p in node_paths}
        for chunk in done.stdout.split(b"\n=== ")[1:]:
            header, _, body = chunk.partition(b"\n")
            path, _, when = header.decode(errors="replace").rpartition(" ")
            if path in by_path and when != "missing":
                found[by_path[path]] = NodeFile(path, body, float(when))
        return found

    @abc.abstractmethod
    def write_file(self, node_path: str, data: bytes) -> None:
        """Replace ``node_path`` with ``data`` at once (written beside, then renamed: never half a file)."""

    @abc.abstractmethod
    def remove_file(self, node_path: str) -> None:
        """Remove ``node_path`` (nothing when it is missing)."""

    # --- the control plane's processes ------------------------------------------------------

    @abc.abstractmethod
    def running_command(self, component: str) -> list[str]:
        """The command line ``component`` (kube-apiserver, ...) runs with now; ComponentNotRunning if none."""

    @abc.abstractmethod
    def started_at(self, component: str) -> dt.datetime:
        """When the running ``component`` process started (UTC, to 10 ms); ComponentNotRunning if none."""

    @abc.abstractmethod
    def process_of(self, component: str) -> str:
        """The running ``component``'s process, as a sentence names it ("pid 1234"); ComponentNotRunning if none."""

    def audit_log(self) -> AuditLog:
        """The audit log the API server writes (its running ``--audit-log-path``), rotated files first.

        NodeError when the API server runs without one or it cannot be read.
        """
        path = flag_value(self.running_command(controlplane.APISERVER), AUDIT_LOG_PATH)
        if not path or path == "-":
            raise NodeError(f"the API server runs without {AUDIT_LOG_PATH} (a cluster started by an older ckslab)",
                            "`make down && make up` starts one with an audit log.")
        where = self.where(path)
        done = self.exec("sh", "-c", _READ_AUDIT, "sh", path, timeout=30)
        if done.returncode != 0:
            raise NodeError(f"the audit log {where} cannot be read "
                            f"({done.stderr.decode(errors='replace').strip()[:120]})", _UNREACHABLE)
        return AuditLog(tuple(done.stdout.decode(errors="replace").splitlines()), where)


_UNREACHABLE = "Run `ckslab status`; `make up` restarts what is down."


def last_error(lines: Sequence[str]) -> str:
    """The last error line among a component's log ``lines`` (at most 200 characters), or ""."""
    errors = [line.strip() for line in lines if _ERROR_LINE.match(line.strip())]
    return errors[-1][:200] if errors else ""


def unreachable(backend: str) -> NodeUnreachable:
    """The error of a backend whose nodes ckslab cannot reach."""
    return NodeUnreachable(
        f"ckslab cannot reach the nodes of the {backend} cluster: it did not create that control plane, so it "
        "can neither read its files nor run commands on it.",
        "Use a cluster ckslab creates: make down && make up BACKEND=local (or BACKEND=kind).")


def start_time(stat: str, uptime: str, now: str, ticks_per_second: str) -> dt.datetime:
    """A process's start from its ``/proc/<pid>/stat`` line, ``/proc/uptime``, the time and ``CLK_TCK``.

    proc(5): field 22 of stat is the start in clock ticks after boot; boot is now minus uptime
    (10 ms, unlike ``btime``'s whole seconds), so a start compares with a file's mtime.
    ValueError when the texts are not those.
    """
    ticks = int(stat.rsplit(")", 1)[1].split()[19])  # fields[0] is field 3
    seconds = float(now) - float(uptime.split()[0]) + ticks / int(ticks_per_second)
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc)
