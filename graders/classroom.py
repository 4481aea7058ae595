"""``ckslab grade LAB --class roster.csv``: grade a whole class, in parallel.

The roster has a header and one row per learner: ``name`` (their lab user), and ``kubeconfig``
(the admin kubeconfig of the cluster they worked on; default: this machine's lab cluster) and/or
``workspace`` (their lab folder; default: their workspace here). Relative paths are relative to
the roster. ``--class hub`` reads the class hosted here (``ckslab class up``) from its JupyterHub. Each learner is graded in a process of their own, forked from this one once the
graders' libraries are imported (so 30 learners do not pay 30 Python start-ups); one
unreachable cluster is reported in its row and does not stop the others. Writes ``class.csv``, a self-contained
``scoreboard.html``, and each learner's JSON and JUnit report under ``--out``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import html
import os
import signal
import time
import multiprocessing
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from rich.console import Console
from rich.table import Table
from rich.text import Text

from cluster import paths
from cluster.errors import CkslabError, UsageError
from graders import runner
from graders.report import Report
from labs import catalog, engine

out = Console(highlight=False)
#: Learners graded at once: grading is mostly CPU (pytest, TLS, signature checks).
WORKERS = max(2, os.cpu_count() or 1)
#: Seconds one learner's grading may take (about 5 s; $CKSLAB_LEARNER_GRADE_TIMEOUT): past it, whatever
#: blocks it (a named pipe where a file of theirs should be) is interrupted and that learner is reported
#: not graded, so one learner cannot stop the grading of the class.
LEARNER_TIMEOUT = float(os.environ.get("CKSLAB_LEARNER_GRADE_TIMEOUT") or 120)
TOO_LONG = (f"grading took over {LEARNER_TIMEOUT:.0f}s and was stopped (a file of theirs that cannot be read, "
            "such as a named pipe?)")


@dataclass
class _Limit:
    active: bool = False
    expired: bool = False


#: The time limit of this (forked) grading process: one at a time, the outermost counts.
LIMIT = _Limit()


@contextlib.contextmanager
def time_limit(seconds: float = LEARNER_TIMEOUT) -> Iterator[None]:
    """In a forked grading process: KeyboardInterrupt after ``seconds``, and every 5 s after, until the
    block ends (pytest ends its session on it; a blocked read of a named pipe is interrupted).
    ``LIMIT.expired`` says afterwards that it struck. Inside another time limit it adds none."""
    if LIMIT.active:
        yield
        return

    def interrupt(_signum: int, _frame: object) -> None:
        LIMIT.expired = True
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    LIMIT.active, LIMIT.expired = True, False
    signal.setitimer(signal.ITIMER_REAL, seconds, 5.0)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        LIMIT.active = False


@dataclass(frozen=True)
class Learner:
    name: str
    kubeconfig: Path
    workspace: Path
    #: For a learner with a Unix account of their own (a hosted class): called first in their grading
    #: process to become them, so nothing of theirs runs or is read with the grader's rights (a
    #: kubeconfig's ``exec`` credential plugin is a command; root would run it). None: graded as we are.
    become: Callable[[], None] | None = None


@dataclass
class Row:
    learner: Learner
    report: Report | None = None
    error: str = ""
    seconds: float = 0.0
    steps: dict[str, bool] = field(default_factory=dict)
    #: A learner graded as themselves: their JSON and JUnit reports (``<name>.json``, ``<name>.junit.xml``),
    #: which they cannot write where we keep reports; :func:`run` writes them.
    files: dict[str, bytes] = field(default_factory=dict)


#: Rosters that are not files, by the name given instead of a path: ``hub`` (the class ``ckslab class up``
#: hosts) is registered by ``ckslab.classhost.grading``, a layer above this one.
ROSTER_SOURCES: dict[str, Callable[[catalog.Lab], list[Learner]]] = {}


def read_roster(path: Path, lab: catalog.Lab) -> list[Learner]:
    """The learners of ``path``; UsageError naming the line of a bad row.

    ``hub`` instead of a file: the class ``ckslab class up`` hosts here, read from its JupyterHub.
    """
    source = ROSTER_SOURCES.get(str(path))
    if source is not None:
        return source(lab)
    try:
        text = path.read_text()
    except OSError as err:
        raise UsageError(f"cannot read the roster {path}: {err.strerror}.",
                         "Give a CSV file with a header: name,kubeconfig,workspace") from err
    rows = list(csv.DictReader(text.splitlines()))
    if not rows or "name" not in (rows[0].keys()):
        raise UsageError(f"the roster {path} needs a header line with a `name` column.",
                         "For example: name,kubeconfig,workspace")
    base, root = path.resolve().parent, paths.project_root()
    learners, seen = [], set()
    for number, row in enumerate(rows, start=2):
        name = (row.get("name") or "").strip()
        if not name:
            raise UsageError(f"{path}, line {number}: the name is empty.", "Give every learner a name.")
        if name in seen:
            raise UsageError(f"{path}, line {number}: {name} is listed twice.", "List each learner once.")
        seen.add(name)
        kubeconfig = (row.get("kubeconfig") or "").strip()
        workspace = (row.get("workspace") or "").strip()
        learners.append(Learner(
            name,
            (base / kubeconfig).resolve() if kubeconfig else paths.lab_paths().kubeconfig,
            (base / workspace).resolve() if workspace else engine.workspace_for(lab, name, root),
        ))
    return learners


def root_of(kubeconfig: Path) -> Path:
    """The project root a roster's kubeconfig belongs to: ``<root>`` of a ``<root>/.lab/kubeconfig``,
    else this machine's (whose ``.lab/state.json`` then says nothing of that cluster)."""
    resolved = kubeconfig.resolve()
    return resolved.parent.parent if resolved.parent.name == ".lab" else paths.project_root()


