"""Start, reset, hint and solve a lab: what a self-paced learner and an instructor run.

A lab owns Kubernetes objects and workspace files, step by step (``labs/<id>/lab.yaml``).
``start`` makes the workspace and the learner's own copy of the lab notebook in it
(``labs/learner_copy.py``). ``reset`` deletes only the objects the lab owns and moves the
learner's files to ``workspace/.backup/<lab>-<timestamp>/``; it moves the folder's *contents*,
never the folder, so a notebook kernel or a terminal working in it keeps a valid directory, and it
leaves the notebook open in JupyterLab where it is (a copy goes to the backup). Only the newest
``CKSLAB_KEEP_BACKUPS`` backups of a workspace are kept. Objects are named after the lab's user,
so learners sharing one cluster never touch each other's.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from cluster import backends, binaries, paths, state
from cluster.errors import CkslabError, UsageError
from labs import catalog, learner_copy, resets
from labs.cells import NotebookCells

Progress = Callable[[str], None]

#: How many backups of one workspace ``reset`` keeps, the newest; ``CKSLAB_KEEP_BACKUPS`` changes
#: it (0 keeps every one).
DEFAULT_KEEP_BACKUPS = 10


@dataclass(frozen=True)
class LabRun:
    """One learner's copy of a lab: its texts filled in for ``user``, and where it lives."""

    lab: catalog.Lab
    user: str
    workspace: Path
    kubeconfig: Path
    root: Path
    #: "" for the lab's own user, "-<user>" for another: see catalog.SUFFIX_PLACEHOLDER.
    suffix: str = ""

    @property
    def backups(self) -> Path:
        return self.root / "workspace" / ".backup"

    @property
    def notebook(self) -> learner_copy.NotebookCopy:
        """The learner's own copy of the lab notebook, in the workspace."""
        return learner_copy.copy_for(self.lab, self.workspace, self.user)

    @property
    def progress_file(self) -> Path:
        return self.root / ".lab" / "progress" / f"{self.lab.id}--{self.user}.json"

    @property
    def reset_file(self) -> Path:
        """The steps a reset undid that have not passed since (``labs/resets.py``)."""
        return resets.record_path(self.root, self.lab.id, self.user)

    def env(self, again: bool = False) -> dict[str, str]:
        """The environment of setup and solution scripts: admin kubeconfig, pinned kubectl, user.

        ``CKSLAB_AGAIN`` is 1 when the lab starts over (``reset``, ``solve``, ``start --again``): a setup
        then undoes an earlier run's changes; without it, it keeps what an earlier start and the learner made.

        Scripts reach the control-plane node with ``ckslab node``; the variables of ``Node.shell_env``
        (on kind ``CKSLAB_KIND_NODE`` and ``CKSLAB_ENGINE``) are added for notebooks' shell cells.
        """
        path = os.pathsep.join([str(paths.kubernetes_bin_dir()), str(Path(sys.executable).parent),
                                os.environ.get("PATH", "")])
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), "PATH": path, "CKSLAB_USER": self.user,
               "CKSLAB_SUFFIX": self.suffix, "CKSLAB_WORKSPACE": str(self.workspace),
               "CKSLAB_AGAIN": "1" if again else ""}
        try:
            env.update(backends.node_of(paths.LabPaths(self.root)).shell_env())
        except CkslabError:  # no cluster, or one whose nodes ckslab cannot reach
            pass
        return env


def workspace_for(lab: catalog.Lab, user: str, root: Path) -> Path:
    """``workspace/<lab>``; another user than the lab's own gets ``workspace/<lab>-<user>``."""
    name = lab.workspace if user == lab.user else f"{lab.workspace}-{user}"
    return root / "workspace" / name


