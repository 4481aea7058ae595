"""Backend selection, in one place.

``auto`` (the default) picks kind when a Docker engine answers and can run kind's privileged
node containers, otherwise the local control plane, and says which and why. A named backend
that cannot run here is one clear error. The backend of a running cluster is recorded in
``.lab/state.json``, so ``down`` and ``status`` never depend on ``BACKEND``.
"""

from __future__ import annotations

from typing import Callable

from cluster import docker, state
from cluster.backends.base import Backend
from cluster.backends.existing import ExistingBackend
from cluster.backends.kind import KindBackend
from cluster.backends.local import LocalBackend
from cluster.backends.node import Node, NodeError
from cluster.errors import BackendUnavailable, CkslabError, StateCorrupted, UsageError
from cluster.paths import LabPaths

BACKENDS: dict[str, type[Backend]] = {"kind": KindBackend, "local": LocalBackend, "existing": ExistingBackend}
CHOICES = ("auto", *BACKENDS)
FIXES = {
    "kind": "Install and start Docker (a rootful engine that runs privileged containers), "
            "or use `make up BACKEND=local`, which needs no Docker.",
    "existing": "Run `make up BACKEND=existing KUBECONFIG=/path/to/kubeconfig`.",
    "local": "Run `make binaries`.",
}


def select(name: str, lab: LabPaths,
           docker_check: Callable[[], docker.DockerCheck] = docker.check) -> tuple[Backend, str]:
    """The backend called ``name`` (or chosen by ``auto``) and why; an error when it cannot run."""
    name = (name or "auto").strip().lower()
    if name == "auto":
        found = docker_check()
        if found.usable:
            return KindBackend(lab), f"auto chose kind: {found.reason}"
        return LocalBackend(lab), f"auto chose local (no Docker needed): {found.reason}"
    if name not in BACKENDS:
        raise UsageError(f"unknown backend {name!r}.", f"Use BACKEND= one of: {', '.join(CHOICES)}.")
    backend = BACKENDS[name](lab)
    if name == "kind":
        found = docker_check()
        if not found.usable:
            hint = f"{found.fix} Or use `make up BACKEND=local`, which needs no Docker." if found.fix else FIXES["kind"]
            raise BackendUnavailable(f"BACKEND=kind cannot run here: {found.reason}.", hint)
    elif name == "existing":
        available = backend.available()
        if not available.ok:
            raise BackendUnavailable(available.reason)
    return backend, f"{name}: chosen with BACKEND={name}"


def running(lab: LabPaths) -> Backend | None:
    """The backend of the cluster recorded in ``.lab/state.json``, if any."""
    current = state.read(lab.state_file)
    if current is None:
        return None
    cls = BACKENDS.get(current.backend)
    if cls is None:
        raise StateCorrupted(f"{lab.state_file} names an unknown backend {current.backend!r}.",
                             state.REPAIR_HINT)
    return cls(lab)


def node_of(lab: LabPaths) -> Node:
    """The control-plane node of the cluster recorded in ``lab`` (``Backend.node()``).

    CkslabError when no cluster is up or the state file is damaged; NodeUnreachable on ``existing``.
    """
    backend = running(lab)
    if backend is None:
        raise NodeError(f"no cluster is up ({lab.state_file} records none).", "Run `make up` first.")
    return backend.node()