def grade_one(lab: catalog.Lab, learner: Learner, reports: Path) -> Row:
    """Grade one learner, in this (forked) process: it points stdout and stderr at /dev/null.

    With ``learner.become`` the process first becomes the learner and grades into a folder of
    theirs; the reports come back in ``Row.files``. Within :data:`LEARNER_TIMEOUT` seconds, else
    the row says :data:`TOO_LONG`.
    """
    started = time.monotonic()
    try:
        with time_limit():
            if learner.become is not None:
                learner.become()
            # Every temporary file of the grading in a folder removed at its end: this process ends with
            # os._exit, so the Kubernetes client's own clean-up (atexit) of the client key it wrote never runs.
            with tempfile.TemporaryDirectory(prefix="ckslab-grade-") as own:
                before, tempfile.tempdir = tempfile.tempdir, own
                try:
                    if learner.become is None:
                        row = _grade(lab, learner, reports)
                    else:
                        (Path(own) / "reports").mkdir()
                        row = _grade(lab, learner, Path(own) / "reports")
                        row.files = {p.name: p.read_bytes() for p in (Path(own) / "reports").iterdir()}
                finally:
                    tempfile.tempdir = before
    except KeyboardInterrupt:
        row = Row(learner)
    if LIMIT.expired:  # whether pytest ended its session on the interrupt or it reached us
        row.report, row.steps, row.files, row.error = None, {}, {}, TOO_LONG
    row.seconds = time.monotonic() - started
    return row


def _grade(lab: catalog.Lab, learner: Learner, reports: Path) -> Row:
    started = time.monotonic()
    row = Row(learner)
    try:
        engine.prepare(lab.id, learner.name)  # validates the name
        runner.check_cluster(learner.kubeconfig)
        report_file = reports / f"{learner.name}.json"
        report_file.unlink(missing_ok=True)
        context = runner.context_for(lab, learner.name, learner.workspace, learner.kubeconfig,
                                     root_of(learner.kubeconfig))
        row.report = runner.grade_here(context, report_file, reports / f"{learner.name}.junit.xml")
        row.steps = {s.id: s.passed for s in row.report.steps}
    except CkslabError as err:
        row.error = str(err).splitlines()[0]
    row.seconds = time.monotonic() - started
    return row


def _preload() -> None:
    """Import what every grading needs once, before forking."""
    import pytest  # noqa: F401
    from kubernetes import client  # noqa: F401

    from graders import files, issuance, kube, manifest, plugin  # noqa: F401