def prepare(lab_id: str, user: str | None = None) -> LabRun:
    """The lab ``lab_id`` for ``user`` (default: $CKSLAB_USER, else the lab's own user)."""
    lab = catalog.load(lab_id)
    user = user or os.environ.get("CKSLAB_USER") or lab.user
    if not user.replace("-", "").replace(".", "").isalnum() or not user[0].isalnum() or user != user.lower():
        raise UsageError(f"{user!r} is not a usable user name.",
                         "Use lower-case letters, digits, '-' and '.', starting with a letter or digit.")
    lab_paths = paths.lab_paths()
    return LabRun(lab.for_user(user), user, workspace_for(lab, user, lab_paths.root),
                  lab_paths.kubeconfig, lab_paths.root, lab.suffix(user))


def _require_cluster(run: LabRun) -> None:
    if not run.kubeconfig.is_file():
        raise CkslabError("no cluster is up.", "Run `make up` first.")
    require_backend(run)


def require_backend(run: LabRun) -> None:
    """A UsageError naming the backends the lab runs on when the cluster is of another backend.

    The backend is the one ``.lab/state.json`` records (no cluster recorded: nothing to refuse yet).
    """
    if not run.lab.backends:
        return
    try:
        current = state.read(run.kubeconfig.parent / "state.json")
    except CkslabError:
        return
    if current is None or run.lab.runs_on(current.backend):
        return
    wanted = " or ".join(f"BACKEND={b}" for b in run.lab.backends)
    why = f" ({run.lab.requires})" if run.lab.requires else ""
    raise UsageError(f"the lab {run.lab.id} needs {wanted}{why}; this cluster is {current.backend}.",
                     f"Run: make down && make up {wanted.split(' or ')[0]}")


#: A line of a setup or solution script's output that starts with this is shown to the learner.
NOTE = "NOTE: "


def _script(run: LabRun, name: str, progress: Progress, again: bool = False,
            extra: dict[str, str] | None = None) -> None:
    """Run the lab's script ``name`` in the workspace (``LabRun.env``, and ``extra``); its NOTE lines go to
    ``progress``. ``CKSLAB_KEPT_STEPS`` (setup.sh): the ids of the steps a reset kept, space-separated."""
    script = catalog.LABS_DIR / run.lab.id / name
    if not script.is_file():
        return
    progress(f"running {run.lab.id}/{name}")
    done = subprocess.run(["bash", str(script)], cwd=run.workspace, env={**run.env(again), **(extra or {})},
                          capture_output=True,
                          text=True, timeout=600, stdin=subprocess.DEVNULL, check=False)
    for line in done.stdout.splitlines():  # what the script found and adapted to, for the learner
        if line.startswith(NOTE):
            progress(line[len(NOTE):])
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-10:])
        raise CkslabError(f"{run.lab.id}/{name} failed (exit {done.returncode}):\n{tail}\n",
                          "Run `make status`; `make up` restarts what is down.")


def ensure_notebook(run: LabRun, progress: Progress) -> None:
    """Make the learner's notebook copy if missing; offer a newer tracked notebook."""
    copy = run.notebook
    if learner_copy.ensure(copy):
        progress(f"your notebook: {copy.path}")
    elif copy.newer_available():
        progress(f"{copy.tracked.name} has a newer version than your copy: `ckslab notebook {run.lab.id} "
                 "--update` gives you the new one (yours goes to workspace/.backup/).")


def update_notebook(run: LabRun) -> Path:
    """Replace the learner's copy with the tracked notebook; where their copy was kept."""
    folder = _backup_folder(run)
    kept = learner_copy.replace_with_newer(run.notebook, folder)
    prune_backups(run)
    return kept


def start(run: LabRun, progress: Progress, again: bool = False, kept: Iterable[str] = ()) -> None:
    """Create the workspace, the learner's notebook copy and whatever the lab needs in the cluster.

    Safe to run twice: a later start keeps what an earlier one and the learner made (each setup.sh
    says what it kept); ``again`` starts the lab over (what ``reset`` and ``solve`` do). ``kept``: the
    steps a reset from a later step kept (their work is the learner's of this run, not an earlier run's).
    """
    _require_cluster(run)
    run.workspace.mkdir(parents=True, exist_ok=True)
    ensure_notebook(run, progress)
    _script(run, "setup.sh", progress, again, {"CKSLAB_KEPT_STEPS": " ".join(kept)})
    record(run, {"started": time.strftime("%Y-%m-%dT%H:%M:%S")})


