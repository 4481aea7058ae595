"""The code cells of a lab notebook as stored on disk: where a cell sits in the lab.

The kernel places the cell a learner runs by its nbformat id (``labs/kernel.py``); a reset's notes
name the cell to redo a step from (``labs/engine.py``). Pure code: the notebook is JSON.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

#: A code cell that runs a whole-lab grade (never skipped) or one step's check.
GRADE_CALL = re.compile(r"^\s*lab\.grade\(", re.M)
CHECK_CALL = re.compile(r"""lab\.check\(\s*["']([\w-]+)["']\s*,\s*["']([\w-]+)["']""")
SETUP_CALL = re.compile(r"^\s*lab\.setup\(", re.M)
#: A cell that starts the lab (`ckslab start LAB`, in a %%bash cell): part of the setup, which a reset runs again.
START_CALL = re.compile(r"^\s*ckslab start\b", re.M)
#: A markdown heading line: its title.
HEADING = re.compile(r"^#{1,6}\s+(.+)$", re.M)


@dataclass(frozen=True)
class Cell:
    """A code cell: its place among all the notebook's cells (0-based), nbformat id and source."""

    index: int
    id: str
    source: str
    #: The title of the last markdown heading above the cell ("" when none), to name it to a learner.
    heading: str = ""
    #: The index of the markdown cell holding that heading (-1 when none).
    heading_index: int = -1


class NotebookCells:
    """The code cells of a lab notebook as stored on disk, re-read when the file changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._mtime = -1.0
        self.cells: list[Cell] = []
        self.lab_id = ""

    def _load(self) -> None:
        try:
            mtime = self.path.stat().st_mtime
            if mtime == self._mtime:
                return
            doc = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.cells = []
            return
        self._mtime = mtime
        meta = doc.get("metadata", {}).get("ckslab", {})
        self.lab_id = str(meta.get("lab", "")) if isinstance(meta, dict) else ""
        self.cells = []
        heading, heading_index = "", -1
        for index, cell in enumerate(doc.get("cells", [])):
            source = cell.get("source", "")
            source = "".join(source) if isinstance(source, list) else str(source)
            if cell.get("cell_type") == "markdown":
                titles = HEADING.findall(source)
                if titles:
                    heading, heading_index = titles[-1].strip(), index
            elif cell.get("cell_type") == "code":
                self.cells.append(Cell(index, str(cell.get("id", "")), source, heading, heading_index))

    def find(self, cell_id: str | None, source: str) -> Cell | None:
        """The cell with this id, else the only cell with this source; None for a cell of the learner's."""
        self._load()
        if cell_id:
            for cell in self.cells:
                if cell.id == cell_id:
                    return cell
        same = [cell for cell in self.cells if cell.source.strip() == source.strip()]
        return same[0] if len(same) == 1 else None

    def writer_of(self, helper: str) -> Cell | None:
        """The cell that writes the file ``helper`` (a shell redirection ``> helper``)."""
        self._load()
        pattern = re.compile(rf">\s*{re.escape(helper)}(?![\w.-])")
        return next((cell for cell in self.cells if pattern.search(cell.source)), None)

    def after_grade(self, cell: Cell) -> bool:
        """Whether ``cell`` comes after the whole-lab grade: the practice test, which no failed check blocks."""
        self._load()
        return any(GRADE_CALL.search(c.source) and c.index < cell.index for c in self.cells)

    def first_under_its_heading(self, cell: Cell) -> bool:
        """Whether no code cell comes between ``cell``'s heading and ``cell``."""
        self._load()
        return not any(c.heading_index == cell.heading_index and c.index < cell.index for c in self.cells)

    def check_cell(self, lab_id: str, step: str) -> Cell | None:
        """The cell that checks ``step`` of ``lab_id``."""
        self._load()
        for cell in self.cells:
            match = CHECK_CALL.search(cell.source)
            if match and match.groups() == (lab_id, step):
                return cell
        return None

    def first_cell_of(self, lab_id: str, step: str) -> Cell | None:
        """The first code cell of ``step``: the first after the check cell of the step before it.

        None when the notebook has no check cell for ``step``. For the first step it is the first
        code cell after the setup cells (``lab.setup`` and ``ckslab start LAB``, which the reset itself
        ran again): the cells that look at the cluster before step 1.
        """
        check = self.check_cell(lab_id, step)
        if check is None:
            return None
        before = [c.index for c in self.cells if c.index < check.index
                  and (CHECK_CALL.search(c.source) or SETUP_CALL.search(c.source) or START_CALL.search(c.source))]
        start = max(before, default=-1)
        return next((c for c in self.cells if c.index > start), check)
