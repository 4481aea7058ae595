"""What the lab notebooks call, so that they stay prose and the commands a learner types.

``setup()`` points the kernel (and every ``%%bash`` cell it runs) at the lab's cluster and
workspace and hooks the lab into the kernel (``labs/kernel.py``); ``check()`` grades one step
and ``grade()`` the whole lab with ``graders.runner``, whose graders run in a process of their own,
so nothing done in the notebook can change how it is graded. Both show the one score report type
(``graders.report.Report``) through IPython's display protocol: rich in JupyterLab, plain text
elsewhere. Neither raises: a
learner sees a verdict, or one line saying why there is none.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from cluster import paths
from cluster.errors import CkslabError
from graders import runner
from graders.report import Report
from labs import catalog, engine, kernel
from labs import practice as _practice
from labs.practice import Practice
from labs.results import FAIL_COLOUR, Notice



def setup(lab_id: str) -> Path | None:
    """Export KUBECONFIG and the pinned kubectl, work in the learner's workspace; the workspace.

    On kind it also exports CKSLAB_KIND_NODE and CKSLAB_ENGINE (``$CKSLAB_ENGINE exec $CKSLAB_KIND_NODE ...``
    is how a cell gets into the node, as ``ssh node`` would on the exam).

    Without a cluster it prints what to do and returns None instead of raising.
    """
    lab = catalog.load(lab_id)
    lab_paths = paths.lab_paths()
    if not lab_paths.kubeconfig.exists():
        kernel.show(Notice("No cluster is up: run `make up` in a terminal, then run this cell again.", FAIL_COLOUR))
        kernel.refuse(lab_id, "no cluster is up: run `make up` in a terminal, then the setup cell again.")
        return None
    os.environ["KUBECONFIG"] = str(lab_paths.kubeconfig)
    # The pinned kubectl first, then this environment's `ckslab`, for every %%bash cell.
    for bin_dir in (str(Path(sys.executable).parent), str(paths.kubernetes_bin_dir())):
        if bin_dir not in os.environ.get("PATH", "").split(os.pathsep)[:2]:
            os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    run = engine.prepare(lab_id)
    try:
        engine.require_backend(run)
    except CkslabError as err:  # a lab for another backend: one line, and every later cell is skipped
        kernel.show(Notice(str(err), FAIL_COLOUR))
        kernel.refuse(lab_id, str(err))
        return None
    os.environ["CKSLAB_USER"] = run.user
    for key, value in run.env().items():  # on kind: the node container and the engine, for %%bash cells
        if key in ("CKSLAB_KIND_NODE", "CKSLAB_ENGINE"):
            os.environ[key] = value
    run.workspace.mkdir(parents=True, exist_ok=True)
    os.chdir(run.workspace)
    copy = run.notebook
    kernel.attach(lab_id, run.workspace, copy.path if copy.exists else copy.tracked, run.reset_file)
    print(f"lab:        {lab.title}")
    print(f"user:       {run.user}")
    print(f"workspace:  {run.workspace}  (the current directory of every cell)")
    print(f"KUBECONFIG: {lab_paths.kubeconfig}")
    if copy.newer_available():
        print(f"news:       a newer {copy.tracked.name} is tracked: `ckslab notebook {lab_id} --update` in a "
              "terminal gives it to you (this copy goes to workspace/.backup/)")
    return run.workspace


def _grade(lab_id: str, step: str | None) -> Report | Notice:
    """Grade with ``graders.runner`` (the graders run in a process of their own); the report, or why none.

    A whole grade is kept in the learner's progress record, as ``ckslab grade`` keeps it.
    """
    try:
        run = engine.prepare(lab_id)
        if step:
            run.lab.step(step)
        engine.require_backend(run)
        runner.check_cluster(run.kubeconfig)
        report = runner.grade(runner.context_for(run.lab, run.user, run.workspace, run.kubeconfig, run.root),
                              step=step)
    except CkslabError as err:
        return Notice(f"Could not grade {step or lab_id}: {' '.join(str(err).split())}", FAIL_COLOUR)
    engine.passed_again(run, [s.id for s in report.steps if s.passed])
    note = engine.reset_note(run, [s.id for s in report.steps if not s.passed])
    if note:  # why it fails now, before the verdict
        kernel.show(Notice(note, FAIL_COLOUR))
    if step is None:
        engine.record(run, {**report.progress(), "graded": time.strftime("%Y-%m-%d %H:%M")})
    return report


def check(lab_id: str, step: str) -> bool:
    """Grade one step and show the verdict, its reason and, when it fails, a hint; True when it passes.

    A failed check makes the kernel skip the lab's cells after it until it passes (labs/kernel.py).
    """
    try:
        title = engine.prepare(lab_id).lab.step(step).title
    except CkslabError as err:
        kernel.show(Notice(str(err), FAIL_COLOUR))
        return False
    result = _grade(lab_id, step)
    kernel.show(result)
    if isinstance(result, Notice):
        return False
    kernel.record_check(lab_id, step, title, result.passed)
    return result.passed


def grade(lab_id: str) -> bool:
    """Grade the whole lab and show every step and the score; True when every step passes.

    A step that passes here no longer blocks the cells after its check; one that fails does not
    start blocking (a learner may grade first and work after).
    """
    result = _grade(lab_id, None)
    kernel.show(result)
    if not isinstance(result, Report):
        return False
    for s in result.steps:
        if s.passed:
            kernel.record_check(lab_id, s.id, s.title, True)
    return result.passed


def practice(lab_id: str, seed: int | None = None) -> Practice:
    """Start a new attempt at the lab's practice test (new names; ``seed`` gives the same ones again).

    Use what it returns: ``practice.ask(1)``, then ``practice.answer(1, "3")`` (labs/practice.py).
    """
    return _practice.start(lab_id, seed)
