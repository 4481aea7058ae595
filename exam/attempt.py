"""One attempt at the mock exam: what was drawn, the deadline, and its state on disk. Pure code.

The attempt lives in ``.lab/exam/attempt.json`` (0600, outside the learner's workspace): the
seed, the tasks drawn with their contexts and values, the deadline as an absolute UTC time (so it
runs on while the laptop sleeps or the terminal is closed), the flags, and once graded, the
debrief. Nothing else holds the attempt, so a killed ``ckslab exam`` loses nothing: every command
reads it again.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from cluster.errors import CkslabError, UsageError
from cluster.paths import write_private
from exam import bank

#: The exam's shared contexts, one per cluster as the kubeconfig names them: a task without
#: ``contexts:`` in its task.yaml is set in one of them, and every attempt has both.
CONTEXTS = ("cks-a", "cks-b")
#: What ``contexts: [own]`` in a task.yaml asks for: a cluster no other task of the attempt uses, for
#: a task that breaks its cluster (an API server that no longer starts, a CSR signer turned off).
OWN = "own"
#: The clusters of their own, given in this order to the attempt's ``own`` tasks, skipping one a task
#: names itself (``contexts: [cks-c]``); each is started only when drawn.
OWN_CONTEXTS = ("cks-c", "cks-d", "cks-e", "cks-f", "cks-g")
#: The contexts of tasks that need a real kubelet (``needs: [kubelet]``): a kind cluster, started only when drawn.
KUBELET_CONTEXTS = ("cks-k",)
#: Every context a task may be set in.
KNOWN_CONTEXTS = CONTEXTS + OWN_CONTEXTS + KUBELET_CONTEXTS
DEFAULT_MINUTES = 120
#: The CKS pass line, in percent of the points.
PASS_PERCENT = 67
SEED_MAX = 2**31 - 1


@dataclass
class TaskAttempt:
    """A task as drawn for one attempt."""

    id: str
    context: str
    values: dict[str, Any]
    weight: int
    flagged: bool = False
    #: Why its setup failed ("" when it was set up): the task is then out of the maximum.
    setup_error: str = ""
    #: Whether its setup ran to the end (a start killed half-way leaves the rest to resume).
    ready: bool = False


@dataclass
class Attempt:
    """The whole attempt, as kept in attempt.json."""

    seed: int
    #: When its tasks were shown (setup ended; until then, when it was drawn), and the deadline: its minutes
    #: after that (UTC, ISO 8601). Setup's minutes are not the candidate's.
    started: str
    deadline: str
    practice: bool
    tasks: list[TaskAttempt]
    submitted: str = ""
    #: When the last setup ended (UTC, ISO 8601): the candidate's work starts after it ("" until then).
    set_up: str = ""
    #: The debrief's JSON once graded (exam.debrief.DebriefJson).
    debrief: dict[str, Any] = field(default_factory=dict)

    def task(self, task_id: str) -> TaskAttempt:
        """The drawn task ``task_id`` (or its 1-based number); a UsageError naming the drawn ones."""
        for i, t in enumerate(self.tasks, 1):
            if task_id in (t.id, str(i)):
                return t
        raise UsageError(f"this exam has no task {task_id!r}.",
                         f"Its tasks: {', '.join(f'{i} {t.id}' for i, t in enumerate(self.tasks, 1))}.")

    @property
    def contexts(self) -> tuple[str, ...]:
        """The contexts of this attempt, sorted: the shared ones and those its tasks were drawn in."""
        return tuple(sorted(set(CONTEXTS) | {t.context for t in self.tasks}))

    def seconds_left(self, now: dt.datetime) -> float:
        return (dt.datetime.fromisoformat(self.deadline) - now).total_seconds()

    def overdue(self, now: dt.datetime) -> bool:
        """Whether the clock ran out (never in practice mode)."""
        return not self.practice and self.seconds_left(now) <= 0


def clock_from(attempt: Attempt, shown: dt.datetime) -> tuple[str, str]:
    """(started, deadline) of ``attempt`` whose tasks are shown at ``shown``, once setup ended: the clock starts
    at the next whole second (never a moment early), and the deadline is the attempt's minutes (as drawn:
    ``deadline - started``) after that."""
    allowed = dt.datetime.fromisoformat(attempt.deadline) - dt.datetime.fromisoformat(attempt.started)
    start = shown.replace(microsecond=0) + (dt.timedelta(seconds=1) if shown.microsecond else dt.timedelta())
    return start.isoformat(timespec="seconds"), (start + allowed).isoformat(timespec="seconds")


def parse_seed(text: str | None, rng: random.Random | None = None) -> int:
    """The seed the learner gave (a whole number 0..2**31-1), or a fresh one."""
    if text is None:
        return (rng or random.SystemRandom()).randrange(SEED_MAX)
    try:
        seed = int(text)
    except ValueError:
        seed = -1
    if not 0 <= seed <= SEED_MAX:
        raise UsageError(f"--seed {text!r} is not a whole number from 0 to {SEED_MAX}.",
                         "Give one such as --seed 42, or leave --seed out for a new one.")
    return seed


def without_kubelet(pool: list[bank.Task], kind_cannot_run: str) -> tuple[list[bank.Task], str]:
    """``pool`` less the tasks that need a kubelet when ``kind_cannot_run`` (why not; "" when it can), and
    the one line that says so ("" when none is left out). A UsageError when no task is left."""
    if not kind_cannot_run:
        return pool, ""
    out = [t.id for t in pool if "kubelet" in t.needs]
    kept = [t for t in pool if "kubelet" not in t.needs]
    if not out:
        return pool, ""
    if not kept:
        raise UsageError(f"every task asked for needs a kubelet ({', '.join(out)}), and kind cannot run here: "
                         f"{kind_cannot_run}.", "Start Docker (or podman), or draw other tasks.")
    return kept, (f"{len(out)} task{'s' if len(out) > 1 else ''} needing a kubelet left out of this exam and its "
                  f"maximum ({', '.join(out)}): kind cannot run here ({kind_cannot_run}).")


def draw(seed: int, count: int | None, now: dt.datetime, minutes: int, practice: bool,
         tasks: list[bank.Task] | None = None, only: Sequence[str] | None = None) -> Attempt:
    """A new attempt: ``count`` tasks of the bank (all by default; ``only``: the tasks of these ids, each a
    UsageError when unknown), their contexts and values, from ``seed``."""
    pool = tasks if tasks is not None else [bank.load(t) for t in only] if only else bank.all_tasks()
    if count is not None and not 1 <= count <= len(pool):
        raise UsageError(f"--tasks {count}: the bank has {len(pool)} tasks.", f"Give 1 to {len(pool)}.")
    if minutes <= 0:
        raise UsageError(f"--minutes {minutes}: the exam needs some time.", "Give --minutes 120, as the CKS.")
    rng = random.Random(seed)
    chosen = rng.sample(pool, count) if count is not None else rng.sample(pool, len(pool))
    taken: set[str] = set()
    claimed = {t.contexts[0] for t in chosen if len(t.contexts) == 1 and t.contexts[0] != OWN}
    free = [c for c in OWN_CONTEXTS if c not in claimed]
    if sum(t.contexts == (OWN,) for t in chosen) > len(free):
        raise UsageError(f"these tasks need more clusters of their own than the exam has ({len(free)} free).",
                         "Draw fewer of them: ckslab exam start --only ID,ID")
    drawn = []
    for task in chosen:
        if task.contexts == (OWN,):
            context = free.pop(0)
        else:
            context = rng.choice(list(task.contexts or (KUBELET_CONTEXTS if "kubelet" in task.needs else CONTEXTS)))
        drawn.append(TaskAttempt(task.id, context, task.draw(rng, taken, context), task.weight))
    deadline = now + dt.timedelta(minutes=minutes)
    return Attempt(seed, now.isoformat(timespec="seconds"), deadline.isoformat(timespec="seconds"),
                   practice, drawn)


def save(attempt: Attempt, path: Path) -> None:
    """Write ``attempt`` to ``path`` (0600, atomically: a kill never leaves half a file)."""
    write_private(path, (json.dumps(asdict(attempt), indent=2) + "\n").encode())


def load(path: Path) -> Attempt | None:
    """The attempt in ``path``; None when there is none; a CkslabError when it cannot be read."""
    try:
        doc = json.loads(path.read_text())
        tasks = [TaskAttempt(**t) for t in doc.pop("tasks")]
        return Attempt(tasks=tasks, **doc)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError, KeyError) as err:
        raise CkslabError(f"the exam attempt {path} cannot be read ({err}).",
                          f"Move it away to start a new exam: mv {path} {path}.broken") from err
