"""Grade every learner of a class on the lab they work on: the one place a class calls the graders.

Each learner is graded by ``graders.classroom.grade_one`` (the same as ``ckslab grade --class``) in
a process forked for them that first becomes their Unix user, so the graders read their files and
kubeconfig with the learner's rights and no more. A learner's lab is the one they started last
(``.lab/progress/<lab>--<name>.json``, newest). The result, ``grades/grades.json`` and
``grades.csv``, is what the scoreboard and ``ckslab class status`` show.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import multiprocessing
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, TypedDict

from ckslab.classhost import learnerenv
from ckslab.classhost.layout import ClassPaths, LearnerHome, learner_home
from cluster.backends.local import LocalBackend
from cluster.errors import CkslabError
from graders import classroom
from labs import catalog, engine


class Grade(TypedDict):
    """One learner's row: ``lab`` None when they started none; ``error`` when not graded."""

    name: str
    lab: str | None
    score: int | None
    max_score: int | None
    passed: bool | None
    steps: dict[str, bool]
    control_plane: str
    error: str
    seconds: float


def current_lab(home: LearnerHome) -> str | None:
    """The lab ``home``'s learner started last (their newest progress record), or None."""
    folder = home.lab.lab / "progress"
    try:
        records = sorted(folder.glob(f"*--{home.name}.json"), key=lambda p: p.stat().st_mtime)
    except OSError:
        return None
    known = set(catalog.known())
    labs = [p.name.split("--", 1)[0] for p in records if p.name.split("--", 1)[0] in known]
    return labs[-1] if labs else None


def control_plane(home: LearnerHome) -> str:
    """``up``, ``down`` (started once, not healthy now: their next login restarts it) or ``never started``."""
    try:
        status = LocalBackend(home.lab).status()
    except CkslabError:
        return "damaged"
    if status is None:
        return "never started"
    return "up" if status.healthy else "down"


def become(where: ClassPaths, name: str) -> None:
    """In a forked process: become learner ``name`` (their uid and gid, no other group, their home and
    environment) before anything of theirs is read, so their files, kubeconfig and its credential
    plugins get their rights, never root's."""
    home = learner_home(name)
    os.setgroups([])
    os.setgid(home.gid)
    os.setuid(home.uid)
    os.chdir(home.home)
    os.environ.update(learnerenv.environment(where, home))
    # The grading's temporary files (the Kubernetes client's copies of their client key among them) in a folder of
    # their home, never /tmp: a grading killed mid-way (its time limit, `class down`) cannot remove its own, and
    # what is left in /tmp outlives the account and goes to the next account given the same uid.
    private = home.home / GRADING_TMP
    private.mkdir(mode=0o700, parents=True, exist_ok=True)
    _sweep(private)
    os.environ["TMPDIR"] = tempfile.tempdir = str(private)


#: Where a learner's gradings keep their temporary files, under their home.
GRADING_TMP = ".cache/ckslab-grading"


def _sweep(folder: Path) -> None:
    """Remove what gradings killed over an hour ago left in ``folder`` (no grading runs that long)."""
    old = time.time() - 3600
    for entry in folder.iterdir():
        try:
            if entry.lstat().st_mtime < old:
                shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
        except OSError:
            continue


def _grade_as(where: ClassPaths, name: str) -> Grade:
    """In a forked process: become the learner, then grade their current lab (within the time limit)."""
    home = learner_home(name)
    try:
        with classroom.time_limit():
            become(where, name)
            return grade_home(home)  # its grading says when the limit struck in it
    except KeyboardInterrupt:  # struck before (their control plane's state file that blocks a read)
        return Grade(name=name, lab=None, score=None, max_score=None, passed=None, steps={},
                     control_plane="unknown", error=classroom.TOO_LONG, seconds=classroom.LEARNER_TIMEOUT)


#: Seconds ``class status`` and ``class down`` give each learner's own reading or stopping.
LOOK_TIMEOUT = float(os.environ.get("CKSLAB_CLASS_LOOK_TIMEOUT") or 30)


def _look_as(where: ClassPaths, name: str, stop: bool) -> tuple[str, str | None]:
    """In a forked process: become the learner, then stop their control plane (``stop``: data kept) or read
    it; (its state: ``up``, ``down``, ``never started``, ``damaged``, ``stopped``, ``unknown``; their lab)."""
    try:
        with classroom.time_limit(LOOK_TIMEOUT):
            become(where, name)
            home = learner_home(name)
            if stop:
                try:
                    return ("stopped" if LocalBackend(home.lab).stop(lambda _m: None) else "down"), None
                except CkslabError:
                    return "damaged", None
            return control_plane(home), current_lab(home)
    except KeyboardInterrupt:  # a file of theirs that blocks a read (a named pipe in place of the state file)
        return "unknown", None


