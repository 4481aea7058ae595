"""The interface every cluster backend implements (after kind's ``providers.Provider``)."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from cluster.backends.node import Node, unreachable
from cluster.paths import LabPaths
from cluster.preflight import Finding

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Availability:
    """Whether a backend can run here, and why not."""

    ok: bool
    reason: str = ""


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    running: bool
    healthy: bool
    detail: str = ""


@dataclass(frozen=True)
class ClusterStatus:
    backend: str
    version: str
    server: str
    components: list[ComponentStatus] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return all(c.healthy for c in self.components)


@dataclass(frozen=True)
class UpResult:
    backend: str
    version: str
    server: str
    kubeconfig: Path
    seconds: float
    already_running: bool = False
    recovered: bool = False


class Backend(abc.ABC):
    """A way to run the lab's cluster. ``down`` must be safe to call twice."""

    name: str
    #: The binaries (names in cluster.binaries) this backend runs.
    needs: tuple[str, ...] = ()

    def __init__(self, lab: LabPaths) -> None:
        self.lab = lab

    @abc.abstractmethod
    def available(self) -> Availability:
        """Can this backend run on this machine?"""

    @abc.abstractmethod
    def up(self, progress: Progress) -> UpResult:
        """Create (or recover) the cluster and write ``.lab/kubeconfig``."""

    @abc.abstractmethod
    def down(self, progress: Progress) -> bool:
        """Remove the cluster and its state; False when there was nothing to remove."""

    @abc.abstractmethod
    def status(self) -> ClusterStatus | None:
        """Health of the cluster, or None when none is up."""

    @abc.abstractmethod
    def show_component(self, component: str) -> str:
        """The configuration (manifest) of a control-plane component, as text."""

    @abc.abstractmethod
    def ca_certificate(self) -> bytes:
        """The cluster CA certificate (PEM)."""

    def kubeconfig(self) -> Path:
        return self.lab.kubeconfig

    def node(self) -> Node:
        """The cluster's control-plane node (``cluster.backends.node``): its files, commands and processes.

        CkslabError when no cluster of this backend is up; :class:`~cluster.backends.node.NodeUnreachable`
        for a backend whose nodes ckslab cannot reach (the default: ``existing``).
        """
        raise unreachable(self.name)

    def restart(self, component: str, progress: Progress) -> None:
        """Apply the component's manifest (restart it); NodeUnreachable where ckslab runs no control plane."""
        raise unreachable(self.name)

    def security_findings(self) -> list[Finding]:
        """``ckslab doctor``'s security checks of the running plane; none where ckslab cannot look."""
        return []