def _delete_objects(run: LabRun, steps: list[catalog.Step], progress: Progress) -> None:
    kubectl = str(binaries.require(("kubectl",)).kubectl)
    for step in steps:
        for obj in step.objects:
            where = ["-n", obj.namespace] if obj.namespace else []
            done = subprocess.run([kubectl, "delete", f"{obj.kind}/{obj.name}", *where, "--ignore-not-found"],
                                  env=run.env(), capture_output=True, text=True, timeout=60, check=False)
            if done.returncode != 0:
                raise CkslabError(f"could not delete {obj.kind}/{obj.name}: {done.stderr.strip()}",
                                  "Run `make status`; `make up` restarts what is down.")
            if done.stdout.strip():
                progress(done.stdout.strip())


def _backup_folder(run: LabRun) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    folder = run.backups / f"{run.workspace.name}-{stamp}"
    n = 1
    while folder.exists():
        n += 1
        folder = run.backups / f"{run.workspace.name}-{stamp}-{n}"
    return folder


def keep_backups() -> int:
    """``$CKSLAB_KEEP_BACKUPS`` (default 10; 0 keeps every backup)."""
    value = os.environ.get("CKSLAB_KEEP_BACKUPS", "").strip()
    if not value:
        return DEFAULT_KEEP_BACKUPS
    if not value.isdigit():
        raise UsageError(f"CKSLAB_KEEP_BACKUPS={value!r} is not a number of backups.",
                         "Set it to how many backups of a workspace to keep (0 keeps every one), or unset it.")
    return int(value)


def _backups_of(run: LabRun) -> list[Path]:
    """This workspace's backups, oldest first (``<workspace>-YYYYmmdd-HHMMSS[-n]``)."""
    pattern = re.compile(rf"^{re.escape(run.workspace.name)}-(\d{{8}}-\d{{6}})(?:-(\d+))?$")
    found = []
    if run.backups.is_dir():
        for entry in run.backups.iterdir():
            match = pattern.match(entry.name)
            if match and entry.is_dir():
                found.append(((match.group(1), int(match.group(2) or 1)), entry))
    return [entry for _key, entry in sorted(found)]


def prune_backups(run: LabRun) -> list[Path]:
    """Delete all but the newest ``keep_backups()`` backups of this workspace; the deleted ones."""
    keep = keep_backups()
    backups = _backups_of(run)
    old = backups[:-keep] if keep and len(backups) > keep else []
    for folder in old:
        shutil.rmtree(folder)
    return old


def _kept_in_place(run: LabRun) -> set[Path]:
    """What reset leaves in the workspace: the learner's notebook (it may be open) and its helpers."""
    return {run.notebook.path, *(run.workspace / h for h in run.lab.helpers)}


def _move_contents(run: LabRun, backup: Path) -> None:
    """Move everything in the workspace to ``backup``, but copy the notebook and its helpers (they stay)."""
    backup.mkdir(parents=True)
    kept = _kept_in_place(run)
    for entry in sorted(run.workspace.iterdir()):
        if entry in kept and entry.is_file():
            shutil.copy2(entry, backup / entry.name)
        else:
            shutil.move(str(entry), str(backup / entry.name))