def look(where: ClassPaths, names: list[str], stop: bool = False) -> dict[str, tuple[str, str | None]]:
    """Each learner's control plane state and current lab (``stop``: their control plane stopped instead),
    read as the learner in a fork of its own, never as root: a learner's files are theirs to make anything
    of. ``{name: (state, lab)}``; a read that takes over :data:`LOOK_TIMEOUT` says ``unknown``."""
    if not names:
        return {}
    with multiprocessing.get_context("fork").Pool(max(1, min(classroom.WORKERS, len(names))),
                                                  maxtasksperchild=1) as pool:
        found = pool.starmap(_look_as, [(where, n, stop) for n in names], chunksize=1)
    return dict(zip(names, found))


def grade_home(home: LearnerHome) -> Grade:
    """Grade ``home``'s current lab with the rights of the process (already the learner's)."""
    name = home.name
    row = Grade(name=name, lab=None, score=None, max_score=None, passed=None, steps={},
                control_plane=control_plane(home), error="", seconds=0.0)
    lab_id = current_lab(home)
    if lab_id is None:
        row["error"] = "no lab started yet"
        return row
    row["lab"] = lab_id
    lab = catalog.load(lab_id)
    reports = home.lab.lab / "class-grades"
    reports.mkdir(parents=True, exist_ok=True)
    learner = classroom.Learner(name, home.lab.kubeconfig, engine.workspace_for(lab, name, home.root))
    graded = classroom.grade_one(lab, learner, reports)
    row["seconds"] = round(graded.seconds, 2)
    if graded.report is None:
        row["error"] = graded.error
    else:
        row["score"], row["max_score"] = graded.report.score, graded.report.max_score
        row["passed"], row["steps"] = graded.report.passed, graded.steps
    return row


def grade(where: ClassPaths, names: list[str]) -> list[Grade]:
    """Grade ``names`` in parallel (a fresh fork each) and write ``grades.json`` and ``grades.csv``."""
    started = time.monotonic()
    classroom._preload()
    with multiprocessing.get_context("fork").Pool(max(1, min(classroom.WORKERS, len(names))),
                                                  maxtasksperchild=1) as pool:
        rows = pool.starmap(_grade_as, [(where, n) for n in names], chunksize=1) if names else []
    record(where, rows, started)
    return rows


def record(where: ClassPaths, rows: list[Grade], started: float) -> None:
    """Write ``grades.json`` and ``grades.csv`` (what the scoreboard and ``class status`` show)."""
    where.grades.mkdir(parents=True, exist_ok=True)
    where.grades.chmod(0o700)
    result = {"graded_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "seconds": round(time.monotonic() - started, 2),
              "learners": rows}
    (where.grades / "grades.json").write_text(json.dumps(result, indent=2) + "\n")
    (where.grades / "grades.csv").write_text(to_csv(rows))


def to_csv(rows: list[Grade]) -> str:
    """One line a learner: name, lab, score, max_score, passed, control_plane, status, steps passed."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["name", "lab", "score", "max_score", "passed", "control_plane", "status", "steps_passed"])
    for r in rows:
        writer.writerow([r["name"], r["lab"] or "", "" if r["score"] is None else r["score"],
                         "" if r["max_score"] is None else r["max_score"],
                         "" if r["passed"] is None else str(r["passed"]).lower(), r["control_plane"],
                         f"not graded: {r['error']}" if r["error"] else "graded",
                         " ".join(s for s, ok in r["steps"].items() if ok)])
    return buffer.getvalue()


def last(where: ClassPaths) -> dict[str, Any]:
    """The last grading (``grades.json``), or an empty one."""
    try:
        data: dict[str, Any] = json.loads((where.grades / "grades.json").read_text())
        return data
    except (OSError, ValueError):
        return {"graded_at": None, "seconds": 0, "learners": []}


def roster_from_hub(lab: catalog.Lab) -> list[classroom.Learner]:
    """``ckslab grade LAB --class hub``: the hub's learners, each with their cluster and workspace."""
    from ckslab.classhost import hub, layout

    where = layout.class_paths()
    state = layout.read_state(where)
    if state is None:
        raise CkslabError("--class hub: no class is up on this machine.",
                          "Run `ckslab class up ROSTER.csv`, or give a roster file.")
    names = [u["name"] for u in hub.api(where, "GET", "/users") if u["name"] in state.learners]
    found = []
    for name in names:
        home = learner_home(name)
        found.append(classroom.Learner(name, home.lab.kubeconfig, engine.workspace_for(lab, name, home.root),
                                       become=functools.partial(become, where, name)))
    return found


classroom.ROSTER_SOURCES["hub"] = roster_from_hub
