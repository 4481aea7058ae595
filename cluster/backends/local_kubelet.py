"""The local backend's kubelet: one small process per cluster that follows its manifests folder.

On a kubeadm node the kubelet runs the static pods of ``/etc/kubernetes/manifests``: a manifest
moved out stops its pod, one put back or changed starts it (again). The exam's way to restart a
control-plane component relies on it, so the local backend does the same: this loop reads the
folder as the kubelet's file source does (:mod:`cluster.staticpods`) every :data:`POLL_INTERVAL`
seconds and makes the running components match it, through the backend's own
:meth:`LocalBackend.restart` (envtest-style :class:`cluster.process.Process` underneath).

It changes something only while holding the cluster's lock (:func:`cluster_lock`), which ``up``
and ``ckslab controlplane restart`` hold too, so they never start the same component twice; and it
records what it did in the state file, where ``status`` and ``controlplane show`` read it: the
component's pid, the digest of the manifest it runs (``applied``) and why it is not running
(``problems``). A manifest that fails (not YAML, a flag the component refuses) is logged with the
reason and tried again when it changes. Unlike a kubelet, it does not restart a component that
exits by itself (the kubelet would, with a back-off): it logs why, and ``make up`` starts it again.

``up`` starts it detached (``details["kubelet"]``, log ``.lab/local/var/log/kubelet.log``) and
starts it again when it died; ``down`` stops it first.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from cluster import paths, process, state, staticpods
from cluster.controlplane import COMPONENTS
from cluster.errors import CkslabError, StateCorrupted

if TYPE_CHECKING:
    from cluster.backends.local import LocalBackend

#: Seconds between two reads of the folder (the kubelet re-reads it every 20 s and reacts to
#: inotify at once; a second is as quick as a learner's next command).
POLL_INTERVAL = 1.0
#: Seconds a file must be left alone before it is read: an editor may still be writing it.
QUIET = 0.3
#: What the loop's process runs (``python -c``; ``-m`` would import this module twice, the package
#: importing it first, and two copies of the lock's bookkeeping deadlock).
ENTRY = "import sys; from cluster.backends.local_kubelet import main; sys.exit(main(sys.argv[1:]))"
NAME = "kubelet"

_held = threading.local()
_ERROR_LINE = re.compile(r"^(Error: |[EF]\d{4} )")


@contextlib.contextmanager
def cluster_lock(lab: paths.LabPaths) -> Iterator[None]:
    """Hold the cluster's lock (flock on ``.lab/local.lock``); reentrant within a thread."""
    path = lab.lab / "local.lock"
    depth: dict[Path, int] = _held.__dict__.setdefault("depth", {})
    if depth.get(path):
        depth[path] += 1
        try:
            yield
        finally:
            depth[path] -= 1
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        depth[path] = 1
        yield
    finally:
        depth.pop(path, None)
        os.close(fd)


def one_line(message: str) -> str:
    """A failure's first line and the last error of the log tail it quotes, for a status table."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    if len(lines) < 2:
        return lines[0] if lines else message
    errors = [line for line in lines[1:] if _ERROR_LINE.match(line)]  # klog's E0102, cobra's "Error: "
    return f"{lines[0]} ... {(errors or lines)[-1]}"


# --- the process ----------------------------------------------------------------------------


def find(base: Path) -> list[int]:
    """Pids of the kubelet loops of the cluster at ``base`` (found by their command lines)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and process.is_running(int(entry.name), str(base)):
            with contextlib.suppress(OSError):
                if f"\0{ENTRY}\0".encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
    return found


def running(backend: LocalBackend) -> int:
    """The pid of the cluster's kubelet loop; 0 when none runs."""
    current = state.read(backend.lab.state_file)
    recorded = int(current.details.get(NAME, 0)) if current is not None else 0
    found = find(backend.layout.base)
    return recorded if recorded in found else (found[0] if found else 0)


