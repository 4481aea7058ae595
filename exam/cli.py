"""``ckslab exam ...``: the mock exam on the command line.

Every command first looks at the clock: once the deadline kept in the attempt has passed, the
exam is graded as it stands and the debrief shown, whatever command was typed. Before submit
there is no hint, no check and no solution (``check`` only in practice mode).
"""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path
from typing import Any, Callable, cast

from rich.console import Console
from rich.table import Table
from rich.text import Text

from cluster.errors import CkslabError, UsageError
from exam import attempt as attempts
from exam import bank, clusters, debrief, page, page_process, timing
from exam.session import Session, now

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)
ACTIONS = ("status", "start", "show", "flag", "submit", "report", "solve", "resume", "abandon", "check", "down",
           "ssh", "page")


def add_parser(sub: Any) -> None:
    """Register ``exam`` on the ``ckslab`` command line."""
    s = sub.add_parser("exam", help="a timed mock exam of certificate tasks on two clusters, with a debrief")
    s.add_argument("action", nargs="?", default="status", choices=ACTIONS,
                   help="status (default), start, show [TASK], flag TASK, submit, report, solve --yes, resume, "
                        "abandon, check TASK (--practice only), down (stop the exam's clusters and page), "
                        "page (the questions in a browser beside a terminal), "
                        "ssh CONTEXT [-- COMMAND] (a shell on that context's control-plane node)")
    s.add_argument("task", nargs="?", help="the task's number or id (show, flag, check); ssh: the context")
    s.add_argument("command", nargs="*", help="ssh: a command to run on the node instead of a shell (after --)")
    s.add_argument("--minutes", type=int, default=attempts.DEFAULT_MINUTES, help="start: the time allowed (120)")
    s.add_argument("--tasks", type=int, help="start: how many tasks to draw (default: every task of the bank)")
    s.add_argument("--only", metavar="ID,ID", help="start: draw only these tasks of the bank (ids, comma-separated)")
    s.add_argument("--seed", help="start: the seed of the draw (default: a new one)")
    s.add_argument("--practice", action="store_true", help="start: no clock, and `ckslab exam check TASK`")
    s.add_argument("--yes", action="store_true", help="solve: run the reference solutions without asking")
    s.add_argument("--json", metavar="FILE", help="submit, report: also write the debrief as JSON")
    s.add_argument("--junit", metavar="FILE", help="submit, report: also write it as JUnit XML")
    s.add_argument("--html", metavar="FILE", help="submit, report: also write it as a self-contained HTML page")
    s.add_argument("--port", type=int, help="page: the port on 127.0.0.1 (default: a free one)")
    s.add_argument("--no-page", action="store_true", help="start, resume: do not start the exam's page")
    s.add_argument("--until-down", action="store_true", help=argparse.SUPPRESS)  # the page started by start/resume
    s.set_defaults(func=run)


def _say(message: str) -> None:
    err.print(Text(message), soft_wrap=True)


