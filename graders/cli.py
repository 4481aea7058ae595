"""``ckslab grade LAB``: parse the command line, grade with ``graders.runner``, print the report.

Grading itself (the graders' own process, the context, the report) is ``graders/runner.py``; class
grading is ``graders/classroom.py``. Exit codes: 0 every step passes, 1 some step fails, 2 cannot
grade.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from graders import runner
from graders.report import Report
from graders.runner import CannotGrade, check_admin, check_cluster  # noqa: F401  (ckslab grade's errors)
from labs import catalog, engine

out = Console(highlight=False)


def add_parser(subparsers: Any) -> None:
    """Register ``grade`` on the ``ckslab`` command line."""
    s = subparsers.add_parser("grade", help="grade a lab: which steps pass, with hints for the others")
    s.add_argument("lab", help=f"the lab to grade ({', '.join(catalog.known())})")
    s.add_argument("--json", metavar="FILE", help="also write the score report to FILE as JSON")
    s.add_argument("--junit", metavar="FILE", help="also write a JUnit XML report to FILE")
    s.add_argument("--step", metavar="ID", help="grade only the step ID")
    s.add_argument("--user", metavar="NAME", help="the learner's user (default: the lab's, e.g. jane)")
    s.add_argument("--class", dest="class_roster", metavar="ROSTER.csv|hub",
                   help="grade every learner of a roster (name,kubeconfig,workspace) in parallel; `hub`: the class `ckslab class up` hosts here")
    s.add_argument("--out", metavar="DIR", default="class-report",
                   help="with --class: where the CSV, the HTML scoreboard and each learner's reports go")
    s.set_defaults(func=run)
    from graders import audit_cli

    audit_cli.add_parser(subparsers)


def run(args: argparse.Namespace) -> int:
    """Grade ``args.lab``; print the table; 0 when every step passes, else 1."""
    if args.class_roster:
        from graders import classroom

        return classroom.run(args)
    run_ = engine.prepare(args.lab, args.user)
    lab = run_.lab
    if args.step:
        lab.step(args.step)
    engine.require_backend(run_)
    runner.check_cluster(run_.kubeconfig)
    context = runner.context_for(lab, run_.user, run_.workspace, run_.kubeconfig, run_.root)
    report = runner.grade(context, step=args.step, junit=Path(args.junit).resolve() if args.junit else None)
    if not args.step:
        engine.record(run_, {**report.progress(), "graded": time.strftime("%Y-%m-%d %H:%M")})
    engine.passed_again(run_, [s.id for s in report.steps if s.passed])
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report.to_json(), indent=2) + "\n")
    show(report)
    note = engine.reset_note(run_, [s.id for s in report.steps if not s.passed])
    if note:
        out.print(Text(note), soft_wrap=True)
    return 0 if report.passed else 1


def show(report: Report) -> None:
    """Print ``report`` as a table, then the score."""
    table = Table(title=f"ckslab grade {report.lab}", show_lines=True)
    for column, style in (("step", "bold"), ("result", ""), ("points", ""), ("reason", ""), ("hint", "cyan")):
        table.add_column(column, style=style, overflow="fold")
    for s in report.steps:
        result = "[green]pass[/green]" if s.passed else "[red]fail[/red]"
        # Text(), not markup: messages quote YAML such as "usages: [client auth]".
        table.add_row(Text(s.id), result, f"{s.points}/{s.max_points}", Text(s.message), Text(s.hint))
    out.print(table)
    verdict = f"[green]{report.verdict()}[/green]" if report.passed else report.verdict()
    out.print(f"Score: [bold]{report.score}/{report.max_score}[/bold], {verdict}.")
