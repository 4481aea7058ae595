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
  source) and skips it, with one short message, when it comes after a check that failed or after the check of a
  step that ``ckslab reset`` undid (naming that step and the cell to redo it from, ``labs/resets.py``), or when
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
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from IPython.display import display as _display

from labs import resets
from labs.cells import GRADE_CALL, SETUP_CALL, Cell, NotebookCells
from labs.results import FAIL_COLOUR, Notice

#: Seconds a bash cell gets to end after the kernel is interrupted, before SIGKILL.
INTERRUPT_GRACE = 2.0
#: What kubectl prints when a kubeconfig user has no credentials: client-go's PromptingAuthLoader
#: (k8s.io/client-go/tools/clientcmd/auth_loaders.go) asks on stdin; with stdin closed it ends at once.
PROMPTS = ("Please enter Username:",)


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
    #: The record of the steps a reset undid (``labs/resets.py``): they block the cells after their checks.
    reset_file: Path | None = None


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


def attach(lab_id: str, workspace: Path, notebook: Path | None, reset_file: Path | None = None) -> None:
    """Called by ``lab.setup()``: this kernel now works on ``lab_id`` in ``workspace``.

    ``reset_file`` is where ``ckslab reset`` records the steps it undid (``labs/resets.py``).
    """
    install(notebook)
    if session.lab_id != lab_id:
        session.failing.clear()
    session.lab_id, session.workspace, session.refused = lab_id, workspace, ""
    session.reset_file = reset_file


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
    why = _blocked_by(session.notebook, cell)
    if why:
        session.skip_current = True
        show(Notice(f"Not run: {why}", FAIL_COLOUR))


def _blocked_by(notebook: NotebookCells, cell: Cell) -> str:
    """Why ``cell`` must wait: the first step above it that a reset undid or whose check failed; or "".

    A reset step says so, and that its cells are to be redone from its first one, not from its check;
    once its check ran here and failed (its output said it was reset), the failed check speaks for it.
    """
    blocking: list[tuple[int, int, str]] = []
    for step in resets.read(session.reset_file) if session.reset_file else []:
        check = notebook.check_cell(session.lab_id, step.id)
        if check is not None and check.index < cell.index and step.id not in session.failing:
            blocking.append((check.index, 0, reset_note(notebook, step) + " Then run this cell again."))
    for step_id, (title, index) in session.failing.items():
        if index < cell.index:
            blocking.append((index, 1, f"the check of step {step_id} ({title}) failed above. Fix that step as its "
                                       "message and hint say, run its check cell again, then this cell."))
    return min(blocking)[2] if blocking else ""


def reset_note(notebook: NotebookCells, step: resets.ResetStep) -> str:
    """``step`` was reset, and the cell of ``notebook`` to redo it from."""
    return resets.redo(step, session.lab_id, notebook)


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