def run(args: argparse.Namespace) -> int:
    session = Session()
    if args.action == "down":
        page_process.stop(session)
        clusters.down(session.project, attempts.KNOWN_CONTEXTS, _say)
        out.print("The exam's clusters are down.")
        return 0
    if args.action == "ssh":
        return _ssh(session, args)
    if args.action == "page":
        return _page(session, args)
    if args.action != "start" and args.task is None and args.action in ("flag", "check"):
        raise UsageError(f"`ckslab exam {args.action}` needs a task: its number or id.",
                         "See them with: ckslab exam status")
    current = session.load()
    if current is not None and not current.submitted and current.overdue(now()):
        out.print("[bold]Time is up.[/bold] The exam is graded as it stands.")
        graded = session.submit(current)
        _show_and_write(graded, args)
        return 0 if graded["passed"] else 1
    if args.action == "start":
        seed = attempts.parse_seed(args.seed)
        only = [i.strip() for i in (args.only or "").split(",") if i.strip()]
        fresh = session.start(seed, args.tasks, args.minutes, args.practice, _say, only)
        out.print(f"Exam started: seed {fresh.seed}, {len(fresh.tasks)} tasks, "
                  + ("practice mode (no clock)." if fresh.practice else f"{args.minutes} minutes."))
        out.print(f'Your kubeconfig: export KUBECONFIG={clusters.learner_kubeconfig(session.project)}; '
                  f"your files: {session.workspace}")
        show_status(fresh)
        show_statements(fresh, None)
        nodes = sorted({t.context for t in fresh.tasks if bank.load(t.id).node})
        if nodes:
            out.print(f"Node tasks: enter the node of their context with `ckslab exam ssh CONTEXT` "
                      f"({', '.join(nodes)}); `exit` leaves it.")
        _open_page(session, args)
        return 0
    found = session.require()
    if args.action == "resume":
        session.resume(_say)
        out.print(f"Exam resumed; export KUBECONFIG={clusters.learner_kubeconfig(session.project)}")
        show_status(found)
        _open_page(session, args)
        return 0
    if args.action in ("report", "submit") and (args.action == "report" or found.submitted):
        if not found.debrief:
            if found.submitted:  # abandoned
                raise CkslabError(f"this exam was {found.submitted}: it has no debrief.",
                                  "Start another: ckslab exam start")
            raise CkslabError("this exam has no debrief yet (it was not submitted).", "Submit it: ckslab exam submit")
        if args.action == "submit":
            raise CkslabError(f"this exam was already graded ({found.submitted}).",
                              "See its debrief again: ckslab exam report")
        kept = cast(debrief.DebriefJson, found.debrief)
        _show_and_write(kept, args)
        return 0
    if found.submitted and args.action not in ("status",):
        raise CkslabError(f"this exam is over ({found.submitted}).",
                          "See its debrief: ckslab exam report; start another: ckslab exam start")
    if args.action == "status":
        show_status(found)
        running = page_process.running(session)
        if running:
            out.print(f"The exam's page: {running}", soft_wrap=True)
        return 0
    if args.action == "show":
        show_statements(found, args.task)
        return 0
    if args.action == "flag":
        drawn = found.task(args.task)
        session.flag(args.task)
        out.print(f"Task {drawn.id} {'flagged' if not drawn.flagged else 'no longer flagged'}.")
        return 0
    if args.action == "abandon":
        session.abandon()
        page_process.stop(session)
        out.print("Exam abandoned (kept in .lab/exam/attempts/ at the next start). Start another: ckslab exam start")
        return 0
    if args.action == "solve":
        if not args.yes:
            raise UsageError("`ckslab exam solve` runs every reference solution: it reveals the answers.",
                             "Add --yes if that is what you want (instructors, tests).")
        session.solve(_say)
        out.print("Every task's reference solution ran in its context.")
        return 0
    if args.action == "check":
        if not found.practice:
            raise UsageError("no checks before submit in an exam: that is the point of it.",
                             "Start a practice exam for that: ckslab exam start --practice")
        drawn = found.task(args.task)
        checked = session.grade(found, only=[drawn])
        _show_task(found.tasks.index(drawn) + 1, debrief.task_json(drawn, checked.get(drawn.id)))
        return 0
    # submit
    result = session.submit(found)
    _show_and_write(result, args)
    return 0 if result["passed"] else 1


def _ssh(session: Session, args: argparse.Namespace) -> int:
    """``ckslab exam ssh CONTEXT [-- COMMAND]``: enter (or run a command on) a context's control-plane node."""
    found = session.load()
    known = found.contexts if found is not None else attempts.CONTEXTS
    if args.task not in known:
        raise UsageError(f"`ckslab exam ssh` needs a context of this exam{f' (not {args.task!r})' if args.task else ''}.",
                         f"Its contexts: {', '.join(known)}; e.g. ckslab exam ssh {known[0]}")
    argv, env, cwd = clusters.node_shell(session.project, args.task, list(args.command))
    return subprocess.run(argv, env=env, cwd=cwd, check=False).returncode


def _page(session: Session, args: argparse.Namespace) -> int:
    """Print the URL of the exam's page that runs, or serve one here until Ctrl-C."""
    session.require()
    if not args.until_down:
        running = page_process.running(session)
        if running:
            out.print(f"The exam's page already runs: {running}", soft_wrap=True)
            return 0
    return page.serve(session, args.port, lambda line: print(line, flush=True), args.until_down)