def run(args: argparse.Namespace) -> int:
    """Grade the roster; 0 when every learner could be graded, 1 when some could not."""
    lab = catalog.load(args.lab)
    learners = read_roster(Path(args.class_roster), lab)
    target = Path(args.out).resolve()
    reports = target / "learners"
    reports.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    _preload()
    # A fresh fork per learner (maxtasksperchild=1): grading changes the process's environment.
    with multiprocessing.get_context("fork").Pool(min(WORKERS, len(learners)), maxtasksperchild=1) as pool:
        rows = pool.starmap(grade_one, [(lab, learner, reports) for learner in learners], chunksize=1)
    elapsed = time.monotonic() - started
    for row in rows:
        for suffix in (".json", ".junit.xml"):  # the reports of a learner graded as themselves
            if f"{row.learner.name}{suffix}" in row.files:
                (reports / f"{row.learner.name}{suffix}").write_bytes(row.files[f"{row.learner.name}{suffix}"])
    write_csv(target / "class.csv", lab, rows)
    (target / "scoreboard.html").write_text(scoreboard(lab, rows, elapsed))
    show(lab, rows, elapsed, target)
    return 0 if all(r.report is not None for r in rows) else 1


def write_csv(path: Path, lab: catalog.Lab, rows: list[Row]) -> None:
    ids = [s.id for s in lab.steps]
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["name", "score", "max_score", "passed", "status", *ids])
        for r in rows:
            if r.report is None:
                writer.writerow([r.learner.name, "", lab.max_score, "", f"not graded: {r.error}", *[""] * len(ids)])
            else:
                writer.writerow([r.learner.name, r.report.score, r.report.max_score,
                                 str(r.report.passed).lower(), "graded",
                                 *["pass" if r.steps.get(i) else "fail" for i in ids]])


def scoreboard(lab: catalog.Lab, rows: list[Row], elapsed: float) -> str:
    """A self-contained HTML page: one row a learner, one column a step."""
    esc = html.escape
    head = "".join(f"<th title='{esc(s.title)}'>{esc(s.id)}<br><small>{s.points} pts</small></th>" for s in lab.steps)
    body = []
    for r in sorted(rows, key=lambda r: (r.report is None, -(r.report.score if r.report else 0), r.learner.name)):
        if r.report is None:
            cells = f"<td class='err' colspan='{len(lab.steps) + 1}'>not graded: {esc(r.error)}</td>"
        else:
            by_id = {s.id: s for s in r.report.steps}
            cells = f"<td class='score'>{r.report.score}/{r.report.max_score}</td>" + "".join(
                f"<td class='{'pass' if by_id[s.id].passed else 'fail'}' title='{esc(by_id[s.id].message)}'>"
                f"{'✔' if by_id[s.id].passed else '✘'}</td>" for s in lab.steps)
        body.append(f"<tr><th class='name'>{esc(r.learner.name)}</th>{cells}</tr>")
    graded = [r for r in rows if r.report is not None]
    average = sum(r.report.score for r in graded if r.report) / len(graded) if graded else 0
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(lab.id)} scoreboard</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; }} th, td {{ border: 1px solid #ccc; padding: .4em .7em; text-align: center; }}
th.name {{ text-align: left; }} .pass {{ background: #d7f5dd; }} .fail {{ background: #fadbd8; }}
.err {{ background: #fdebd0; text-align: left; }} .score {{ font-weight: bold; }}
</style></head><body>
<h1>{esc(lab.title)}</h1>
<p>{len(rows)} learners, {len(graded)} graded, average {average:.0f}/{lab.max_score};
graded in {elapsed:.1f}s on {time.strftime('%Y-%m-%d %H:%M')}. Hover a cell for the grader's message.</p>
<table><thead><tr><th>learner</th><th>score</th>{head}</tr></thead>
<tbody>
{chr(10).join(body)}
</tbody></table></body></html>
"""


def show(lab: catalog.Lab, rows: list[Row], elapsed: float, target: Path) -> None:
    table = Table(title=f"{lab.id}: {len(rows)} learners graded in {elapsed:.1f}s")
    for column in ("learner", "score", *[s.id for s in lab.steps]):
        table.add_column(column)
    for r in rows:
        if r.report is None:
            table.add_row(r.learner.name, "[red]not graded[/red]", Text(r.error), *[""] * (len(lab.steps) - 1))
        else:
            table.add_row(r.learner.name, f"{r.report.score}/{r.report.max_score}",
                          *["[green]pass[/green]" if r.steps.get(s.id) else "[red]fail[/red]" for s in lab.steps])
    out.print(table)
    out.print(f"Wrote {target / 'class.csv'}, {target / 'scoreboard.html'} and {target / 'learners'}/.")
