"""``ckslab bench --hosted-learners N``: a class hosted on this server, brought up as an instructor does, measured.

``ckslab class up`` with a generated roster of N throwaway learners; every learner logs in through
the hub's login form at once (as a class does) and asks for their server, which starts their control
plane and then their JupyterLab (``ClassSpawner``); each solves the certificates-api lab as their own
Unix user (not timed); the instructor presses the scoreboard's "Grade now"; ``ckslab class down``.
Measured: the time until every learner's server and control plane are ready, their memory and the
hub's (``procstats.py``), the whole class's CPU over an idle window that starts right after one of
the scoreboard's minute gradings (so none falls inside it), the scoreboard's grading of the N; the
arithmetic is ``benchfigures.py``. The learners' accounts and homes are removed at the end.
"""

from __future__ import annotations

import concurrent.futures
import csv
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import requests

from ckslab.classhost import accounts, benchenv, benchfigures, hub, layout, learnerenv, procstats, proxy, service
from ckslab.classhost.layout import ClassPaths
from cluster import ports, waiting
from cluster.backends.local import LocalBackend
from cluster.errors import CkslabError

Say = Callable[[str], None]
LAB = "certificates-api"
#: The idle window over which the class's CPU is measured (the issue: about 30 s).
IDLE_SECONDS = 30.0
#: Learners solving their lab at once (2 cores: more only queue).
SOLVERS = 3


