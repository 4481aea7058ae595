"""The exam's clusters: one local control plane per context, and one kubeconfig naming them all.

As in the CKS, each task names the context to work in (``kubectl config use-context cks-a``).
Each context is a cluster of its own, a local control plane whose project root is
``.lab/exam/clusters/<context>/`` (its admin kubeconfig, state and audit log are laid out as the
lab cluster's, so the graders read them the same way). They are started one after the other:
the local backend chooses free ports, and two planes starting at once could choose the same.
The learner's kubeconfig, ``.lab/exam/kubeconfig``, has one context per cluster; ``ensure`` writes
our entries again (a cluster that restarted may have new ports; a context the learner deleted
comes back) and keeps whatever else the learner added, and the current context.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import yaml

from cluster.backends.local import LocalBackend
from cluster.errors import CkslabError
from cluster.paths import LabPaths, write_private

Progress = Callable[[str], None]
#: Tries to start one context's plane. A second try, because a plane started while another program
#: starts one (another checkout's tests) can lose a port it chose to it (the local backend's known
#: port race), and then its preflight fails; a failed new plane is removed by `up` itself.
START_ATTEMPTS = 2


def exam_dir(project: LabPaths) -> Path:
    return project.lab / "exam"


def backend_for(project: LabPaths, context: str) -> LocalBackend:
    """The local control plane of ``context`` (not started)."""
    return LocalBackend(LabPaths(exam_dir(project) / "clusters" / context))


def admin_kubeconfig(project: LabPaths, context: str) -> Path:
    """The admin kubeconfig of ``context``'s cluster (what its graders and setup use)."""
    return backend_for(project, context).lab.kubeconfig


def learner_kubeconfig(project: LabPaths) -> Path:
    return exam_dir(project) / "kubeconfig"


def ensure(project: LabPaths, contexts: tuple[str, ...], progress: Progress) -> Path:
    """Start (or recover) every context's cluster, one by one, and write the learner's kubeconfig."""
    for context in contexts:
        progress(f"cluster of context {context}: starting (or checking) its control plane")
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                backend_for(project, context).up(progress)
                break
            except CkslabError as err:
                if attempt == START_ATTEMPTS:
                    raise CkslabError(f"the cluster of context {context} did not start: {err.message}",
                                      err.hint or "Run `ckslab exam resume` to try again.") from err
                progress(f"the cluster of context {context} did not start ({err.message}); trying once more")
    return write_kubeconfig(project, contexts)


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