def _open_page(session: Session, args: argparse.Namespace) -> None:
    """Start the exam's page in the background (start, resume) and print its URL; say why when it cannot."""
    if args.no_page:
        return
    try:
        out.print(f"The exam's page, the questions beside a terminal: {page_process.launch(session)}", soft_wrap=True)
    except CkslabError as problem:
        _say(f"{problem.message} {problem.hint or ''}".strip())


def _left(found: attempts.Attempt) -> str:
    if found.submitted:
        return f"over ({found.submitted})"
    if found.practice:
        return "practice: no clock"
    seconds = max(0, int(found.seconds_left(now())))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d} left"


def show_status(found: attempts.Attempt) -> None:
    table = Table(title=f"ckslab exam, seed {found.seed}: {_left(found)}")
    for column in ("#", "task", "weight", "context", "flag"):
        table.add_column(column)
    for i, t in enumerate(found.tasks, 1):
        title = bank.load(t.id).rendered(t.values).title
        if t.setup_error:
            title += " [left out: its setup failed]"
        context = f"{t.context} (node)" if bank.load(t.id).node else t.context
        table.add_row(str(i), Text(title), f"{t.weight}", context, "flagged" if t.flagged else "")
    out.print(table)


def show_statements(found: attempts.Attempt, which: str | None) -> None:
    chosen = [found.task(which)] if which else found.tasks
    for t in chosen:
        i = found.tasks.index(t) + 1
        task = bank.load(t.id).rendered(t.values)
        out.print(f"\n[bold]Task {i} ({task.weight} points, context {t.context})[/bold]")
        out.print(Text(task.statement.rstrip()), soft_wrap=True)


def _show_task(i: int, t: debrief.TaskJson) -> None:
    flag = " (flagged)" if t["flagged"] else ""
    table = Table(title=f"{i}. {t['title']}: {t['score']}/{t['max_score']} (context {t['context']}){flag}",
                  show_lines=True)
    for column in ("check", "points", "expected", "observed", "why"):
        table.add_column(column, overflow="fold")
    for c in t["checks"]:
        mark = "[green]pass[/green]" if c["passed"] else "[red]fail[/red]"
        table.add_row(Text(c["name"]), f"{mark} {c['points']}/{c['max_points']}", Text(c["expected"]),
                      Text(c["observed"]), Text("" if c["passed"] else c["message"]))
    out.print(table)
    if t["note"]:
        out.print(Text(t["note"], style="bold"), soft_wrap=True)
    if "seconds" in t:
        out.print(Text(f"Time spent: {timing.spoken(t['seconds'])}"), soft_wrap=True)


def show_debrief(result: debrief.DebriefJson) -> None:
    for i, t in enumerate(result["tasks"], 1):
        _show_task(i, t)
        out.print(Text("Explanation: " + t["explanation"].strip()), soft_wrap=True)
        out.print(Text("Reference solution:\n" + t["solution"].strip()), soft_wrap=True)
        out.print(Text(f"Docs: {t['docs']}   Lab to revisit: ckslab start {t['lab']}\n"), soft_wrap=True)
    out.print(Text(f"Time per task: {result.get('time_measure', timing.MEASURE)}."), soft_wrap=True)
    verdict = "[green]passed[/green]" if result["passed"] else "[red]not passed[/red]"
    out.print(f"Score: [bold]{result['score']}/{result['max_score']}[/bold] = {result['percent']} % "
              f"(pass line {result['pass_percent']} %): {verdict}. Seed {result['seed']}.")


def _show_and_write(result: debrief.DebriefJson, args: argparse.Namespace) -> None:
    """Write the files asked for (``--json``, ``--junit``, ``--html``) first, then show the debrief and name
    them: a reader that closes stdout early (``| head``) does not cost the files."""
    written = _write_reports(result, args)
    show_debrief(result)
    for target in written:
        out.print(f"Debrief written to {target}.")


def _write_reports(result: debrief.DebriefJson, args: argparse.Namespace) -> list[str]:
    """Write the debrief in each format asked for; the files written."""
    renderings: dict[str, Callable[[debrief.DebriefJson], str]] = {
        "json": lambda d: json.dumps(d, indent=2) + "\n", "junit": debrief.junit, "html": debrief.html_page}
    written = []
    for option, render in renderings.items():
        target = getattr(args, option, None)
        if target:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            Path(target).write_text(render(result))
            written.append(str(target))
    return written