class Bench:
    """One throwaway class: its folder, learners, port and the instructor's commands."""

    def __init__(self, base: Path, python: str, names: list[str], say: Say) -> None:
        self.base, self.python, self.names, self.say = base, python, names, say
        self.where = ClassPaths(base / "class")
        self.port = ports.pick(18600, set())
        self.url = f"http://127.0.0.1:{self.port}/"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "CKSLAB_CLASS", "JUPYTERHUB_"))}
        self.env["CKSLAB_CLASS_DIR"] = str(self.where.base)
        self.passwords: dict[str, str] = {}

    def ckslab(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.python, "-m", "ckslab", *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout, check=False)

    def login(self, name: str) -> requests.Session:
        """Log in through the hub's login form, as a browser does."""
        session = requests.Session()
        session.get(self.url + "hub/login", timeout=60)
        answer = session.post(self.url + "hub/login", allow_redirects=False, timeout=60, data={
            "username": name, "password": self.passwords[name], "_xsrf": session.cookies.get("_xsrf")})
        if answer.status_code != 302:
            raise CkslabError(f"the hub refused {name}'s login: HTTP {answer.status_code}")
        return session

    def log_in_and_spawn(self, name: str) -> requests.Session:
        """A learner's first visit: log in, then the hub's spawn page (their server starts); their session."""
        return self.spawn(self.login(name))

    def spawn(self, session: requests.Session) -> requests.Session:
        """The hub's spawn page: it starts the server and answers once it runs or after its slow_spawn_timeout."""
        session.get(self.url + "hub/spawn", timeout=300)
        return session

    def as_learner(self, name: str, *command: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        home = layout.learner_home(name)
        env = learnerenv.environment(self.where, home)
        env["PATH"] = f"{Path(self.python).parent}:{env['PATH']}"
        return subprocess.run(["runuser", "-u", name, "--", "env", "-i", *[f"{k}={v}" for k, v in env.items()],
                               *command], capture_output=True, text=True, timeout=timeout, check=False,
                              cwd=str(home.home))

    def hub_tree(self) -> set[int]:
        """The hub's processes (itself, its proxy, the scoreboard, a grading), without the learners'."""
        state = layout.read_state(self.where)
        if state is None:
            return set()
        found = procstats.descendants(state.pid, {pid: s.ppid for pid, s in procstats.stats().items()})
        uids = self.uids()
        return {pid for pid, uid in procstats.owners(found).items() if uid not in uids}

    def uids(self) -> set[int]:
        return {layout.learner_home(n).uid for n in self.names}

    def cpu_seconds(self) -> tuple[float, float, float]:
        """CPU time so far, in seconds, of (every learner's processes, their control planes alone, the hub's)."""
        every = procstats.stats()
        hub_pids = self.hub_tree()
        uids = self.uids()
        learners = {pid for pid, uid in procstats.owners(set(every)).items() if uid in uids and pid in every}
        planes = {pid for pid in learners if procstats.name_of(pid) in procstats.CONTROL_PLANE}
        tick = procstats.ticks_per_second()
        return (sum(every[p].ticks for p in learners) / tick, sum(every[p].ticks for p in planes) / tick,
                sum(every[p].ticks for p in hub_pids if p in every) / tick)


def _log_in_together(b: Bench) -> tuple[dict[str, float], list[str]]:
    """Every learner logs in and asks for their server at once, as a class does; per learner the seconds until
    the hub says their server is ready and their control plane is healthy, and the spawns the hub gave up on.

    A server the hub gave up on (its ``start_timeout`` passed while control planes queued one at a time) is
    asked for again, as the learner does by reloading the page; the hub's reason is kept.
    """
    n = len(b.names)
    timeout = 300 + 60 * n  # a safety only: planes start one at a time, about 30 s each at load average 50
    ready: dict[str, float] = {}
    gave_up: list[str] = []
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        spawning = {name: pool.submit(b.log_in_and_spawn, name) for name in b.names}
        while len(ready) < n:
            if time.monotonic() - started > timeout:
                late = [x for x in b.names if x not in ready]
                raise CkslabError(f"{len(late)} learners' servers were not ready within {timeout:.0f}s ({late[0]}, "
                                  f"...): {hub._last_error(b.where.hub_log)}")
            answered = {name for name, future in spawning.items() if future.done()}  # before asking the hub
            try:
                users = {u["name"]: u for u in hub.api(b.where, "GET", "/users", timeout=30)}
            except hub.HubError:  # busy spawning on a loaded machine: ask again
                continue
            for name in b.names:
                server = (users.get(name, {}).get("servers") or {}).get("")
                if name in ready:
                    continue
                if server and server.get("ready"):
                    status = LocalBackend(layout.learner_home(name).lab).status()
                    if status is not None and status.healthy:
                        ready[name] = time.monotonic() - started
                        b.say(f"  {name}: server and control plane ready after {ready[name]:.1f}s ({len(ready)}/{n})")
                elif server is None and name in answered:
                    session = spawning[name].result()
                    reason = _why_given_up(b.where.hub_log, name)
                    gave_up.append(f"{name}: {reason}")
                    b.say(f"  {name}: the hub gave up on their server ({reason}); they reload the page")
                    spawning[name] = pool.submit(b.spawn, session)
            time.sleep(1)
    return ready, gave_up


def _why_given_up(log: Path, name: str) -> str:
    """The hub log's last warning or error about ``name``'s server (JupyterHub's "failed to start in N seconds")."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return "no hub log"
    named = re.compile(rf"(?<![a-z0-9-]){re.escape(name)}(?![a-z0-9-])")  # not another learner it prefixes
    said = [line for line in lines if ("[E " in line or "[W " in line) and "slow to start" not in line
            and named.search(line)]
    return said[-1].split("] ", 1)[-1].strip()[:200] if said else "the hub's log says nothing about it"


def _memory(b: Bench) -> tuple[list[benchfigures.LearnerMemory], float, float]:
    """Each learner's memory, and the hub's (RSS, PSS), in MB."""
    per: dict[int, list[int]] = {}
    for pid, uid in procstats.owners(set(procstats.stats())).items():
        per.setdefault(uid, []).append(pid)
    found = []
    for name in b.names:
        kb = {"cp": [0, 0], "lab": [0, 0]}
        for pid in per.get(layout.learner_home(name).uid, []):
            rss, pss = procstats.memory_kb(pid)
            part = kb["cp" if procstats.name_of(pid) in procstats.CONTROL_PLANE else "lab"]
            part[0] += rss
            part[1] += pss
        found.append(benchfigures.LearnerMemory(kb["cp"][0] / 1024, kb["cp"][1] / 1024,
                                                kb["lab"][0] / 1024, kb["lab"][1] / 1024))
    hub_kb = [procstats.memory_kb(pid) for pid in b.hub_tree()]
    return found, sum(r for r, _ in hub_kb) / 1024, sum(p for _, p in hub_kb) / 1024


def _graded_at(b: Bench) -> float:
    try:
        return (b.where.grades / "grades.json").stat().st_mtime
    except OSError:
        return 0.0


def _grade_now(b: Bench) -> tuple[float, float, float]:
    """The instructor's "Grade now" on the scoreboard: (seconds, the grading's own seconds, class CPU seconds)."""
    instructor = b.login(layout.INSTRUCTOR)
    board = instructor.get(b.url + f"services/{layout.SCOREBOARD}/", timeout=60)
    if board.status_code != 200:
        raise CkslabError(f"the scoreboard answered HTTP {board.status_code} to the instructor")
    xsrf = instructor.cookies.get("_xsrf", path=f"/services/{layout.SCOREBOARD}/") or instructor.cookies.get("_xsrf")
    learners0, _, hub0 = b.cpu_seconds()
    t0 = time.monotonic()
    graded = instructor.post(b.url + f"services/{layout.SCOREBOARD}/grade", data={"_xsrf": xsrf}, timeout=900)
    seconds = time.monotonic() - t0
    learners1, _, hub1 = b.cpu_seconds()
    cpu = learners1 + hub1 - learners0 - hub0
    if graded.status_code != 200:
        raise CkslabError(f"the scoreboard's grading failed: HTTP {graded.status_code} {graded.text[-300:]}")
    grades = instructor.get(b.url + f"services/{layout.SCOREBOARD}/grades.json", timeout=60).json()
    wrong = [g["name"] for g in grades["learners"] if g["score"] is None or g["score"] != g["max_score"]]
    if wrong or len(grades["learners"]) != len(b.names):
        raise CkslabError(f"the scoreboard graded {len(grades['learners'])} learners, {len(wrong)} not at full marks "
                          f"({', '.join(wrong[:3])}): the measurement is not of solved labs")
    return seconds, float(grades["seconds"]), cpu


def _measure(b: Bench) -> benchfigures.Measured:
    load = {"start": list(os.getloadavg())}
    roster = b.base / "roster.csv"
    roster.write_text("name\n" + "\n".join(b.names) + "\n")
    b.say(f"class up with a roster of {len(b.names)} learners")
    t0 = time.monotonic()
    up = b.ckslab("class", "up", str(roster), "--port", str(b.port))
    up_seconds = time.monotonic() - t0
    if up.returncode != 0:
        raise CkslabError(f"class up failed: {(up.stdout + up.stderr).strip()[-300:]}")
    with open(b.where.credentials) as fh:
        b.passwords = {r["name"]: r["password"] for r in csv.DictReader(fh)}
    b.say(f"the {len(b.names)} learners log in at once; waiting for every server and control plane")
    ready, gave_up = _log_in_together(b)
    b.say(f"solving {LAB} as each learner ({SOLVERS} at a time; not timed)")
    solving = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(SOLVERS) as pool:
        for name, done in zip(b.names, pool.map(lambda n: b.as_learner(n, b.python, "-m", "ckslab", "solve", LAB,
                                                                        "--yes"), b.names)):
            if done.returncode != 0:
                raise CkslabError(f"{name}'s solve failed: {(done.stdout + done.stderr).strip()[-300:]}")
    b.say(f"  solved in {time.monotonic() - solving:.0f}s")
    interval = float(layout.read_settings(b.where)["interval"])
    b.say("waiting for the scoreboard's next minute grading to end, so that none falls in the idle window")
    seen = _graded_at(b)
    try:
        waiting.wait_until(lambda: _graded_at(b) != seen, interval + 600, 0.5, "the scoreboard's minute grading")
    except waiting.WaitTimeout as err:
        raise CkslabError(f"the scoreboard did not grade the class within {interval + 600:.0f}s ({err}).",
                          f"Its log: {b.where.hub_log}.") from err
    b.say(f"measuring the class's CPU over {IDLE_SECONDS:.0f}s of idle")
    learners0, planes0, hub0 = b.cpu_seconds()
    t0 = time.monotonic()
    time.sleep(IDLE_SECONDS)
    learners1, planes1, hub1 = b.cpu_seconds()
    idle = time.monotonic() - t0
    memory, hub_rss, hub_pss = _memory(b)
    b.say(f"the instructor's \"Grade now\" on the scoreboard, for {len(b.names)} learners")
    grade_seconds, inner, grade_cpu = _grade_now(b)
    b.say("class down")
    hub_state = layout.read_state(b.where)
    t0 = time.monotonic()
    down = b.ckslab("class", "down")
    down_seconds = time.monotonic() - t0
    if down.returncode != 0:
        raise CkslabError(f"class down failed: {(down.stdout + down.stderr).strip()[-300:]}")
    left = [pid for uid in b.uids() for pid in service.learner_processes(uid)] + sorted(_of_class(b))
    if hub_state is not None and hub.is_running(hub_state.pid):
        left.append(hub_state.pid)
    if left:
        raise CkslabError(f"class down left {len(left)} processes (pids {left[:5]})")
    load["end"] = list(os.getloadavg())
    return benchfigures.Measured(
        learners=len(b.names), up_seconds=up_seconds, ready_seconds=[ready[n] for n in b.names], memory=memory,
        hub_rss_mb=hub_rss, hub_pss_mb=hub_pss, idle_seconds=idle, idle_cpu_learners=learners1 - learners0,
        idle_cpu_control_planes=planes1 - planes0, idle_cpu_hub=hub1 - hub0, grade_seconds=grade_seconds,
        grade_inner_seconds=inner, grade_cpu_seconds=grade_cpu, grade_interval=interval,
        down_seconds=down_seconds, spawns_given_up=gave_up, load={k: [round(x, 2) for x in v] for k, v in load.items()})


def _of_class(b: Bench) -> set[int]:
    """Live processes of the class: the hub's, its proxy's, the scoreboard's and a grading the scoreboard started
    (they run with its ``CKSLAB_CLASS_DIR``; a grading orphaned by ``class down`` keeps running otherwise)."""
    marker = f"CKSLAB_CLASS_DIR={b.where.base}".encode()
    found = set()
    for pid in procstats.stats():
        try:
            if pid != os.getpid() and marker in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                found.add(pid)
        except OSError:
            continue
    return found


def _clean(b: Bench) -> None:
    """Whatever the run left: the class (down), any process of its learners, their accounts, its folder."""
    state = layout.read_state(b.where) if b.where.state.exists() else None
    if state is not None:
        b.ckslab("class", "down")
        if hub.is_running(state.pid):
            os.kill(state.pid, signal.SIGKILL)
    for name in b.names:
        try:
            uid = pwd.getpwnam(name).pw_uid
        except KeyError:
            continue
        for pid in service.learner_processes(uid):  # only what this class started runs as them
            os.kill(pid, signal.SIGKILL)
        accounts.remove_user(name)
    for pid in _of_class(b):
        os.kill(pid, signal.SIGKILL)
    shutil.rmtree(b.base, ignore_errors=True)


def measure(learners: int, say: Say) -> dict[str, Any]:
    """The ``hosted_class_*`` figures of a class of ``learners``, or ``{"hosted_class_skipped": why}``."""
    why = benchenv.cannot_run(learners)
    if why:
        return {"hosted_class_skipped": why}
    proxy.ensure(say)
    base = Path(tempfile.mkdtemp(prefix="ckslab-bench-class-", dir="/tmp"))
    base.chmod(0o711)
    tag = uuid.uuid4().hex[:6]
    b = Bench(base, benchenv.runnable_python(base), [f"ckslab-b-{tag}-{i:02d}" for i in range(learners)], say)
    try:
        return benchfigures.figures(_measure(b))
    except (CkslabError, requests.RequestException, subprocess.TimeoutExpired) as err:
        message = err.message if isinstance(err, CkslabError) else f"the class did not answer in time: {err}"
        kept = Path(tempfile.gettempdir()) / f"ckslab-bench-class-{tag}-hub.log"
        if b.where.hub_log.exists():  # the class's folder goes: its hub log is what tells why
            shutil.copyfile(b.where.hub_log, kept)
            raise CkslabError(message, f"The hub's log is kept: {kept}.") from err
        raise CkslabError(message) from err
    finally:
        _clean(b)


if __name__ == "__main__":  # python -m ckslab.classhost.bench N: this measurement alone
    print(json.dumps(measure(int(sys.argv[1]), lambda m: print(m, file=sys.stderr, flush=True)), indent=2))
