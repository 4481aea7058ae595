"""``ckslab kind-ready``: make this machine able to run kind, changing only what must change.

It checks in a fixed order — 1. does a container engine answer? 2. does it start a privileged
container (kind's nodes are privileged)? — and stops at the first answer that is good: on a laptop
whose Docker works it changes nothing and says what it checked. Otherwise, as root on Debian, it
installs Debian's docker.io, registers the capability-filtering runtime wrapper
(cluster/runc_capfilter.py) only when this host's capability bounding set really lacks
capabilities, starts dockerd (or reloads a running one) and checks again. Where podman is the
engine (no Docker answers) it writes podman's containers.conf when none exists, and creates /lib/modules where
the kernel has none (cluster/podman.py). Every change is reported
as one sentence naming the file or process it touched. Elsewhere it raises EngineNotReady with the
exact command to run. The node image is not this module's business: kind_ready() is the first
step of ``make kind-ready``; the node-image step comes after it.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from cluster import docker, dockerd, podman
from cluster.errors import CkslabError
from cluster.process import log_tail
from cluster.waiting import WaitTimeout, wait_until

Progress = Callable[[str], None]

#: Seconds for a started dockerd to answer (about 2 s measured here; containerd starts first).
START_TIMEOUT = 60.0
#: Seconds for a reconfigured engine to start privileged containers (a reload takes well under one).
SETTLE_TIMEOUT = 15.0
CHECKS = "1. does a container engine answer? 2. does it start a privileged container?"


class EngineNotReady(CkslabError):
    """No usable engine, and kind-ready cannot make one here (message: why; hint: the command)."""


@dataclass(frozen=True)
class EngineReady:
    """The engine kind will use, and what kind-ready changed on this machine to get it."""

    check: docker.EngineCheck
    #: One sentence per change (file written, package installed, process started); () when none.
    changes: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.changes)


def kind_ready(progress: Progress, layout: dockerd.Layout = dockerd.SYSTEM) -> EngineReady:
    """Check the engine; repair it where this machine allows; the usable engine, or EngineNotReady.

    ``layout`` is the dockerd kind-ready may install, configure and start (tests pass a private one).
    """
    progress(f"checking the container engine: {CHECKS}")
    found = docker.check()
    changes: list[str] = []

    def change(what: str | None) -> None:
        if what:
            changes.append(what)
            progress(what)

    if found.usable:
        _podman_host(found, change)
        _inotify(progress, change)
        if not changes:
            progress(f"ok, nothing to change: {found.reason}")
        return EngineReady(found, tuple(changes))
    progress(f"not usable: {found.reason}")
    try:
        _repair(found, layout, progress, change)
        again = _settled(docker.check)
    except (OSError, subprocess.SubprocessError) as err:
        raise EngineNotReady(f"setting up the engine failed: {err}.", _done_so_far(changes)) from err
    if not again.usable:
        raise EngineNotReady(f"the engine is still not usable: {again.reason}.",
                             f"See {layout.log_file}. {_done_so_far(changes)}".strip())
    progress(f"ok: {again.reason}")
    _podman_host(again, change)
    _inotify(progress, change)
    return EngineReady(again, tuple(changes))


#: The kernel's limit of inotify instances per user, which every kind node's systemd and kubelet use.
INOTIFY_INSTANCES = Path("/proc/sys/fs/inotify/max_user_instances")
#: What kind's known issues page asks for ("Pod errors due to too many open files"): with Debian's 128, a
#: second kind cluster at once (the lab's and the exam's cks-k) fails to boot ("Too many open files").
INOTIFY_WANTED = 512


def _inotify(progress: Progress, change: Callable[[str | None], None]) -> None:
    """Raise fs.inotify.max_user_instances to INOTIFY_WANTED as root (until reboot); otherwise say how."""
    try:
        current = int(INOTIFY_INSTANCES.read_text().strip())
    except (OSError, ValueError):
        return
    if current >= INOTIFY_WANTED:
        return
    command = f"sudo sysctl -w fs.inotify.max_user_instances={INOTIFY_WANTED}"
    if os.geteuid() != 0:
        progress(f"note: fs.inotify.max_user_instances is {current}: two kind clusters at once (the lab's and the "
               f"exam's) may not boot (kind's known issue 'too many open files'); raise it: {command}")
        return
    try:
        INOTIFY_INSTANCES.write_text(f"{INOTIFY_WANTED}\n")
    except OSError as err:
        progress(f"note: fs.inotify.max_user_instances is {current} and could not be raised ({err}): {command}")
        return
    change(f"raised fs.inotify.max_user_instances from {current} to {INOTIFY_WANTED} (kind's known issue 'too many "
           "open files' with two clusters at once; until reboot: persist it in /etc/sysctl.d/ to keep it)")


def _podman_host(found: docker.EngineCheck, change: Callable[[str | None], None]) -> None:
    """What kind's podman provider needs of the host beyond the engine: /lib/modules (podman.LIB_MODULES)."""
    if found.provider != "podman" or podman.LIB_MODULES.exists():
        return
    if os.geteuid() != 0:
        raise EngineNotReady(f"{podman.LIB_MODULES} does not exist, and kind's podman nodes mount it.",
                             f"Run `sudo mkdir -p {podman.LIB_MODULES}`, then `make kind-ready` again.")
    try:
        change(podman.ensure_lib_modules())
    except OSError as err:
        raise EngineNotReady(f"cannot create {podman.LIB_MODULES}: {err}.",
                             f"Run `sudo mkdir -p {podman.LIB_MODULES}`, then `make kind-ready` again.") from err