def reset(run: LabRun, progress: Progress, from_step: str | None = None) -> Path | None:
    """Return the lab (or its steps from ``from_step`` on) to its start; the backup folder, if any.

    The workspace folder itself stays (kernels and terminals may work in it); the learner's
    notebook stays too, with a copy in the backup. Old backups are pruned (``keep_backups()``).
    """
    _require_cluster(run)
    keep_backups()  # a bad CKSLAB_KEEP_BACKUPS stops here, before anything changes
    began = dt.datetime.now(dt.timezone.utc).isoformat()
    steps = list(run.lab.steps)
    if from_step is not None:
        step = run.lab.step(from_step)
        if not step.resettable:
            earlier = [s.id for s in steps[: steps.index(step)] if s.resettable]
            # A reset from a step undoes it and every later one: what a step cannot be is where a reset starts.
            raise UsageError(f"a reset cannot start at the step {step.id}: {step.reset_note}",
                             f"Reset from an earlier step instead: ckslab reset {run.lab.id} --step {earlier[-1]}"
                             f"{f' --user {run.user}' if run.suffix else ''}." if earlier else "")
        steps = steps[steps.index(step):]
    _delete_objects(run, steps, progress)
    backup: Path | None = None
    if from_step is None:
        if run.workspace.is_dir() and any(p not in _kept_in_place(run) for p in run.workspace.iterdir()):
            backup = _backup_folder(run)
            _move_contents(run, backup)
    else:
        owned = [run.workspace / f for s in steps for f in s.files if (run.workspace / f).exists()]
        if owned:
            backup = _backup_folder(run)
            for path in owned:
                target = backup / path.relative_to(run.workspace)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(str(path), str(target))
    if backup is not None:
        prune_backups(run)
    run.progress_file.unlink(missing_ok=True)
    start(run, progress, again=True, kept=[s.id for s in run.lab.steps if s not in steps])
    command = " ".join(["ckslab reset", run.lab.id, *(["--step", from_step] if from_step else []),
                        *(["--user", run.user] if run.suffix else [])])
    at = time.strftime("%Y-%m-%d %H:%M:%S")
    ended = dt.datetime.now(dt.timezone.utc).isoformat()
    resets.record(run.reset_file, [resets.ResetStep(s.id, s.title, at, command, str(backup) if backup and s.files else "",
                                                    began, ended)
                                   for s in steps], [s.id for s in run.lab.steps])
    return backup


def passed_again(run: LabRun, step_ids: Iterable[str]) -> None:
    """Steps a grade (of the lab or of one step) found passing: a reset no longer holds them back."""
    resets.passed(run.reset_file, step_ids)


def notebook_cells(run: LabRun) -> NotebookCells:
    """The code cells of the learner's notebook (the tracked one before the copy is made)."""
    copy = run.notebook
    return NotebookCells(copy.path if copy.exists else copy.tracked)


def reset_note(run: LabRun, step_ids: Iterable[str]) -> str:
    """Where to redo the first of ``step_ids`` that a reset undid and that has not passed since; "" if none.

    One sentence (``labs/resets.py``), starting with a capital, naming the other reset steps among ``step_ids``.
    """
    wanted = set(step_ids)
    pending = [s for s in resets.read(run.reset_file) if s.id in wanted]
    if not pending:
        return ""
    note = resets.redo(pending[0], run.lab.id, notebook_cells(run))
    later = [s.id for s in pending[1:]]
    if later:
        note += f" The steps after it ({', '.join(later)}) were reset too: their cells come next."
    return note[0].upper() + note[1:]


def solve(run: LabRun, progress: Progress) -> None:
    """Run the lab's reference solution in the workspace, from the lab's start (overwrites the files it makes)."""
    start(run, progress, again=True)
    if not (catalog.LABS_DIR / run.lab.id / "solution.sh").is_file():
        raise CkslabError(f"the lab {run.lab.id} has no reference solution.")
    _script(run, "solution.sh", progress)
    resets.clear(run.reset_file)


def record(run: LabRun, data: dict[str, object]) -> None:
    """Merge ``data`` into the learner's progress record (``.lab/progress/``)."""
    current = read_progress(run)
    run.progress_file.parent.mkdir(parents=True, exist_ok=True)
    run.progress_file.write_text(json.dumps({**current, **data}, indent=2) + "\n")


def read_progress(run: LabRun) -> dict[str, object]:
    try:
        data = json.loads(run.progress_file.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