def ensure(backend: LocalBackend, progress: Callable[[str], None]) -> int:
    """Start the cluster's kubelet loop unless it runs; record its pid in the state; return it."""
    with cluster_lock(backend.lab):
        try:
            current = state.read(backend.lab.state_file)
        except StateCorrupted:  # `make down` repairs it; nothing to follow meanwhile
            return 0
        if current is None or current.backend != "local":
            return 0
        pid = running(backend)
        if not pid:
            log = backend.layout.log(NAME)
            log.parent.mkdir(parents=True, exist_ok=True)
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(
                p for p in (str(paths.checkout()), os.environ.get("PYTHONPATH", "")) if p)}
            with open(log, "ab") as out:
                pid = subprocess.Popen(  # noqa: S603 - our own module
                    [sys.executable, "-c", ENTRY, str(backend.layout.base)], stdin=subprocess.DEVNULL,
                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env,
                    cwd=str(paths.checkout())).pid
            progress(f"kubelet: following {backend.layout.manifests} (pid {pid}, log {log})")
        if current.details.get(NAME) != pid:
            current.details[NAME] = pid
            state.write(backend.lab.state_file, current)
    return pid


def stop(backend: LocalBackend, progress: Callable[[str], None]) -> None:
    """Stop the cluster's kubelet loop (the recorded one and any other found); safe when none runs."""
    for pid in find(backend.layout.base):
        progress(f"stopping the kubelet loop (pid {pid})")
        process.stop_pid(pid, NAME, str(backend.layout.base))


# --- the loop -------------------------------------------------------------------------------


