"""The exam's clusters: one cluster per context, and one kubeconfig naming them all.

As in the CKS, each task names the context to work in (``kubectl config use-context cks-a``).
Each context is a cluster of its own whose project root is ``.lab/exam/clusters/<context>/`` (its
admin kubeconfig, state and audit log are laid out as the lab cluster's, so the graders read them
the same way): a local control plane, or in the contexts of tasks that need a real kubelet
(``attempt.KUBELET_CONTEXTS``) a kind cluster named after the project (``kind_cluster_name``: two
checkouts do not share one). They are started all at once: the local backend reserves each plane's
ports under a lock shared by every ckslab of this user (``cluster.ports.reserve``, which
tests/test_concurrent_up.py proves with ten ``up``s at once), so two planes starting together never
choose the same; they were started one after the other before that reservation existed.
The learner's kubeconfig, ``.lab/exam/kubeconfig``, has one context per cluster; ``ensure`` writes
our entries again (a cluster that restarted may have new ports; a context the learner deleted
comes back) and keeps whatever else the learner added, and the current context.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import sys
import threading
from pathlib import Path
from typing import Any, Callable

import yaml

from cluster import binaries, docker, state
from cluster.backends.base import Availability, Backend
from cluster.backends.kind import KindBackend
from cluster.backends.local import LocalBackend
from cluster.errors import CkslabError, ManifestFailed
from cluster import paths
from cluster.paths import LabPaths, write_private
from exam.attempt import KUBELET_CONTEXTS

Progress = Callable[[str], None]
#: Tries to start one context's plane. A second try, because a program that is not a ckslab of this
#: user (another user's, or any other server) can take a port between its choice and its use (the
#: reservation cannot stop it), and then its preflight fails; a failed new plane is removed by `up` itself.
START_ATTEMPTS = 2


def exam_dir(project: LabPaths) -> Path:
    return project.lab / "exam"


def backend_for(project: LabPaths, context: str) -> Backend:
    """The cluster of ``context`` (not started): kind for ``KUBELET_CONTEXTS``, else a local control plane."""
    lab = LabPaths(root(project, context))
    return KindBackend(lab, kind_cluster_name(project, lab)) if context in KUBELET_CONTEXTS else LocalBackend(lab)


def kind_cluster_name(project: LabPaths, lab: LabPaths) -> str:
    """The kind cluster ``lab`` recorded when it was made, else ``<$KIND_CLUSTER_NAME or ckslab>-exam-<6 hex
    digits of the project root>`` (two checkouts do not share it)."""
    try:
        recorded = state.read(lab.state_file)
    except CkslabError:
        recorded = None
    if recorded is not None and recorded.details.get("cluster"):
        return str(recorded.details["cluster"])
    base = os.environ.get("KIND_CLUSTER_NAME", "").strip() or "ckslab"
    return f"{base}-exam-{hashlib.sha256(str(project.root.resolve()).encode()).hexdigest()[:6]}"


def kind_available() -> Availability:
    """Whether kind can run here: an engine that answers and runs privileged containers (``docker.check``)."""
    found = docker.check()
    if found.usable and binaries.missing(("kind",)):
        return Availability(False, "the kind binary is not built (make binaries)")
    return Availability(found.usable, found.reason)


def root(project: LabPaths, context: str) -> Path:
    """The project root of ``context``'s cluster (``$CKSLAB_ROOT`` there makes ``ckslab node`` its node)."""
    return exam_dir(project) / "clusters" / context


def admin_kubeconfig(project: LabPaths, context: str) -> Path:
    """The admin kubeconfig of ``context``'s cluster (what its graders and setup use)."""
    return backend_for(project, context).lab.kubeconfig


def learner_kubeconfig(project: LabPaths) -> Path:
    return exam_dir(project) / "kubeconfig"


