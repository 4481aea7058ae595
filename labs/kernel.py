"""What the lab does inside a notebook's kernel, between the cells a learner runs.

A learner runs cells one by one, or all at once, in any order, after mistakes, after a reset. So
that each cell either does what its prose says or says in one line why it does not, the kernel
gets three things through IPython's documented extension points:

- ``%%bash`` runs the cell with bash with stdin closed (IPython's own ``%%bash`` feeds the script on
  stdin, so a command that prompts, such as kubectl asking ``Please enter Username:`` for a
  kubeconfig without credentials, read the rest of the cell as its answer), stderr merged into
  stdout in order as in a terminal (``verify OK``, ``No resources found`` are not errors), and no
  Python traceback when the last command fails: its own message is the output.
- A ``pre_run_cell`` hook that places the cell in the lab notebook (by its nbformat id, else by its
  source) and skips it, with one short message, when it comes after a check that failed, or when
  the setup cell has not run in this kernel yet (or ran and set nothing up: then with its reason,
  such as a lab for another backend). The skipping itself is an AST transformer that
  empties the cell (``InteractiveShell.ast_transformers``). Cells the learner added, the setup cell
  and the whole-lab grade (once the setup cell has run: it defines ``lab``) always run, and so
  do the practice test's cells after it (its questions are on objects of their own).
- The same hook brings the kernel back to the lab's workspace when its working directory was
  deleted or moved away, and says so.

``install()`` is idempotent; ``labs/startup.py`` calls it when JupyterLab starts the kernel (so it
works before the setup cell), and ``lab.setup()`` calls it in any other kernel (nbclient).
"""

from __future__ import annotations

import ast
import codecs
import json
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from IPython.display import display as _display

from labs.results import FAIL_COLOUR, Notice

#: A code cell that runs a whole-lab grade (never skipped) or one step's check.
GRADE_CALL = re.compile(r"^\s*lab\.grade\(", re.M)
CHECK_CALL = re.compile(r"""lab\.check\(\s*["']([\w-]+)["']\s*,\s*["']([\w-]+)["']""")
SETUP_CALL = re.compile(r"^\s*lab\.setup\(", re.M)
#: A markdown heading line: its title.
HEADING = re.compile(r"^#{1,6}\s+(.+)$", re.M)
#: Seconds a bash cell gets to end after the kernel is interrupted, before SIGKILL.
INTERRUPT_GRACE = 2.0
#: What kubectl prints when a kubeconfig user has no credentials: client-go's PromptingAuthLoader
#: (k8s.io/client-go/tools/clientcmd/auth_loaders.go) asks on stdin; with stdin closed it ends at once.
PROMPTS = ("Please enter Username:",)


@dataclass(frozen=True)
class Cell:
    index: int
    id: str
    source: str
    #: The title of the last markdown heading above the cell ("" when none), to name it to a learner.
    heading: str = ""


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
        heading = ""
        for index, cell in enumerate(doc.get("cells", [])):
            source = cell.get("source", "")
            source = "".join(source) if isinstance(source, list) else str(source)
            if cell.get("cell_type") == "markdown":
                titles = HEADING.findall(source)
                heading = titles[-1].strip() if titles else heading
            elif cell.get("cell_type") == "code":
                self.cells.append(Cell(index, str(cell.get("id", "")), source, heading))

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

    def check_cell(self, lab_id: str, step: str) -> Cell | None:
        """The cell that checks ``step`` of ``lab_id``."""
        self._load()
        for cell in self.cells:
            match = CHECK_CALL.search(cell.source)
            if match and match.groups() == (lab_id, step):
                return cell
        return None


@dataclass
class Session:
    """The kernel's lab: set by ``lab.setup()``; failing checks block the cells after them."""

    notebook: NotebookCells | None = None
    lab_id: str = ""
    workspace: Path | None = None
    #: step id -> (its title, the notebook index of its check cell), for each check that failed.
    failing: dict[str, tuple[str, int]] = field(default_factory=dict)
    skip_current: bool = False
    #: Why the setup cell set nothing up (no cluster, a cluster of another backend), for the cells after it.
    refused: str = ""


session = Session()


def show(obj: object) -> None:
    """Display ``obj`` in the current cell's output (rich where the front end renders HTML)."""
    _display(obj)  # type: ignore[no-untyped-call]  # IPython is untyped


def install(notebook: Path | None = None) -> None:
    """Hook the lab into this IPython kernel (once); ``notebook`` is the lab notebook, if known."""
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        return
    if notebook is not None and (session.notebook is None or session.notebook.path != notebook):
        session.notebook = NotebookCells(notebook)
        session.notebook.find(None, "")  # read it now: its lab id says whether it is a lab notebook
        session.lab_id = session.lab_id or session.notebook.lab_id
    if getattr(shell, "_ckslab_installed", False):
        return
    shell._ckslab_installed = True
    shell.events.register("pre_run_cell", _pre_run_cell)
    shell.ast_transformers.append(_SkipCell())
    from IPython.core.magics.script import ScriptMagics

    _ipython_bash.append(ScriptMagics(shell=shell))  # type: ignore[no-untyped-call]  # IPython is untyped
    shell.register_magic_function(bash, magic_kind="cell", magic_name="bash")


def attach(lab_id: str, workspace: Path, notebook: Path | None) -> None:
    """Called by ``lab.setup()``: this kernel now works on ``lab_id`` in ``workspace``."""
    install(notebook)
    if session.lab_id != lab_id:
        session.failing.clear()
    session.lab_id, session.workspace, session.refused = lab_id, workspace, ""


