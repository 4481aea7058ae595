"""The one input of exam tasks' graders: which tasks, their drawn values, their workspace.

The session (``exam.session``) writes it as a JSON file and passes its path in ``$CKSLAB_EXAM_TASK``
(``--ckslab-exam-task`` for the score plugin): ``{"tasks": [{"id", "values", "workspace"}, ...]}``,
every task graded by one pytest process against one context's cluster (one process per context,
not per task: a pytest process costs 1-2 s to start). The score plugin reads the task ids from it
and the graders' ``task`` fixture the values of the task whose graders folder
(``graders/exam/<id_with_underscores>/``) the test is in. A file of one task as
``{"id", "values", "workspace"}`` (``write``) is read the same way. This is the only place that
knows the file's shape. Pure code.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

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

    @property
    def folder(self) -> str:
        """The name of its graders' folder under graders/exam/ (``user_certificate``)."""
        return self.id.replace("-", "_")


def _doc(task: TaskInput) -> dict[str, Any]:
    return {"id": task.id, "values": task.values, "workspace": str(task.workspace)}


def write(path: Path, task: TaskInput) -> None:
    """The input of one task's graders."""
    path.write_text(json.dumps(_doc(task)))


def write_all(path: Path, tasks: Sequence[TaskInput]) -> None:
    """The input of several tasks' graders, run by one pytest process."""
    path.write_text(json.dumps({"tasks": [_doc(t) for t in tasks]}))


def read_all(path: Path | None = None) -> list[TaskInput]:
    """The tasks in ``path`` (default: ``$CKSLAB_EXAM_TASK``); ValueError when there is no such file."""
    where = path or Path(os.environ.get(ENV) or "")
    if not str(where) or not where.is_file():
        raise ValueError(f"no exam task input (${ENV} is {os.environ.get(ENV)!r}): grade with `ckslab exam submit`")
    doc: dict[str, Any] = json.loads(where.read_text())
    return [TaskInput(str(t["id"]), dict(t["values"]), Path(t["workspace"])) for t in doc.get("tasks", [doc])]


def several(path: Path) -> bool:
    """Whether ``path`` was written by ``write_all`` (its report then has one report per task)."""
    doc = json.loads(path.read_text())
    return isinstance(doc, dict) and "tasks" in doc


def folder_of(graders: Path, folders: Sequence[str]) -> str | None:
    """Which of the task folders ``folders`` holds the graders' file ``graders`` (the innermost), or None."""
    return next((part for part in reversed(graders.parts[:-1]) if part in folders), None)


def read(path: Path | None = None, graders: Path | None = None) -> TaskInput:
    """The task in ``path`` whose graders' folder holds the file ``graders`` (the only task when the file
    holds one); ValueError when there is none."""
    tasks = read_all(path)
    if len(tasks) == 1:  # also for graders outside graders/exam/<task>/ (the plugin's own tests)
        return tasks[0]
    folder = folder_of(graders, [t.folder for t in tasks]) if graders is not None else None
    for task in tasks:
        if task.folder == folder:
            return task
    raise ValueError(f"no exam task input for the graders {graders} (given: {', '.join(t.id for t in tasks)})")
