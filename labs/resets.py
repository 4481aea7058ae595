"""What a reset left for the learner to redo, kept until each reset step passes again.

``ckslab reset LAB [--step STEP]`` deletes what the steps from STEP on made, in the cluster and in
the workspace. The notebook's kernel, a terminal and the graders do not see a reset happen: a
kernel whose checks all passed would run the later cells on objects that are gone, and a check
would blame the step whose cell was run ("nothing is approved") or the admin who deleted the CSR
(the audit log says the reset did it as ``kubernetes-admin``). So the reset writes down which steps
it undid, when and by which command (``.lab/progress/<lab>--<user>.reset.json``), and every message
about one of those steps says it was reset and where to redo it: the kernel's skipped cells, a
step's check, ``ckslab grade`` and ``ckslab hint``. A step leaves the record when it is graded as
passing again. Pure code: JSON files only.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from labs.cells import NotebookCells


@dataclass(frozen=True)
class ResetStep:
    """One step a reset undid and that has not passed since."""

    id: str
    title: str
    #: When the reset ran, local time ``YYYY-mm-dd HH:MM:SS``.
    at: str
    #: The command that reset it (``ckslab reset certificates-api --step csr-object``).
    command: str
    #: The folder the reset moved the learner's files to; "" when there were none.
    backup: str = ""
    #: When the reset began and ended, UTC, ISO 8601 ("" in records written before): what the API server's
    #: audit log shows deleted in between (as the admin) the reset deleted.
    began: str = ""
    ended: str = ""

    def deleted(self, when: dt.datetime) -> bool:
        """Whether a deletion at ``when`` (aware) falls within this reset (a second's slack each side)."""
        try:
            began, ended = dt.datetime.fromisoformat(self.began), dt.datetime.fromisoformat(self.ended)
        except ValueError:
            return False
        slack = dt.timedelta(seconds=1)
        return began - slack <= when <= ended + slack


def record_path(root: Path, lab_id: str, user: str) -> Path:
    """Where the reset record of ``lab_id`` for ``user`` is, under the project root ``root``."""
    return root / ".lab" / "progress" / f"{lab_id}--{user}.reset.json"


def read(path: Path) -> list[ResetStep]:
    """The steps still to redo, in the lab's order; none when the file is missing or unreadable."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return [ResetStep(str(s["id"]), str(s.get("title", "")), str(s["at"]), str(s["command"]),
                          str(s.get("backup", "")), str(s.get("began", "")), str(s.get("ended", "")))
                for s in doc["steps"]]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def _write(path: Path, steps: list[ResetStep]) -> None:
    if not steps:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"steps": [{"id": s.id, "title": s.title, "at": s.at, "command": s.command, "backup": s.backup,
                      "began": s.began, "ended": s.ended} for s in steps]}
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")


def record(path: Path, undone: list[ResetStep], order: list[str]) -> None:
    """Add the steps a reset undid (replacing an earlier reset of the same step); ``order`` is the lab's."""
    kept = {s.id: s for s in read(path)}
    kept.update({s.id: s for s in undone})
    _write(path, sorted(kept.values(), key=lambda s: order.index(s.id) if s.id in order else len(order)))


def passed(path: Path, step_ids: Iterable[str]) -> None:
    """Forget the steps that passed a grade: they are done again."""
    done = set(step_ids)
    pending = read(path)
    if any(s.id in done for s in pending):
        _write(path, [s for s in pending if s.id not in done])


def clear(path: Path) -> None:
    """Forget every reset step (the lab was solved)."""
    path.unlink(missing_ok=True)


def first_cell(cells: NotebookCells, lab_id: str, step_id: str) -> str:
    """Where ``step_id``'s cells begin: "cell 15 of NN-lab.ipynb, the first under “Step 3 ...”, which begins `...`".

    "" when the notebook has no check cell for the step.

    Cells are counted from 1 over all the notebook's cells, markdown included, as they appear.
    """
    first = cells.first_cell_of(lab_id, step_id)
    if first is None:
        return ""
    under = ""
    if first.heading:  # "the first under" only when it is (a setup cell may come before it, under the same heading)
        under = f", {'the first ' if cells.first_under_its_heading(first) else ''}under “{first.heading}”"
    # JupyterLab numbers no cells: its first line (past a %%bash) tells it at a glance.
    line = next((t.strip() for t in first.source.splitlines() if t.strip() and not t.startswith(("%%", "#"))), "")
    starts = f", which begins `{line if len(line) <= 40 else line[:39] + '…'}`" if line else ""
    return f"cell {first.index + 1} of {cells.path.name}{under}{starts}"


def redo(step: ResetStep, lab_id: str, cells: NotebookCells) -> str:
    """One sentence: ``step`` was reset (when, by which command), and the notebook cell to redo it from.

    When the notebook has no check cell for the step, it says how to get its command (``ckslab hint``).
    """
    at = step.at.split()[-1]
    gone = " (its files are in workspace/.backup/)" if step.backup else ""
    said = f"step {step.id} was reset at {at} (`{step.command}`): what it had made is gone{gone}."
    where = first_cell(cells, lab_id, step.id)
    if not where:
        return f"{said} Redo it: `ckslab hint {lab_id} {step.id}` gives its command."
    return f"{said} Re-run its cells from {where}."