def refuse(lab_id: str, reason: str) -> None:
    """Called by ``lab.setup()`` when it sets nothing up: the later cells say ``reason``, not "run the setup cell"."""
    session.lab_id, session.workspace, session.refused = lab_id, None, reason


def record_check(lab_id: str, step: str, title: str, passed: bool) -> None:
    """Remember whether ``step``'s check passed: the cells after a failed one are skipped."""
    if passed:
        session.failing.pop(step, None)
        return
    cell = session.notebook.check_cell(lab_id, step) if session.notebook else None
    if cell is not None:
        session.failing[step] = (title, cell.index)


def _pre_run_cell(info: Any) -> None:
    session.skip_current = False
    _back_to_workspace()
    if session.notebook is None or not session.lab_id:
        return
    cell = session.notebook.find(getattr(info, "cell_id", None), getattr(info, "raw_cell", "") or "")
    if cell is None:
        return
    if session.workspace is None:  # the whole-lab grade too: `lab` is defined by the setup cell
        if not SETUP_CALL.search(cell.source):
            session.skip_current = True
            if session.refused:  # the setup cell ran and said why it set nothing up
                show(Notice(f"Not run: {session.refused}", FAIL_COLOUR))
            else:
                show(Notice(f'Not run: run the setup cell first, the first code cell of this notebook '
                            f'(lab.setup("{session.lab_id}")). It points kubectl at the lab\'s cluster and works '
                            f'in your workspace; then run this cell again.', FAIL_COLOUR))
        return
    if GRADE_CALL.search(cell.source) or session.notebook.after_grade(cell):
        return
    missing = _missing_helper(session.notebook, cell, session.workspace)
    if missing:
        session.skip_current = True
        show(Notice(f"Not run: {missing}", FAIL_COLOUR))
        return
    blocking = sorted((index, step, title) for step, (title, index) in session.failing.items() if index < cell.index)
    if blocking:
        _index, step, title = blocking[0]
        session.skip_current = True
        show(Notice(f"Not run: the check of step {step} ({title}) failed above. Fix that step as its "
                       "message and hint say, run its check cell again, then this cell.", FAIL_COLOUR))


def _missing_helper(notebook: NotebookCells, cell: Cell, workspace: Path) -> str:
    """Why ``cell`` cannot run: a helper of the lab it uses (lab.yaml ``helpers:``) is not in the workspace; or ""."""
    from labs import catalog

    try:
        helpers = catalog.load(session.lab_id).helpers
    except Exception:  # an unknown or damaged lab: the setup cell says so
        return ""
    for helper in helpers:
        writer = notebook.writer_of(helper)
        if helper not in cell.source or writer is None or writer.index == cell.index:
            continue
        if not (workspace / helper).is_file():
            where = f"the cell under “{writer.heading}”" if writer.heading else "the cell of this notebook that writes it"
            return (f"this cell needs {helper}, which {where} writes, and {workspace / helper} is missing. "
                    "Run that cell, then this one.")
    return ""


def _back_to_workspace() -> None:
    """When the kernel's directory was deleted or moved into a backup, work in the workspace again."""
    workspace = session.workspace
    if workspace is None:
        return
    try:
        cwd: Path | None = Path.cwd()
    except FileNotFoundError:  # the directory was deleted (or replaced by a new one of the same name)
        cwd = None
    if cwd is not None and cwd.exists() and ".backup" not in cwd.parts:
        return
    workspace.mkdir(parents=True, exist_ok=True)
    os.chdir(workspace)
    show(Notice(f"This kernel's folder had been moved or deleted: it works in {workspace} again "
                   "(files moved by a reset are in workspace/.backup/)."))


class _SkipCell(ast.NodeTransformer):
    """Empties the cell that ``_pre_run_cell`` decided to skip."""

    def visit_Module(self, node: ast.Module) -> ast.Module:
        if not session.skip_current:
            return node
        return ast.fix_missing_locations(ast.Module(body=[ast.Pass()], type_ignores=[]))


#: IPython's own ``%%bash``, for a cell that gives it options (``%%bash --out VAR``...).
_ipython_bash: list[Any] = []


def bash(line: str, cell: str) -> None:
    """``%%bash``: the cell's script in bash, stdin closed, stderr in order with stdout, no traceback."""
    if line.strip() and _ipython_bash:
        _ipython_bash[0].shebang(f"bash {line}", cell)
        return
    proc = subprocess.Popen(["bash", "-c", cell], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    assert proc.stdout is not None
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    tail = ""  # the end of the output so far, to recognise a prompt split across reads
    prompted = False
    try:
        while chunk := os.read(proc.stdout.fileno(), 65536):
            text = decoder.decode(chunk)
            sys.stdout.write(text)
            sys.stdout.flush()
            tail = (tail + text)[-200:]
            prompted = prompted or any(p in tail for p in PROMPTS)
        proc.wait()
    except KeyboardInterrupt:
        _stop(proc)
        print("\n(interrupted)")
    finally:
        proc.stdout.close()
    sys.stdout.write(decoder.decode(b"", final=True))
    if prompted:
        print("(kubectl asked for a user name because the kubeconfig it used has no credentials for its user, "
              "for example an empty certificate; a notebook cell cannot answer, so it stopped.)")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    for sig in (signal.SIGINT, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(INTERRUPT_GRACE)
            return
        except subprocess.TimeoutExpired:
            continue
