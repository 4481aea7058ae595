"""The exam session: start, resume, grade, solve. The I/O around the pure attempt and debrief.

Every command reads the attempt from ``.lab/exam/attempt.json`` and writes it back after each
change, so nothing lives only in a process: a killed ``ckslab exam`` resumes where it was, with
the deadline it had. Setup scripts run in a private folder under ``.lab/exam/`` (the requesters'
keys of a task never reach the learner's workspace) with the admin kubeconfig of the task's
context; reference solutions run in the workspace with the learner's kubeconfig, switching
context as the statement says. Grading runs the score plugin's pytest process once per task in
its context (graders.runner.grade), and again in the other contexts for a task that earned less
than its maximum, to say where its work was done.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Sequence, cast

from cluster import paths
from cluster.errors import CkslabError
from cluster.paths import LabPaths
from exam import attempt as attempts
from exam import bank, clusters, debrief
from exam.attempt import Attempt, TaskAttempt
from graders import runner
from graders.exam import inputs

Progress = Callable[[str], None]
#: Seconds one task's setup or solution may take (they create a few objects and keys; on kind, a solution may
#: wait for the kubelet to restart the API server's static pod: one to two minutes on a loaded machine).
SCRIPT_TIMEOUT = 300
#: Grading processes at once (each is a pytest process reading a local cluster).
GRADERS_AT_ONCE = 4


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


class Session:
    """The exam of one project root."""

    def __init__(self, project: LabPaths | None = None) -> None:
        self.project = project or paths.lab_paths()
        self.dir = clusters.exam_dir(self.project)
        self.file = self.dir / "attempt.json"
        self.workspace = self.project.workspace / "exam"

    # --- the attempt on disk ------------------------------------------------------------

    def load(self) -> Attempt | None:
        return attempts.load(self.file)

    def require(self) -> Attempt:
        found = self.load()
        if found is None:
            raise CkslabError("no exam has been started.", "Start one: ckslab exam start")
        return found

    def save(self, attempt: Attempt) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        attempts.save(attempt, self.file)

    # --- start, resume, abandon ---------------------------------------------------------

    def start(self, seed: int, count: int | None, minutes: int, practice: bool, progress: Progress,
              only: Sequence[str] = ()) -> Attempt:
        """Draw a new attempt (of the tasks ``only``, when given: ids of the bank), start its clusters and set
        every task up. Refused while one runs; a UsageError names an unknown task id. Where kind cannot run, the
        tasks that need a kubelet are left out of the draw (and its maximum), said in one progress line."""
        current = self.load()
        if current is not None and not current.submitted:
            raise CkslabError(f"an exam is already running (seed {current.seed}, started {current.started}).",
                              "Go on with `ckslab exam resume`, or drop it with `ckslab exam abandon`.")
        pool = [bank.load(i) for i in only] if only else bank.all_tasks()
        if any("kubelet" in t.needs for t in pool):
            kind = clusters.kind_available()
            pool, left_out = attempts.without_kubelet(pool, "" if kind.ok else kind.reason)
            if left_out:
                progress(left_out)
        fresh = attempts.draw(seed, count, now(), minutes, practice, pool)
        self._archive(current)
        self._clear_workspace(progress)
        if current is not None:  # the last attempt's objects would collide with (or pass for) this one's
            progress(f"new clusters for this attempt: the last one's objects are removed (its attempt and debrief "
                     f"are kept in {self.dir / 'attempts'})")
            clusters.down(self.project, attempts.KNOWN_CONTEXTS, progress)
        clusters.ensure(self.project, fresh.contexts, progress)
        self.save(fresh)  # from here on the attempt survives a kill: resume sets up what is left
        self._setup(fresh, progress)
        return fresh

    def resume(self, progress: Progress) -> Attempt:
        """Start what went down, restore the kubeconfig's contexts, set up what a killed start left; same deadline."""
        found = self.require()
        clusters.ensure(self.project, found.contexts, progress)
        if not found.submitted:
            self._setup(found, progress)
        return found

    def abandon(self) -> Attempt:
        found = self.require()
        found.submitted = f"abandoned {now().isoformat()}"
        self.save(found)
        return found

    def _archive(self, previous: Attempt | None) -> None:
        if previous is not None:
            keep = self.dir / "attempts" / f"{previous.started.replace(':', '')}-seed{previous.seed}.json"
            keep.parent.mkdir(parents=True, exist_ok=True)
            attempts.save(previous, keep)

    def _clear_workspace(self, progress: Progress) -> None:
        """Move an earlier attempt's files to workspace/.backup/exam-<time>/, and say so."""
        if self.workspace.is_dir() and any(self.workspace.iterdir()):
            backup = self.project.workspace / ".backup" / f"exam-{now().strftime('%Y%m%d-%H%M%S')}"
            progress(f"the last attempt's files in {self.workspace} are moved to {backup}")
            backup.mkdir(parents=True)
            for entry in self.workspace.iterdir():
                shutil.move(str(entry), backup / entry.name)
        self.workspace.mkdir(parents=True, exist_ok=True)

    def _setup(self, attempt: Attempt, progress: Progress) -> None:
        for i, drawn in enumerate(attempt.tasks, 1):
            if drawn.ready or drawn.setup_error:
                continue
            progress(f"setting up task {i} ({drawn.id}) in context {drawn.context}")
            with tempfile.TemporaryDirectory(prefix="setup-", dir=self.dir) as private:
                ok, output = self._run(drawn, "setup.sh", Path(private),
                                       clusters.admin_kubeconfig(self.project, drawn.context))
            drawn.ready, drawn.setup_error = ok, "" if ok else output or "exit status not 0"
            if not ok:
                progress(f"task {i} ({drawn.id}) is left out: its setup failed ({drawn.setup_error})")
            self.save(attempt)

    def _run(self, drawn: TaskAttempt, script: str, cwd: Path, kubeconfig: Path) -> tuple[bool, str]:
        """Run the task's rendered ``script`` in ``cwd``: (succeeded, the last line of its output)."""
        text = bank.load(drawn.id).script(script, drawn.values)
        # CKSLAB_ROOT: `ckslab node ...` in a script is the node of the task's context.
        env = {**os.environ, "KUBECONFIG": str(kubeconfig), "CKSLAB_ROOT": str(clusters.root(self.project, drawn.context)),
               "PATH": os.pathsep.join([str(paths.kubernetes_bin_dir()), str(Path(sys.executable).parent),
                                        os.environ.get("PATH", "")])}
        try:
            done = subprocess.run(["bash", "-s"], input=text, cwd=cwd, env=env, capture_output=True, text=True,
                                  timeout=SCRIPT_TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            return False, f"{script} took over {SCRIPT_TIMEOUT}s"
        lines = (done.stdout + done.stderr).strip().splitlines()
        return done.returncode == 0, (lines[-1] if lines else "") if done.returncode else ""

    # --- flag, solve --------------------------------------------------------------------

    def flag(self, task_id: str) -> TaskAttempt:
        found = self.require()
        drawn = found.task(task_id)
        drawn.flagged = not drawn.flagged
        self.save(found)
        return drawn

    def solve(self, progress: Progress) -> None:
        """Run every task's reference solution in its own context (for instructors and tests)."""
        found = self.require()
        self.workspace.mkdir(parents=True, exist_ok=True)
        for i, drawn in enumerate(found.tasks, 1):
            if drawn.setup_error:
                continue
            progress(f"solving task {i} ({drawn.id}) in context {drawn.context}")
            ok, output = self._run(drawn, "solution.sh", self.workspace, clusters.learner_kubeconfig(self.project))
            if not ok:
                raise CkslabError(f"the reference solution of task {i} ({drawn.id}) failed: {output}",
                                  "Run `ckslab exam resume` (a cluster may be down), then solve again.")

    # --- grading ------------------------------------------------------------------------

    def grade_task(self, drawn: TaskAttempt, context: str) -> dict[str, object]:
        """The score plugin's report of ``drawn`` graded against ``context``'s cluster."""
        task = bank.load(drawn.id)
        with tempfile.TemporaryDirectory(prefix="grade-", dir=self.dir) as tmp:
            given = Path(tmp) / "task.json"
            inputs.write(given, inputs.TaskInput(drawn.id, drawn.values, self.workspace))
            graded = runner.context_for(task.rendered(drawn.values).as_lab(), "", self.workspace,
                                        clusters.admin_kubeconfig(self.project, context),
                                        clusters.backend_for(self.project, context).lab.root,
                                        {k: str(v) for k, v in drawn.values.items()})
            return dict(runner.grade(graded, exam_input=given).to_json())

    def grade(self, attempt: Attempt, only: Sequence[TaskAttempt] | None = None,
              elsewhere: bool = True) -> dict[str, debrief.Graded]:
        """Grade every task (or ``only`` those): in its context, and (``elsewhere``) in the others when it
        earned less there, to say where its work was done. Each grading is a pytest process (~1-5 s)."""
        up: dict[str, str] = {}
        for context in attempt.contexts:
            try:
                runner.check_cluster(clusters.admin_kubeconfig(self.project, context))
                up[context] = ""
            except CkslabError as err:
                up[context] = f"the cluster of context {context} did not answer at grading time ({err.message})"
        todo = [t for t in attempt.tasks if not t.setup_error and (only is None or t in only)]

        def one(drawn: TaskAttempt) -> tuple[str, debrief.Graded]:
            if up[drawn.context]:
                return drawn.id, debrief.Graded(None, up[drawn.context] + ": this task earns 0.")
            try:
                report = self.grade_task(drawn, drawn.context)
            except CkslabError as err:
                return drawn.id, debrief.Graded(None, f"could not be graded: {err.message}")
            except Exception as err:  # a grading bug must not lose the other tasks' grades
                return drawn.id, debrief.Graded(None, f"could not be graded ({type(err).__name__}: {err}); "
                                                "please report this ckslab bug")
            score = int(report["score"])  # type: ignore[call-overload]
            task_checks = bank.load(drawn.id).checks
            if elsewhere and score < int(report["max_score"]):  # type: ignore[call-overload]
                for other in attempt.contexts:
                    if other == drawn.context or up[other]:
                        continue
                    try:
                        steps = cast(list[dict[str, Any]], self.grade_task(drawn, other)["steps"])
                    except CkslabError:
                        continue
                    there = sum(int(s["points"]) for s in steps)
                    # Checks of an absence pass where the task was never set up: no sign of work there.
                    absent = {c.name for c in task_checks if c.absence}
                    shown = sum(int(s["points"]) for s in steps if s["passed"] and s["id"] not in absent)
                    if there > score and shown > 0:
                        return drawn.id, debrief.Graded(report, found_in=other, found_score=there)
            return drawn.id, debrief.Graded(report)

        with ThreadPoolExecutor(GRADERS_AT_ONCE) as pool:
            return dict(pool.map(one, todo))

    def submit(self, attempt: Attempt) -> debrief.DebriefJson:
        """Grade ``attempt`` as it stands and keep its debrief; refused when it was graded already."""
        if attempt.submitted:
            raise CkslabError(f"this exam was already graded ({attempt.submitted}).",
                              "See its debrief: ckslab exam report; start another: ckslab exam start")
        when = now().isoformat()
        result = debrief.build(attempt, self.grade(attempt), when)
        attempt.debrief, attempt.submitted = dict(result), when
        self.save(attempt)
        return result
