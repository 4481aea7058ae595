"""The exam session: start, resume, grade, solve. The I/O around the pure attempt and debrief.

Every command reads the attempt from ``.lab/exam/attempt.json`` and writes it back after each
change, so nothing lives only in a process: a killed ``ckslab exam`` resumes where it was, with
the deadline it had. Setup scripts run in a private folder under ``.lab/exam/`` (the requesters'
keys of a task never reach the learner's workspace) with the admin kubeconfig of the task's
context; reference solutions run in the workspace with the learner's kubeconfig, switching
context as the statement says. The contexts' planes start at once, and each context's tasks are
set up as soon as its plane answers. Grading runs one pytest session of the score plugin per
context, all at once, each in a process forked from this one once the graders' libraries are
imported (graders.runner.grade_tasks_here; a fresh Python costs 2-4 s to import them, more than a
task's checks take): it grades the tasks drawn there, and the other tasks too, so that a task that
earned less than its maximum in its own context can say where its work was done.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
import signal
import threading
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence, cast

from cluster import paths
from cluster.errors import CkslabError
from cluster.waiting import WaitTimeout, wait_until
from cluster.paths import LabPaths
from exam import attempt as attempts
from exam import bank, clusters, debrief, timing
from exam.attempt import Attempt, TaskAttempt
from graders import runner
from graders.exam import inputs
from labs import catalog

Progress = Callable[[str], None]
#: Seconds one task's setup or solution may take (they create a few objects and keys; on kind, a solution may
#: wait for the kubelet to restart the API server's static pod: one to two minutes on a loaded machine).
SCRIPT_TIMEOUT = 300


def _text(output: str | bytes | None) -> str:
    """A timed-out script's output so far (``TimeoutExpired`` may hold bytes even in text mode)."""
    return output.decode(errors="replace") if isinstance(output, bytes) else output or ""


def _wait(children: Iterable[tuple[int, Path]]) -> None:
    """Wait for the grading processes ``children`` (pid, report); kill any still running after the timeout
    (its tasks then have no report, and are graded one by one, each with its own timeout)."""
    running = {pid for pid, _ in children}

    def done() -> bool:
        running.difference_update({pid for pid in list(running) if os.waitpid(pid, os.WNOHANG) != (0, 0)})
        return not running

    try:
        wait_until(done, runner.GRADING_TIMEOUT, interval=0.05, what="the graders")
    except WaitTimeout:
        for pid in running:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)


def serialized(progress: Progress) -> Progress:
    """``progress`` called by one thread at a time (contexts start and set up side by side)."""
    lock = threading.Lock()

    def say(message: str) -> None:
        with lock:
            progress(message)

    return say


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