def _settled(check: Callable[[], docker.EngineCheck]) -> docker.EngineCheck:
    """The check once usable, or its last answer after SETTLE_TIMEOUT (a SIGHUP reload is asynchronous)."""
    last: list[docker.EngineCheck] = []

    def usable() -> bool:
        last.append(check())
        return last[-1].usable

    try:
        wait_until(usable, SETTLE_TIMEOUT, interval=1.0, what="the engine to run privileged containers")
    except WaitTimeout:
        pass
    return last[-1]


def _done_so_far(changes: list[str]) -> str:
    return ("Changed so far: " + "; ".join(changes) + ".") if changes else ""


def _repair(found: docker.EngineCheck, layout: dockerd.Layout, progress: Progress,
            change: Callable[[str | None], None]) -> None:
    if found.provider == "podman":
        if found.version and os.geteuid() == 0 and any(known in found.reason for known in podman.FIXABLE):
            change(podman.configure())
            return
        raise EngineNotReady(f"{found.reason}.", found.fix)
    host = os.environ.get("DOCKER_HOST", "")
    if host != layout.socket and (host or layout != dockerd.SYSTEM):
        raise EngineNotReady(f"{found.reason}; DOCKER_HOST={host} names an engine kind-ready does not manage.",
                             "Start that engine, or unset DOCKER_HOST and run `make kind-ready` again.")
    if "permission denied" in found.reason:
        raise EngineNotReady(f"{found.reason}.", found.fix)
    if os.geteuid() != 0 or not dockerd.is_debian():
        raise EngineNotReady(f"{found.reason}.", manual_fix(found))
    if dockerd.dockerd_binary() is None:
        progress("installing Debian's docker.io (apt-get; about 20 s)")
        change(dockerd.install_docker_io())
    missing = dockerd.missing_capabilities()
    if found.version and not missing:  # it answers, refuses privileged containers, and not for lack of caps
        raise EngineNotReady(f"{found.reason}.", "kind-ready knows no fix for this engine: see its log.")
    if missing:
        progress(f"this host's capability bounding set lacks {', '.join(missing)}: privileged containers "
                 f"need the runtime wrapper that drops them")
        change(dockerd.install_wrapper(layout))
        change(dockerd.configure_daemon(layout))
    pid = dockerd.running_dockerd_pid(layout)
    if pid is None:
        if found.version:
            raise EngineNotReady(f"{found.reason}; no dockerd pid in {layout.pid_file} to reload.",
                                 f"Restart the engine so it reads {layout.daemon_json}.")
        started, process = dockerd.start_dockerd(layout)
        change(started)
        _wait_for_engine(process, layout.log_file)
        return
    _wait_for_engine(None, layout.log_file)  # it runs (systemd may have started it on install): it must answer
    if missing:
        # SIGHUP even when daemon.json was already right: the running dockerd may have started before it was
        change(dockerd.reload_dockerd(pid, layout))


def _wait_for_engine(process: subprocess.Popen[bytes] | None, log: Path) -> None:
    command = docker.engine_command()
    if command is None:
        raise EngineNotReady("dockerd started but no `docker` client is on PATH.", "Run `apt-get install docker.io`.")

    def answered() -> bool:
        if process is not None and process.poll() is not None:
            raise EngineNotReady(f"dockerd exited with status {process.returncode}; its log "
                                 f"({log}):\n{log_tail(log)}\n", "Fix the cause above and "
                                 "run `make kind-ready` again.")
        return bool(docker.server_version(*command)[0])

    try:
        wait_until(answered, START_TIMEOUT, interval=0.5, what="dockerd to answer")
    except WaitTimeout as err:
        raise EngineNotReady(f"dockerd did not answer within {START_TIMEOUT:.0f}s; its log ({log}):\n"
                             f"{log_tail(log)}\n", "Fix the cause above and run `make kind-ready` "
                             "again.") from err


def manual_fix(found: docker.EngineCheck) -> str:
    """The exact command(s) a user runs where kind-ready may not change the machine itself."""
    if not dockerd.is_debian():
        return ("Install and start Docker (Docker Desktop, or Docker Engine from "
                "https://docs.docker.com/engine/install/), then run `make kind-ready` again.")
    if found.stopped and dockerd.dockerd_binary() is not None and dockerd.systemd_runs():
        return "Run `sudo systemctl start docker`, then `make kind-ready` again."
    return ("Run `sudo .venv/bin/ckslab kind-ready` (it installs Debian's docker.io, configures it for this host "
            "and starts it), add yourself to the docker group (`sudo usermod -aG docker $USER`, then log in "
            "again), and run `make kind-ready`.")
