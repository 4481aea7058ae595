"""Backend selection, in one place.

``local`` runs the control plane as processes (no Docker). ``auto`` picks the best backend
available here; until the kind backend lands, that is ``local``. The backend of a running
cluster is recorded in ``.lab/state.json``, so ``down`` and ``status`` never depend on
``BACKEND``.
"""

from __future__ import annotations

from cluster import state
from cluster.backends.base import Backend
from cluster.backends.local import LocalBackend
from cluster.errors import UsageError
from cluster.paths import LabPaths

BACKENDS: dict[str, type[Backend]] = {"local": LocalBackend}
CHOICES = ("auto", *BACKENDS)


def select(name: str, lab: LabPaths) -> tuple[Backend, str]:
    """The backend called ``name`` and why it was chosen; UsageError for an unknown name."""
    name = (name or "auto").strip().lower()
    if name == "auto":
        return LocalBackend(lab), "auto: the local control plane (no Docker needed)"
    if name not in BACKENDS:
        raise UsageError(f"unknown backend {name!r}.", f"Use BACKEND= one of: {', '.join(CHOICES)}.")
    return BACKENDS[name](lab), f"{name}: chosen with BACKEND={name}"


def running(lab: LabPaths) -> Backend | None:
    """The backend of the cluster recorded in ``.lab/state.json``, if any."""
    current = state.read(lab.state_file)
    if current is None:
        return None
    cls = BACKENDS.get(current.backend)
    if cls is None:
        from cluster.errors import StateCorrupted

        raise StateCorrupted(f"{lab.state_file} names an unknown backend {current.backend!r}.",
                             state.REPAIR_HINT)
    return cls(lab)
