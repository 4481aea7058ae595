"""``ckslab list|start|reset|hint|solve|notebook``: the lab engine on the command line."""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from cluster.errors import UsageError
from graders.report import StepResult
from labs import catalog, engine, resets

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def _say(message: str) -> None:
    err.print(Text(message), soft_wrap=True)


def add_parser(sub: Any) -> None:
    """Register the lab commands on the ``ckslab`` command line."""
    sub.add_parser("list", help="the labs, and your progress in each").set_defaults(func=cmd_list)
    for name, func, text in (("start", cmd_start, "prepare a lab: its workspace and cluster objects"),
                             ("reset", cmd_reset, "return a lab to its start (your files are backed up)"),
                             ("hint", cmd_hint, "a hint for a step (default: the first one not done)"),
                             ("solve", cmd_solve, "run the lab's reference solution (for instructors)"),
                             ("notebook", cmd_notebook, "your copy of the lab's notebook; --update takes a newer one")):
        s = sub.add_parser(name, help=text)
        s.add_argument("lab", help=f"the lab ({', '.join(catalog.known())})")
        if name == "hint":
            s.add_argument("step", nargs="?", help="the step id")
        if name == "reset":
            s.add_argument("--step", help="reset this step and the ones after it only")
        if name == "start":
            s.add_argument("--again", action="store_true",
                           help="start the lab over in the cluster, undoing your changes there (your files stay); "
                                "without it a second start keeps what is there")
        if name == "solve":
            s.add_argument("--yes", action="store_true", help="do not ask for confirmation")
        if name == "notebook":
            s.add_argument("--update", action="store_true",
                           help="replace your copy with the tracked notebook (yours goes to workspace/.backup/)")
        s.add_argument("--user", help="the learner's user name (default: $CKSLAB_USER, else the lab's)")
        s.set_defaults(func=func)


def cmd_list(args: argparse.Namespace) -> int:
    table = Table(title="ckslab labs")
    for column in ("lab", "title", "steps", "points", "progress"):
        table.add_column(column)
    for lab in catalog.all_labs():
        run = engine.prepare(lab.id)
        progress = engine.read_progress(run)
        if "score" in progress:
            state = f"{progress['score']}/{progress['max_score']} (graded {progress.get('graded', '?')})"
        elif "started" in progress:
            state = "started"
        else:
            state = "not started"
        table.add_row(lab.id, Text(run.lab.title), str(len(lab.steps)), str(lab.max_score), state)
    out.print(table)
    out.print("Start one with `make lab LAB=<lab>` (or `ckslab start <lab>`).")
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    run = engine.prepare(args.lab, args.user)
    engine.start(run, _say, again=args.again)
    # "for jane" only in a lab about a user: control-plane-certificates has none (its lab.yaml's
    # user names only its workspace).
    who = f" for {run.user}" if catalog.load(run.lab.id).names_user() else ""
    out.print(f"[bold]{run.lab.title}[/bold] is ready{who}.")
    out.print(Text(run.lab.summary))
    # In a class the hub's JupyterLab is the learner's already: `make jupyter` would start another.
    opener = "" if os.environ.get("JUPYTERHUB_USER") else f"  (`make jupyter LAB={run.lab.id}`)"
    out.print(Text(f"\nWork in:   {run.workspace}\nNotebook:  {run.notebook.path}{opener}\n"
                   f"First:     {run.lab.steps[0].hint}\nCheck:     make grade LAB={run.lab.id}"), soft_wrap=True)
    return 0