class Kubelet:
    """Makes the cluster's components match its manifests folder, one :meth:`sync` at a time."""

    def __init__(self, backend: LocalBackend, log: Callable[[str], None]) -> None:
        self.backend = backend
        self.log = log
        #: (component, pid) whose exit was already reported.
        self.reported: set[tuple[str, int]] = set()
        #: What was last said about files that run nothing, to say it once.
        self.said: set[str] = set()
        #: The folder and state as they were at the last pass that found nothing to do: while both
        #: stay so, a pass reads no manifest (parsing four YAML files a second was most of the
        #: loop's CPU: about 0.013 cores, a third of an idle plane's, which a class pays per learner).
        self.unchanged: tuple[object, ...] | None = None

    @property
    def folder(self) -> Path:
        return self.backend.layout.manifests

    def _state(self) -> state.ClusterState | None:
        try:
            current = state.read(self.backend.lab.state_file)
        except StateCorrupted as err:
            self.log(f"cannot read the state ({err.message}); waiting")
            raise
        return current if current is not None and current.backend == "local" else None

    def sync(self) -> bool:
        """One pass: report exits, then start or stop what the folder asks. False: the cluster is gone."""
        process.reap_children()
        try:
            current = self._state()
        except StateCorrupted:
            return True
        if current is None:
            return False
        # A file written in the last QUIET seconds may be half-written: read it at the next pass.
        settled = staticpods.settled(self.folder, dt.datetime.now().timestamp(), QUIET)
        exits = self._exits(current)
        plan: list[tuple[str, str]] = []
        if settled:
            seen = self._fingerprint()  # before the scan: a write after it makes the next pass read again
            if not exits and seen == self.unchanged:
                return True
            plan = self._plan(current, staticpods.scan(self.folder))
            if not exits and not plan:
                self.unchanged = seen
                return True
        self.unchanged = None
        if exits or plan:
            with cluster_lock(self.backend.lab):
                current = self._state()  # again, under the lock: up or restart may have changed it
                if current is None:
                    return False
                self._record_exits(current)
                if settled:
                    self._apply(current, staticpods.scan(self.folder))
        return True

    def _fingerprint(self) -> tuple[object, ...]:
        """What changes when a manifest or the state is written, moved or removed: each entry's and the
        state file's inode, size, modification and change times (``os.stat``; a missing one: its name)."""
        found: list[object] = []
        for path in [*staticpods.entries(self.folder), self.backend.lab.state_file]:
            try:
                st = path.stat()
            except OSError:
                found.append(path.name)
                continue
            found.append((path.name, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
        return tuple(found)

    def _exits(self, current: state.ClusterState) -> list[tuple[str, int]]:
        """Components that stopped unasked: no reason recorded for them, and not reported yet."""
        pids, problems = dict(current.details.get("pids", {})), dict(current.details.get("problems", {}))
        return [(c, int(pids.get(c, 0))) for c in COMPONENTS
                if int(pids.get(c, 0)) > 0 and not problems.get(c) and (c, int(pids[c])) not in self.reported
                and not process.is_running(int(pids[c]), self.backend.marker)]

    def _record_exits(self, current: state.ClusterState) -> None:
        exits = self._exits(current)
        for component, pid in exits:
            self.reported.add((component, pid))
            tail = process.log_tail(self.backend.layout.log(component), 5)
            reason = f"exited by itself (was pid {pid}); `make up` starts it again"
            self.log(f"{component} (pid {pid}) {reason}; the end of its log:\n{tail}")
            current.details.setdefault("problems", {})[component] = reason
        if exits:
            state.write(self.backend.lab.state_file, current)

    def _plan(self, current: state.ClusterState, folder: staticpods.Folder) -> list[tuple[str, str]]:
        """What to do: ``(component, "start" | "stop" | "adopt")`` for each component that differs."""
        applied = dict(current.details.get("applied", {}))
        plan = []
        for component in COMPONENTS:
            source, was = folder.pods.get(component), applied.get(component)
            if was is None:  # a cluster started before this loop existed: take what runs as applied
                plan.append((component, "adopt"))
            elif source is None and was != "":
                plan.append((component, "stop"))
            elif source is not None and source.digest != was:
                plan.append((component, "start"))
        return plan

    def _apply(self, current: state.ClusterState, folder: staticpods.Folder) -> None:
        self._say_problems(folder)
        details: dict[str, Any] = current.details
        applied = details.setdefault("applied", {})
        for component, action in self._plan(current, folder):
            source = folder.pods.get(component)
            if action == "adopt":
                applied[component] = source.digest if source is not None else ""
                state.write(self.backend.lab.state_file, current)
            elif action == "stop":
                self._stop(current, component, self._why_none(folder, component))
            elif source is not None:
                self.log(f"{component}: {source.path} {'changed' if applied[component] else 'is back'}: "
                         "starting it from the manifest")
                try:
                    self.backend.restart(component, self.log, source=source.path)
                    self.log(f"{component} runs from {source.path} again")
                except CkslabError as err:
                    self.log(f"{component} does not start from {source.path}: {err.message}")
                    reread = self._state()  # restart recorded the failure in the state
                    if reread is None:
                        return
                    current.details = reread.details
                    applied = current.details.setdefault("applied", {})

    def _why_none(self, folder: staticpods.Folder, component: str) -> str:
        problem = folder.problem_of(component)
        if problem is not None:
            return f"its manifest {problem.path} runs nothing: {problem.reason}; fix it and it starts again"
        return (f"no manifest in {self.folder} names the pod {component} (moved out?); "
                "put it back and it starts again within seconds")

    def _stop(self, current: state.ClusterState, component: str, reason: str) -> None:
        pid = int(current.details.get("pids", {}).get(component, 0))
        self.log(f"{component}: {reason}. Stopping it (pid {pid}), as a kubelet stops a static pod "
                 "whose manifest is gone")
        # The reason is on disk before the process goes: whoever sees it gone also reads why.
        current.details.setdefault("applied", {})[component] = ""
        current.details.setdefault("problems", {})[component] = f"stopped: {reason}"
        state.write(self.backend.lab.state_file, current)
        process.stop_pid(pid, component, self.backend.marker)

    def _say_problems(self, folder: staticpods.Folder) -> None:
        lines = {f"{p.path}: {p.reason}" for p in folder.problems}
        lines |= {f"{loser} names the same pod as {winner}: {winner} runs (the later name wins, as on a kubelet)"
                  for loser, winner in folder.shadowed}
        for line in sorted(lines - self.said):
            self.log(line)
        self.said = lines


def main(argv: list[str]) -> int:
    """The loop's process (:data:`ENTRY` with ``<.lab/local>``): run until the cluster is gone."""
    from cluster.backends.local import LocalBackend

    base = Path(argv[0]).resolve()
    backend = LocalBackend(paths.LabPaths(base.parent.parent))
    ticks = threading.Event()  # never set: its wait is the pause between two passes

    def log(message: str) -> None:
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%H:%M:%S")
        print(f"{stamp} {message}", flush=True)

    def terminate(*_args: object) -> None:
        # At once, even while waiting for the lock: a start cut short is left to `down`, which
        # finds our processes by their command lines.
        log("stopped (SIGTERM)")
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, terminate)
    log(f"following {backend.layout.manifests} every {POLL_INTERVAL:.0f}s (pid {os.getpid()})")
    kubelet = Kubelet(backend, log)
    while kubelet.sync():
        ticks.wait(POLL_INTERVAL)
    log("the cluster is gone: exiting")
    return 0
