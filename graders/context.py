"""What one grading run grades: one typed, frozen object, written once by the runner, read once.

The runner (``graders.runner``) writes it as JSON to a file and passes that file's path in
``CKSLAB_GRADING_CONTEXT``; the score plugin reads it in ``pytest_configure`` and keeps it in
``config.stash`` (as pytest's junitxml keeps its inputs), and the ``context`` fixture of
``graders/conftest.py`` hands it to every lab's graders. No grader reads an environment variable
or derives a path from another: the project root, the state file and the user are here, and the
user comes from ``lab.yaml`` (``labs/catalog.py``) unless the learner is another.

``values`` holds the drawn values of an exam task (names, numbers chosen with the attempt's seed),
empty for a lab.
"""

from __future__ import annotations

import json
import os
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from cluster.errors import CkslabError
from cluster.paths import LabPaths

#: The environment variable naming the context file of a grading run.
ENV = "CKSLAB_GRADING_CONTEXT"


class NoContext(CkslabError):
    """The graders run without a grading context (not through ``ckslab grade``)."""


@dataclass(frozen=True)
class GradingContext:
    """One grading run: which lab, for which user, on which cluster and workspace."""

    #: The lab's id (``certificates-api``).
    lab: str
    #: The learner's user: the lab's own (``lab.yaml``'s ``user``) or ``--user``.
    user: str
    #: The learner's files (``workspace/<lab>[-<user>]``), absolute.
    workspace: Path
    #: The project root: ``.lab/`` (the cluster's state, the labs' records) and ``workspace/``.
    root: Path
    #: The admin kubeconfig of the cluster graded (``<root>/.lab/kubeconfig`` unless a roster says another).
    kubeconfig: Path
    #: The backend ``.lab/state.json`` records ("local", "kind", "existing"; "" when none): for reports only.
    backend: str = ""
    #: The drawn values of an exam task, by name (empty for a lab).
    values: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", types.MappingProxyType(dict(self.values)))

    @property
    def paths(self) -> LabPaths:
        """The project root's layout: ``paths.state_file``, ``paths.lab`` (``.lab/``), ..."""
        return LabPaths(self.root)

    def to_json(self) -> dict[str, Any]:
        return {"lab": self.lab, "user": self.user, "workspace": str(self.workspace), "root": str(self.root),
                "kubeconfig": str(self.kubeconfig), "backend": self.backend, "values": dict(self.values)}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> GradingContext:
        """The context of ``doc`` (what :meth:`to_json` wrote); ValueError naming what is wrong."""
        try:
            values = doc.get("values") or {}
            if not isinstance(values, dict):
                raise TypeError("values is not a mapping")
            return cls(str(doc["lab"]), str(doc["user"]), Path(doc["workspace"]), Path(doc["root"]),
                       Path(doc["kubeconfig"]), str(doc.get("backend", "")),
                       {str(k): str(v) for k, v in values.items()})
        except (KeyError, TypeError) as err:
            raise ValueError(f"not a grading context ({err!r})") from err

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")

    @classmethod
    def read(cls, path: Path) -> GradingContext:
        """The context in ``path``; :class:`NoContext` when it cannot be read."""
        try:
            return cls.from_json(json.loads(path.read_text()))
        except (OSError, ValueError) as err:
            raise NoContext(f"the grading context {path} cannot be read ({err}).",
                            "Grade with: ckslab grade LAB") from err


def from_environment() -> GradingContext | None:
    """The context the runner named in ``$CKSLAB_GRADING_CONTEXT``; None when it names none."""
    path = os.environ.get(ENV)
    return GradingContext.read(Path(path)) if path else None
