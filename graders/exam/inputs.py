"""The one input of an exam task's graders: which task, its drawn values, its workspace.

The runner (``exam.grading``) writes it as a JSON file and passes its path in ``$CKSLAB_EXAM_TASK``;
the score plugin reads the task id from it and the graders' ``task`` fixture the values. This is
the only place that knows the file's shape and where it comes from: when the typed grading
context of the runner lands, only this module changes. Pure code.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENV = "CKSLAB_EXAM_TASK"


@dataclass(frozen=True)
class TaskInput:
    """What the graders of one exam task are given."""

    id: str
    #: The drawn values by name (user, group, namespace, ... and "context").
    values: dict[str, Any]
    #: The learner's exam workspace (relative paths of the statement are relative to it).
    workspace: Path

    def __getitem__(self, name: str) -> str:
        return str(self.values[name])

    def path(self, name: str) -> Path:
        """The file the value ``name`` names, relative to the workspace unless absolute."""
        return self.workspace / self[name]


def write(path: Path, task: TaskInput) -> None:
    path.write_text(json.dumps({"id": task.id, "values": task.values, "workspace": str(task.workspace)}))


def read(path: Path | None = None) -> TaskInput:
    """The input in ``path`` (default: ``$CKSLAB_EXAM_TASK``); ValueError when there is none."""
    where = path or Path(os.environ.get(ENV) or "")
    if not str(where) or not where.is_file():
        raise ValueError(f"no exam task input (${ENV} is {os.environ.get(ENV)!r}): grade with `ckslab exam submit`")
    doc: dict[str, Any] = json.loads(where.read_text())
    return TaskInput(str(doc["id"]), dict(doc["values"]), Path(doc["workspace"]))