def ensure(project: LabPaths, contexts: tuple[str, ...], progress: Progress,
           started: Callable[[str], None] | None = None) -> Path:
    """Start (or recover) every context's cluster, all at once, and write the learner's kubeconfig.

    ``started(context)`` is called (in that context's thread) as soon as its cluster answers. The
    first CkslabError of a context that did not start is raised once every other one is done."""
    failed: dict[str, CkslabError] = {}

    def one(context: str) -> None:
        try:
            start(project, context, lambda message: progress(f"{context}: {message}"))
        except CkslabError as err:
            failed[context] = err
            return
        if started is not None:
            started(context)

    threads = [threading.Thread(target=one, args=(context,)) for context in contexts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for context in contexts:
        if context in failed:
            raise failed[context]
    return write_kubeconfig(project, contexts)


def start(project: LabPaths, context: str, progress: Progress) -> None:
    """Start (or recover) the cluster of ``context``, trying twice; CkslabError naming the context.

    A cluster whose component does not start from its edited manifest is left as it is: a task may
    have broken it (its statement says so), and fixing it is the candidate's work.
    """
    progress(f"cluster of context {context}: starting (or checking) its control plane")
    for attempt in range(1, START_ATTEMPTS + 1):
        try:
            backend_for(project, context).up(progress)
            return
        except ManifestFailed as err:  # a task broke it on purpose (an API server that no longer starts)
            progress(f"the cluster of context {context} is left as it is: {err.message}")
            return
        except CkslabError as err:
            if attempt == START_ATTEMPTS:
                raise CkslabError(f"the cluster of context {context} did not start: {err.message}",
                                  err.hint or "Run `ckslab exam resume` to try again.") from err
            progress(f"the cluster of context {context} did not start ({err.message}); trying once more")


def write_kubeconfig(project: LabPaths, contexts: tuple[str, ...]) -> Path:
    """The learner's kubeconfig: one cluster, admin user and context per exam context."""
    path = learner_kubeconfig(project)
    try:
        doc: dict[str, Any] = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError):
        doc = {}
    if not isinstance(doc, dict):
        doc = {}
    ours = set(contexts) | {f"{c}-admin" for c in contexts}
    merged: dict[str, list[Any]] = {key: [e for e in doc.get(key) or [] if isinstance(e, dict)
                                          and e.get("name") not in ours]
                                    for key in ("clusters", "users", "contexts")}
    for context in contexts:
        admin = yaml.safe_load(admin_kubeconfig(project, context).read_text())
        merged["clusters"].append({"name": context, "cluster": admin["clusters"][0]["cluster"]})
        merged["users"].append({"name": f"{context}-admin", "user": admin["users"][0]["user"]})
        merged["contexts"].append({"name": context, "context": {"cluster": context, "user": f"{context}-admin"}})
    names = {c["name"] for c in merged["contexts"]}
    current = doc.get("current-context") if doc.get("current-context") in names else contexts[0]
    out: dict[str, Any] = {"apiVersion": "v1", "kind": "Config", "preferences": {}, **merged, "current-context": current}
    write_private(path, yaml.safe_dump(out, sort_keys=False).encode())
    return path


def down(project: LabPaths, contexts: tuple[str, ...], progress: Progress) -> None:
    """Stop and remove every context's cluster (safe twice)."""
    for context in contexts:
        backend_for(project, context).down(progress)


#: The node shell's start file: kubeadm on the node's own /etc/kubernetes, and a prompt naming the node.
_RC = """[ -f /etc/bash.bashrc ] && . /etc/bash.bashrc
kubeadm() {{ {kubeadm} "$@" --rootfs "$NODE_ROOT"; }}
export -f kubeadm
PS1='root@{context}-controlplane:${{PWD#$NODE_ROOT}}# '
echo "The control-plane node of context {context} (a local control plane: this machine's processes)."
echo "Its / is $NODE_ROOT, this shell's working folder: every absolute path a statement names on the node"
echo "is under it (/etc/kubernetes is ./etc/kubernetes here, /root/x is ./root/x); its logs are in ./var/log."
echo "kubectl uses its admin.conf; kubeadm runs on its tree (--rootfs is added); a manifest changed in"
echo "etc/kubernetes/manifests restarts its component within a second, as a kubelet does."
echo "ckslab node flags COMPONENT: the command line this node's component runs (ps lists every exam cluster's)."
echo "exit to leave."
"""


def node_shell(project: LabPaths, context: str, command: list[str] | None) -> tuple[list[str], dict[str, str], Path]:
    """What ``ckslab exam ssh CONTEXT`` runs: (argv, environment, working folder) of a shell on the node.

    The local plane's node is this machine with kubeadm's tree under its folder, so "entering the
    node" is a bash whose working folder is the node's ``/``, whose kubectl is the cluster's admin
    (as ``sudo -i`` on a kubeadm control plane with admin.conf) and whose ``kubeadm`` runs on the
    node's own ``/etc/kubernetes``. A kind node is a container: the engine's exec enters it
    (``docker exec -it NODE bash -l``, kubectl there with admin.conf). ``command``: run it there
    instead of an interactive shell. CkslabError when the context's cluster was never started.
    """
    backend = backend_for(project, context)
    if not backend.lab.state_file.is_file():
        raise CkslabError(f"context {context} has no cluster in this exam.",
                          "See the tasks' contexts with: ckslab exam status")
    entered = backend.node().enter(command or (), tty=not command and sys.stdin.isatty())
    if entered is not None:  # a node of its own (kind's container): the engine's exec enters it
        return entered, dict(os.environ), project.root
    node_root = Path(backend.node().path("/"))
    rc = exam_dir(project) / f"node-shell-{context}.rc"
    kubeadm = "command kubeadm" if os.geteuid() == 0 else "unshare -r kubeadm"
    write_private(rc, _RC.format(context=context, kubeadm=kubeadm).encode())
    env = {**os.environ, "CKSLAB_ROOT": str(root(project, context)), "NODE_ROOT": str(node_root),
           "KUBECONFIG": str(admin_kubeconfig(project, context)),
           # ckslab itself (``ckslab node flags ...`` reads this node's processes) also when its venv is not on PATH
           "PATH": os.pathsep.join([str(paths.kubernetes_bin_dir()), str(Path(sys.executable).parent),
                                    os.environ.get("PATH", "")])}
    if command:
        return ["bash", "-c", f'. {shlex.quote(str(rc))} >/dev/null; "$@"', "node-shell", *command], env, node_root
    return ["bash", "--rcfile", str(rc), "-i"], env, node_root