class Session:
    """The exam of one project root."""

    def __init__(self, project: LabPaths | None = None) -> None:
        self.project = project or paths.lab_paths()
        self.dir = clusters.exam_dir(self.project)
        self.file = self.dir / "attempt.json"
        self.workspace = self.project.workspace / "exam"
        self._saving = threading.Lock()

    # --- the attempt on disk ------------------------------------------------------------

    def load(self) -> Attempt | None:
        return attempts.load(self.file)

    def require(self) -> Attempt:
        found = self.load()
        if found is None:
            raise CkslabError("no exam has been started.", "Start one: ckslab exam start")
        return found

    def save(self, attempt: Attempt) -> None:
        with self._saving:  # setups of several contexts save at once
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
        progress = serialized(progress)
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
        self.save(fresh)  # from here on the attempt survives a kill: resume starts and sets up what is left
        # The planes start at once (exam.clusters); each context's tasks are set up as soon as its plane answers.
        early: list[threading.Thread] = []

        def set_up(context: str) -> None:
            early.append(threading.Thread(target=self._setup_context, args=(fresh, context, progress)))
            early[-1].start()

        try:
            clusters.ensure(self.project, fresh.contexts, progress, set_up)
        finally:
            for thread in early:
                thread.join()
        self._setup(fresh, progress)
        return fresh

    def resume(self, progress: Progress) -> Attempt:
        """Start what went down, restore the kubeconfig's contexts, set up what a killed start left; same deadline."""
        found = self.require()
        progress = serialized(progress)
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
        """Set up every task not set up yet, the contexts at once (each its tasks in order); then note the time.
        The first time setup ends the clock starts: the deadline is the attempt's minutes after it."""
        ran = any(not (t.ready or t.setup_error) for t in attempt.tasks)
        threads = [threading.Thread(target=self._setup_context, args=(attempt, c, progress))
                   for c in sorted({t.context for t in attempt.tasks})]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if ran or not attempt.set_up:
            ended = dt.datetime.now(dt.timezone.utc)
            if not attempt.set_up:  # the tasks are shown now: the clock starts now, not when setup began
                attempt.started, attempt.deadline = attempts.clock_from(attempt, ended)
            attempt.set_up = ended.isoformat()  # to the microsecond: after setup's writes
            self.save(attempt)

    def _setup_context(self, attempt: Attempt, context: str, progress: Progress) -> None:
        for i, drawn in enumerate(attempt.tasks, 1):
            if drawn.context != context or drawn.ready or drawn.setup_error:
                continue
            progress(f"setting up task {i} ({drawn.id}) in context {drawn.context}")
            try:
                with tempfile.TemporaryDirectory(prefix="setup-", dir=self.dir) as private:
                    ok, output = self._run(drawn, "setup.sh", Path(private),
                                           clusters.admin_kubeconfig(self.project, drawn.context))
            except (OSError, CkslabError) as err:  # in a thread: say it, do not lose it
                ok, output = False, f"{type(err).__name__}: {err}"
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
        except subprocess.TimeoutExpired as err:  # its last line so far says what it was doing (waiting for ...)
            lines = (_text(err.stdout) + _text(err.stderr)).strip().splitlines()
            return False, f"{script} took over {SCRIPT_TIMEOUT}s" + (f"; its last line: {lines[-1]}" if lines else "")
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
        """The score plugin's report of ``drawn`` graded against ``context``'s cluster (a pytest process)."""
        task = bank.load(drawn.id)
        with tempfile.TemporaryDirectory(prefix="grade-", dir=self.dir) as tmp:
            given = Path(tmp) / "task.json"
            inputs.write(given, inputs.TaskInput(drawn.id, drawn.values, self.workspace))
            graded = runner.context_for(task.rendered(drawn.values).as_lab(), "", self.workspace,
                                        clusters.admin_kubeconfig(self.project, context),
                                        clusters.backend_for(self.project, context).lab.root,
                                        {k: str(v) for k, v in drawn.values.items()})
            return dict(runner.grade(graded, exam_input=given).to_json())

    def grade_in(self, jobs: dict[str, list[TaskAttempt]]) -> dict[str, dict[str, dict[str, Any] | str]]:
        """Each context's tasks (``jobs``) graded against its cluster: by context, each task's report
        (graders.report.ReportJson) or why it could not be graded, by id.

        One pytest session per context, each in a process forked from this one once the graders'
        libraries are imported (a fresh Python costs 2-4 s to import them), all at once. When one writes
        no report (a task's graders do not even load), its tasks are graded one by one, so only that one
        is lost."""
        runner.preload()
        lab = catalog.Lab(id="exam", title="", summary="", notebook="", user="", workspace="exam", steps=())
        found: dict[str, dict[str, dict[str, Any] | str]] = {}
        with tempfile.TemporaryDirectory(prefix="grade-", dir=self.dir) as tmp:
            children: dict[str, tuple[int, Path]] = {}
            for context, tasks in jobs.items():
                if not tasks:
                    found[context] = {}
                    continue
                folder = Path(tmp) / context
                folder.mkdir()
                inputs.write_all(folder / "tasks.json", [inputs.TaskInput(t.id, t.values, self.workspace) for t in tasks])
                graded = runner.context_for(lab, "", self.workspace, clusters.admin_kubeconfig(self.project, context),
                                            clusters.root(self.project, context))
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:  # the child: grade, write the report, and leave without the parent's exit handlers
                    code = 0
                    try:
                        runner.grade_tasks_here(graded, folder / "tasks.json", [t.id for t in tasks],
                                                folder / "report.json")
                    except BaseException:
                        code = 1
                    os._exit(code)
                children[context] = (pid, folder / "report.json")
            _wait(children.values())
            for context, (_, report_file) in children.items():
                try:
                    reports = runner.read_reports(report_file)
                    found[context] = {t.id: dict(reports[t.id].to_json()) for t in jobs[context]}
                except (CkslabError, KeyError):
                    found[context] = self._one_by_one(context, jobs[context])
        return found

    def _one_by_one(self, context: str, tasks: Sequence[TaskAttempt]) -> dict[str, dict[str, Any] | str]:
        found: dict[str, dict[str, Any] | str] = {}
        for drawn in tasks:
            try:
                found[drawn.id] = self.grade_task(drawn, context)
            except CkslabError as err:
                found[drawn.id] = f"could not be graded: {err.message}"
            except Exception as err:  # a grading bug must not lose the other tasks' grades
                found[drawn.id] = f"could not be graded ({type(err).__name__}: {err}); please report this ckslab bug"
        return found

    def grade(self, attempt: Attempt, only: Sequence[TaskAttempt] | None = None,
              elsewhere: bool = True) -> dict[str, debrief.Graded]:
        """Grade every task (or ``only`` those): in its context, and (``elsewhere``) in the others when it
        earned less there, to say where its work was done (not a task of a cluster of its own: another
        cluster never had its fault). One pytest process per context (all at once) grades the tasks there,
        and with ``elsewhere`` the other tasks too."""
        up: dict[str, str] = {}
        for context in attempt.contexts:
            try:
                runner.check_cluster(clusters.admin_kubeconfig(self.project, context))
                up[context] = ""
            except CkslabError as err:
                up[context] = f"the cluster of context {context} did not answer at grading time ({err.message})"
        todo = [t for t in attempt.tasks if not t.setup_error and (only is None or t in only)]
        result = {t.id: debrief.Graded(None, up[t.context] + ": this task earns 0.") for t in todo if up[t.context]}
        live = [c for c in attempt.contexts if not up[c]]
        # One round, not two: the work found elsewhere is graded beside the home tasks (a pytest process
        # costs more to start than a task's checks take), and only read for a task that earned less at home.
        graded = [t for t in todo if not up[t.context]]
        # A task in a cluster of its own (it breaks it) is fixed there only: another, healthy cluster
        # would pass its checks with no work done in it.
        roams = {t.id for t in graded if elsewhere and not bank.load(t.id).contexts}
        there = self.grade_in({c: [t for t in graded if t.context == c or t.id in roams] for c in live})
        for drawn in graded:
            report = there[drawn.context][drawn.id]
            if isinstance(report, str):
                result[drawn.id] = debrief.Graded(None, report)
                continue
            result[drawn.id] = debrief.Graded(report)
            if drawn.id in roams and int(report["score"]) < int(report["max_score"]):
                result[drawn.id] = self._found_elsewhere(drawn, result[drawn.id], there)
        return result

    @staticmethod
    def _found_elsewhere(drawn: TaskAttempt, graded: debrief.Graded,
                         there: dict[str, dict[str, dict[str, Any] | str]]) -> debrief.Graded:
        """``graded`` with the other context where the task's work earned more, if any."""
        score = int(graded.report["score"]) if graded.report else 0
        # Checks of an absence pass where the task was never set up: no sign of work there.
        absent = {c.name for c in bank.load(drawn.id).checks if c.absence}
        for other, reports in sorted(there.items()):
            report = reports.get(drawn.id)
            if other == drawn.context or not isinstance(report, dict):
                continue
            steps = cast(list[dict[str, Any]], report["steps"])
            points = sum(int(s["points"]) for s in steps)
            shown = sum(int(s["points"]) for s in steps if s["passed"] and s["id"] not in absent)
            if points > score and shown > 0:
                return debrief.Graded(graded.report, found_in=other, found_score=points)
        return graded

    def time_spent(self, attempt: Attempt, until: dt.datetime) -> dict[str, int | None]:
        """Seconds spent on each task (exam.timing), from the audit log of its context (every kind: the shared
        contexts, the clusters of their own and kind's cks-k, whose API server writes one too); None where
        unknown (no change of its objects, or a log that cannot be read)."""
        since = dt.datetime.fromisoformat(attempt.set_up) if attempt.set_up else None
        found: dict[str, int | None] = {}
        for context in sorted({t.context for t in attempt.tasks}):
            try:
                lines = clusters.backend_for(self.project, context).node().audit_log().lines
            except CkslabError:
                lines = ()
            recorded = timing.writes(lines)
            here = [t for t in attempt.tasks if t.context == context]
            for drawn in here:  # a cluster of its own: every change there is its task's
                found[drawn.id] = (timing.spent(recorded, drawn.values, since, until,
                                                whole_cluster=context in attempts.OWN_CONTEXTS and len(here) == 1)
                                   if lines else None)
        return found

    def submit(self, attempt: Attempt) -> debrief.DebriefJson:
        """Grade ``attempt`` as it stands and keep its debrief; refused when it was graded already."""
        if attempt.submitted:
            raise CkslabError(f"this exam was already graded ({attempt.submitted}).",
                              "See its debrief: ckslab exam report; start another: ckslab exam start")
        when = now().isoformat()
        result = debrief.build(attempt, self.grade(attempt), when, self.time_spent(attempt, now()))
        attempt.debrief, attempt.submitted = dict(result), when
        self.save(attempt)
        return result