def cmd_reset(args: argparse.Namespace) -> int:
    run = engine.prepare(args.lab, args.user)
    started = time.monotonic()
    backup = engine.reset(run, _say, from_step=args.step)
    scope = f"from step {args.step} on" if args.step else "to its start"
    keep = engine.keep_backups()
    kept = f" (the newest {keep} backups are kept, CKSLAB_KEEP_BACKUPS)" if keep else ""
    if backup is None:
        moved = " There were no files to keep."
    elif args.step:  # only the files of the steps reset: the earlier steps' stay where they were
        moved = (f" Their files ({', '.join(sorted(p.name for p in backup.iterdir()))}) are in {backup}{kept}; "
                 "the earlier steps' stay in the workspace.")
    else:
        moved = f" Your files are in {backup}{kept}."
    out.print(Text(f"{run.lab.id} is reset {scope} in {time.monotonic() - started:.1f}s." + moved), soft_wrap=True)
    first = run.lab.step(args.step) if args.step else run.lab.steps[0]
    later = [s.id for s in run.lab.steps[run.lab.steps.index(first) + 1:]]
    where = resets.first_cell(engine.notebook_cells(run), run.lab.id, first.id)
    redo = f"re-run the cells of step {first.id} from {where}" if where else f"redo step {first.id}"
    after = f"; the steps after it ({', '.join(later)}) follow" if later and args.step else ""
    # ckslab, not make: a JupyterLab terminal opens in the lab's workspace, where there is no Makefile.
    user = f" --user {run.user}" if run.suffix else ""
    out.print(Text(f"Next: {redo}{after}. In a terminal: ckslab hint {run.lab.id}{user}"), soft_wrap=True)
    return 0


def cmd_notebook(args: argparse.Namespace) -> int:
    run = engine.prepare(args.lab, args.user)
    copy = run.notebook
    if args.update:
        if not copy.exists:
            raise UsageError(f"you have no copy of {copy.tracked.name} yet.",
                             f"`ckslab start {run.lab.id}` makes it.")
        kept = engine.update_notebook(run)
        out.print(Text(f"{copy.path} is now the newest {copy.tracked.name}; your copy is kept as {kept}. "
                       "Close its tab in JupyterLab and open it again."), soft_wrap=True)
        return 0
    if not copy.exists:
        engine.require_backend(run)  # `ckslab start` would refuse: say why, not "start makes it"
        out.print(Text(f"You have no copy of {copy.tracked.name} yet: `ckslab start {run.lab.id}` makes it."),
                  soft_wrap=True)
        return 1
    state = ("a newer version is tracked: `ckslab notebook " + run.lab.id + " --update` takes it"
             if copy.newer_available() else "up to date")
    out.print(Text(f"{copy.path} ({state})"), soft_wrap=True)
    return 0


def _first_failing(run: engine.LabRun) -> StepResult | None:
    """The graded first step that fails (its reason and hint), None when all pass."""
    from graders import runner

    runner.check_cluster(run.kubeconfig)
    report = runner.grade(runner.context_for(run.lab, run.user, run.workspace, run.kubeconfig, run.root))
    engine.passed_again(run, [s.id for s in report.steps if s.passed])
    return report.failing()


def cmd_hint(args: argparse.Namespace) -> int:
    run = engine.prepare(args.lab, args.user)
    engine.require_backend(run)
    if args.step is not None:
        step = run.lab.step(args.step)
        out.print(f"[bold]{step.id}[/bold] — {Text(step.title)}")
        out.print(Text(f"hint: {step.hint}"))
        return 0
    failing = _first_failing(run)  # a cluster that cannot be graded: its error, exit 2
    if failing is None:
        out.print(f"Every step of {run.lab.id} passes: nothing left to hint at.")
        return 0
    step = run.lab.step(failing.id)
    # The graded hint answers the mistake made (a v1beta1 manifest, wrapped base64, ...); the
    # step's own hint is the command of a learner who has not started it.
    out.print(f"[bold]{step.id}[/bold] — {Text(step.title)}", soft_wrap=True)
    out.print(Text(failing.message), soft_wrap=True)
    out.print(Text(f"hint: {failing.hint or step.hint}"), soft_wrap=True)
    note = engine.reset_note(run, [step.id])
    if note:
        out.print(Text(note), soft_wrap=True)
    return 0


def cmd_solve(args: argparse.Namespace) -> int:
    run = engine.prepare(args.lab, args.user)
    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError("`solve` overwrites the lab's files and asks first.",
                             "Add --yes to run it without asking.")
        answer = input(f"Run the reference solution of {run.lab.id} for {run.user} in {run.workspace}? "
                       "It overwrites the lab's files there. [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            out.print("Nothing done.")
            return 1
    engine.solve(run, _say)
    out.print(f"The reference solution of {run.lab.id} ran for {run.user}. Check it: make grade LAB={run.lab.id}")
    return 0
